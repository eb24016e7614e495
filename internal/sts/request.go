package sts

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Grant types and assertion types the token endpoint accepts.
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// maxAssertion bounds an assertion's size; service-account tokens are ~1 KB.
const maxAssertion = 16 << 10

// maxScope bounds the scope, resource and audience parameters, in bytes.
// Entra documents no bound; resource URIs are short (a DNS name is at most
// 253 bytes), and MSAL adds at most the four OpenID Connect scopes.
const maxScope = 2048

var subjectTokenTypes = map[string]bool{
	"urn:ietf:params:oauth:token-type:jwt":          true,
	"urn:ietf:params:oauth:token-type:id_token":     true,
	"urn:ietf:params:oauth:token-type:access_token": true,
}

// Request is a parsed, validated token request. Nothing downstream reads
// the raw form.
type Request struct {
	Grant        string
	ClientID     string
	ClientSecret string // client_credentials with a secret
	Assertion    string // client_assertion, or subject_token for token exchange; trimmed
	// Audience is the resource the token is for: the scope minus its final
	// "/.default".
	Audience string
}

// ParseRequest validates a token request's form values (body and query
// merged). Unknown parameters are ignored.
func ParseRequest(form url.Values) (Request, *Error) {
	get := func(k string) string { return form.Get(k) }
	grant := get("grant_type")
	if grant == "" {
		return Request{}, missingParam("grant_type")
	}
	req := Request{Grant: grant, ClientID: strings.TrimSpace(get("client_id"))}
	switch grant {
	case GrantClientCredentials:
		if req.ClientID == "" {
			return Request{}, missingParam("client_id")
		}
		secret, assertion := get("client_secret"), strings.TrimSpace(get("client_assertion"))
		switch {
		case secret != "" && assertion != "":
			return Request{}, &Error{Code: 90023, Err: "invalid_request", Desc: "The request must contain either 'client_secret' or 'client_assertion', not both."}
		case secret != "":
			req.ClientSecret = secret
		case assertion != "":
			at := get("client_assertion_type")
			if at == "" {
				return Request{}, missingParam("client_assertion_type")
			}
			if at != AssertionTypeJWTBearer {
				return Request{}, &Error{Code: 50027, Err: "invalid_request", Desc: fmt.Sprintf("The client_assertion_type '%s' is not supported; use '%s'.", truncate(at), AssertionTypeJWTBearer)}
			}
			req.Assertion = assertion
		default:
			return Request{}, &Error{Code: 7000218, Err: "invalid_client", Desc: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
		}
		aud, err := audienceFromScope(get("scope"))
		if err != nil {
			return Request{}, err
		}
		req.Audience = aud
	case GrantTokenExchange:
		if req.ClientID == "" {
			return Request{}, missingParam("client_id")
		}
		st := strings.TrimSpace(get("subject_token"))
		if st == "" {
			return Request{}, missingParam("subject_token")
		}
		stt := get("subject_token_type")
		if stt == "" {
			return Request{}, missingParam("subject_token_type")
		}
		if !subjectTokenTypes[stt] {
			return Request{}, &Error{Code: 90023, Err: "invalid_request", Desc: fmt.Sprintf("The subject_token_type '%s' is not supported; use 'urn:ietf:params:oauth:token-type:jwt'.", truncate(stt))}
		}
		req.Assertion = st
		switch {
		case get("scope") != "":
			aud, err := audienceFromScope(get("scope"))
			if err != nil {
				return Request{}, err
			}
			req.Audience = aud
		case get("resource") != "":
			if err := checkScopeText("resource", get("resource")); err != nil {
				return Request{}, err
			}
			req.Audience = strings.TrimSuffix(get("resource"), "/.default")
		case get("audience") != "":
			if err := checkScopeText("audience", get("audience")); err != nil {
				return Request{}, err
			}
			req.Audience = strings.TrimSuffix(get("audience"), "/.default")
		default:
			return Request{}, missingParam("scope")
		}
		if req.Audience == "" || strings.IndexFunc(req.Audience, unicode.IsSpace) >= 0 {
			return Request{}, invalidScope(req.Audience, "a resource must be non-empty and cannot contain whitespace")
		}
	default:
		return Request{}, &Error{Code: 70003, Err: "unsupported_grant_type", Desc: fmt.Sprintf("The app requested an unsupported grant type '%s'.", truncate(grant))}
	}
	if len(req.Assertion) > maxAssertion {
		return Request{}, &Error{Code: 50027, Err: "invalid_request", Desc: fmt.Sprintf("JWT token is invalid or malformed: the assertion is %d bytes, more than the %d allowed.", len(req.Assertion), maxAssertion)}
	}
	return req, nil
}

// audienceFromScope drops the OpenID Connect scopes MSAL appends and
// returns the one resource scope, minus its final "/.default".
func audienceFromScope(scope string) (string, *Error) {
	if strings.TrimSpace(scope) == "" {
		return "", missingParam("scope")
	}
	if err := checkScopeText("scope", scope); err != nil {
		return "", err
	}
	var resource []string
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		resource = append(resource, s)
	}
	switch {
	case len(resource) == 0:
		return "", invalidScope(scope, "no resource scope remains after removing openid, offline_access and profile")
	case len(resource) > 1:
		return "", invalidScope(scope, "the client credentials flow takes exactly one resource scope ending in '/.default'")
	}
	aud, ok := strings.CutSuffix(resource[0], "/.default")
	if !ok || aud == "" {
		return "", invalidScope(resource[0], "it must be a resource followed by '/.default'")
	}
	return aud, nil
}

// checkScopeText bounds a scope, resource or audience parameter and
// refuses control and formatting characters (such as U+202E, which would
// reverse the text of the resource wherever it is shown) and invalid UTF-8.
// Neither answer echoes the value.
func checkScopeText(param, v string) *Error {
	for _, r := range v {
		if unprintable(r) {
			return &Error{Code: 70011, Err: "invalid_scope", Desc: fmt.Sprintf("The provided value for the input parameter '%s' isn't valid: it contains the control or formatting character %U.", param, r)}
		}
	}
	if len(v) > maxScope {
		return &Error{Code: 70011, Err: "invalid_scope", Desc: fmt.Sprintf("The provided value for the input parameter '%s' isn't valid: it is %d bytes long, more than the %d allowed.", param, len(v), maxScope)}
	}
	return nil
}

// unprintable reports the characters a resource may not hold: control and
// formatting characters (Unicode Cc and Cf, which include the bidirectional
// overrides), and the replacement character that stands for invalid UTF-8.
// A tab or line break is a control character; a scope's resources are
// separated by spaces.
func unprintable(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

func missingParam(name string) *Error {
	return &Error{Code: 900144, Err: "invalid_request", Desc: fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

func invalidScope(scope, why string) *Error {
	return &Error{Code: 70011, Err: "invalid_scope", Desc: fmt.Sprintf("The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid: %s.", truncate(scope), why)}
}

// truncate shortens user input echoed into error messages.
func truncate(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
