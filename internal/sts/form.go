package sts

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds a token request body.
const maxBody = 64 << 10

const formType = "application/x-www-form-urlencoded"

// maxParams bounds the parameters of a token request, body and query
// together; clients send about ten.
const maxParams = 1000

// decisive are the parameters ParseRequest reads.
var decisive = map[string]bool{"audience": true, "client_assertion": true, "client_assertion_type": true, "client_id": true,
	"client_secret": true, "grant_type": true, "resource": true, "scope": true, "subject_token": true, "subject_token_type": true}

// readForm merges the urlencoded body (at most maxBody bytes) and the query
// string, as http.Request.ParseForm does: the body's values come first.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	// A request without Content-Type is parsed as a form anyway, as Entra does.
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != formType {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formType {
			return nil, errorf(90023, "invalid_request", "The request body must be application/x-www-form-urlencoded, not '%s'.", truncate(ct))
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(90023, "invalid_request", "The request body is larger than %d bytes.", maxBody)
		}
		// The error (a deadline, a reset) names addresses: not echoed.
		return nil, errorf(90023, "invalid_request", "The request body could not be read.")
	}
	return parseForm(string(body), r.URL.RawQuery)
}

// parseForm parses a token request's body and query string with
// url.ParseQuery and merges them, the body's values first. RFC 6749 3.2: a
// parameter must not be sent more than once, in the body or the query
// string; which copy of one that decides the request wins must never be a
// question. Clients repeat others, such as client-request-id, which
// @azure/identity sends in both.
func parseForm(body, query string) (url.Values, *Error) {
	if n := pairs(body) + pairs(query); n > maxParams {
		return nil, errorf(90023, "invalid_request", "The request has %d parameters, more than the %d allowed.", n, maxParams)
	}
	form, err := url.ParseQuery(body)
	if err == nil {
		var q url.Values
		if q, err = url.ParseQuery(query); err == nil {
			for name, vs := range q {
				form[name] = append(form[name], vs...)
			}
		}
	}
	if err != nil {
		return nil, errorf(90023, "invalid_request", "The request could not be parsed as a form: %v", err)
	}
	for name, vs := range form {
		if len(vs) > 1 && decisive[name] {
			return nil, errorf(90023, "invalid_request", "The request has the parameter '%s' more than once.", truncate(name))
		}
	}
	return form, nil
}

// pairs counts the name=value pairs of a form, empty ones included.
func pairs(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, "&") + 1
}
