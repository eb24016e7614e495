package sts

import (
	"fmt"
	"strconv"
)

// Error is an Entra-style token endpoint error: an AADSTS code, the OAuth
// error string, and a description. It is rendered once, at the HTTP edge.
type Error struct {
	Code int    // the AADSTS number
	Err  string // OAuth "error", e.g. "invalid_client"
	Desc string // the message after "AADSTSnnnn: "
}

func (e *Error) Error() string { return "AADSTS" + strconv.Itoa(e.Code) + ": " + e.Desc }

func errorf(code int, oauthErr, format string, args ...any) *Error {
	return &Error{Code: code, Err: oauthErr, Desc: fmt.Sprintf(format, args...)}
}
