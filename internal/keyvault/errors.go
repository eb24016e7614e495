package keyvault

import (
	"fmt"
	"net/http"
)

// Error is a Key Vault error response:
// {"error":{"code":…,"message":…,"innererror":{"code":…}}}.
type Error struct {
	Status  int
	Code    string
	Message string
	Inner   string // innererror.code; "" for none
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Key Vault error codes.
const (
	CodeBadParameter     = "BadParameter"
	CodeUnauthorized     = "Unauthorized"
	CodeForbidden        = "Forbidden"
	CodeSecretNotFound   = "SecretNotFound"
	CodeConflict         = "Conflict"
	CodeVaultNotFound    = "VaultNotFound"
	CodeNotFound         = "NotFound"
	CodeMethodNotAllowed = "MethodNotAllowed"
	CodeThrottled        = "Throttled"
	CodeInternal         = "InternalServerError"
)

const kvHelp = " For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"

func badParameter(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadParameter, Message: fmt.Sprintf(format, args...)}
}

func secretNotFound(nameOrID string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeSecretNotFound, Message: "A secret with (name/id) " + nameOrID +
		" was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command." + kvHelp}
}

func deletedSecretNotFound(name string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeSecretNotFound, Message: "Deleted Secret not found: " + name}
}

func deletedConflict(name string) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Inner: "ObjectIsDeletedButRecoverable",
		Message: "Secret " + name + " is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."}
}

// throttled is Key Vault's 429, which the Azure SDKs retry after
// Retry-After.
func throttled(reason string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: CodeThrottled, RetryAfter: 1,
		Message: "Request was not processed because too many requests were received. Reason: " + reason + "."}
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg}
}

// errorBody is the wire form of Error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innererror,omitempty"`
}

type innerError struct {
	Code string `json:"code"`
}

func (e *Error) body() errorBody {
	b := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}}
	if e.Inner != "" {
		b.Error.InnerError = &innerError{Code: e.Inner}
	}
	return b
}
