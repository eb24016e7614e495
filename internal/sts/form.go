package sts

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Form holds the parameters of a token request in order: the body's, then
// the query string's, as http.Request.ParseForm merges them, so that Get
// returns the body's value when both have one.
//
// It exists because the token endpoint is the hot path: url.ParseQuery
// allocates a map, a slice and a string per parameter, while a request here
// has about eight parameters and reads five of them.
type Form []Param

// Param is one name=value pair, unescaped.
type Param struct{ Name, Value string }

// Get returns the first value of name, or "".
func (f Form) Get(name string) string {
	for _, p := range f {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// maxParams bounds the pairs of a form; a token request has about ten.
const maxParams = 1000

// ParseForm appends the pairs of the application/x-www-form-urlencoded
// string s to f. It accepts and rejects what url.ParseQuery does: empty
// pairs are skipped, a name without "=" has an empty value, and a bad
// percent escape or a ";" in a pair is an error. So are more than
// maxParams pairs.
func ParseForm(f Form, s string) (Form, error) {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if strings.IndexByte(pair, ';') >= 0 {
			return f, errors.New("invalid semicolon separator in query")
		}
		if pair == "" {
			continue
		}
		if len(f) >= maxParams {
			return f, fmt.Errorf("more than %d parameters", maxParams)
		}
		name, value, _ := strings.Cut(pair, "=")
		name, err := unescape(name)
		if err != nil {
			return f, err
		}
		if value, err = unescape(value); err != nil {
			return f, err
		}
		f = append(f, Param{name, value})
	}
	return f, nil
}

// unescape is url.QueryUnescape without its scan and copy for the common
// case of nothing to unescape (an assertion is base64url and dots).
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}
