// Package output renders command results the way the Azure CLI does (knack's
// OutputProducer with its --query and --output options), so that scripts
// written for az, such as
//
//	CLIENT_ID=$(wif identity show -g rg -n id --query clientId -o tsv)
//
// work unchanged against wif.
//
// The rules mirror knack/output.py and knack/query.py:
//
//   - A result that is null (including a query yielding null) prints nothing
//     in every format (knack's CLI.invoke skips the formatter for None).
//   - json: json.dumps(indent=2, sort_keys=True, ensure_ascii=False) plus a
//     newline. Keys are always sorted.
//   - tsv: one row per item of a list result (the result itself otherwise).
//     A dict row prints its values joined by tabs, nested lists as their
//     length and nested dicts as an empty field; a list row likewise. Values
//     print as Python's str(): None, True, False, 1, 1.5, 1e+21. Only a
//     top-level boolean row prints lower case (true/false). Plain dicts are
//     sorted by key; dicts built by a multiselect hash in --query keep the
//     order written in the query (knack passes OrderedDict to JMESPath).
//   - table: knack's _TableOutput over tabulate's "simple" format with
//     numeric parsing disabled: keys id, type and etag are dropped, as are
//     null, list and dict values; headers capitalise the first letter; each
//     column is at least two wider than its header; cells are stripped and
//     left-aligned, separated by two spaces, and trailing blanks are trimmed.
//     Without a query, keys are sorted; with a query, multiselect-hash keys
//     keep the query's order.
//   - none: nothing. jsonc is json (knack drops colour when stdout is not a
//     terminal, and wif never colours). yaml and yamlc are not supported.
//
// Known differences, all caused by the JSON round trip that turns any Go
// value into generic JSON: integers beyond 2^53 lose precision (they become
// float64); a float with an integral value below 1e21 prints as an integer,
// as Python would print Go's JSON encoding of it; and dicts that do not come
// from a multiselect hash have no insertion order, so where az would use the
// SDK model's order (table output with --query) wif sorts the keys. A dict
// counts as built by a multiselect hash when its keys are exactly that
// hash's keys (go-jmespath returns Go maps; see hashKeyOrders). go-jmespath
// itself differs from Python's jmespath in corners (values() and keys()
// follow Go's random map order; some functions check types less strictly).
package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/jmespath/go-jmespath"
)

// Format is an output format accepted by --output/-o.
type Format string

// The supported formats.
const (
	JSON  Format = "json"
	JSONC Format = "jsonc"
	None  Format = "none"
	Table Format = "table"
	TSV   Format = "tsv"
)

var formats = []Format{JSON, JSONC, None, Table, TSV}

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrUnknownFormat reports an --output value that is not supported.
	ErrUnknownFormat = errors.New("invalid output format")
)

// ParseFormat parses an --output value case-insensitively, as az does.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(s))
	for _, known := range formats {
		if f == known {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, known := range formats {
		names[i] = string(known)
	}
	return "", fmt.Errorf("output: %w %q: allowed values: %s", ErrUnknownFormat, s, strings.Join(names, ", "))
}

// QueryError reports a --query value that is not a valid JMESPath expression.
// Its message is the one az prints (argparse's wording, value in Python repr).
type QueryError struct {
	Query string
	Err   error // the JMESPath syntax error
}

func (e *QueryError) Error() string {
	return "argument --query: invalid jmespath_type value: " + pyRepr(e.Query)
}

func (e *QueryError) Unwrap() error { return e.Err }

// ValidateQuery reports a *QueryError if query is not valid JMESPath, so the
// CLI can reject it before running a command, as az does while parsing
// arguments. The empty query is valid and means no query.
func ValidateQuery(query string) error {
	_, err := compile(query)
	return err
}

func compile(query string) (jp *jmespath.JMESPath, err error) {
	if query == "" {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = &QueryError{Query: query, Err: fmt.Errorf("jmespath panic: %v", r)}
		}
	}()
	jp, err = jmespath.Compile(query)
	if err != nil {
		return nil, &QueryError{Query: query, Err: err}
	}
	return jp, nil
}

// Write converts v to generic JSON through encoding/json (so struct tags
// apply), applies the JMESPath query ("" for none) and writes the result to
// w in format f.
func Write(w io.Writer, v any, query string, f Format) error {
	if _, err := ParseFormat(string(f)); err != nil {
		return err
	}
	jp, err := compile(query)
	if err != nil {
		return err
	}
	result, err := toGeneric(v)
	if err != nil {
		return err
	}
	var order keyOrder
	if jp != nil {
		if result, err = search(jp, result); err != nil {
			return err
		}
		order = hashKeyOrders(query)
	}
	if result == nil {
		return nil
	}
	var buf bytes.Buffer
	switch Format(strings.ToLower(string(f))) {
	case JSON, JSONC:
		writeJSON(&buf, result, 0)
		buf.WriteByte('\n')
	case TSV:
		writeTSV(&buf, result, order)
	case Table:
		writeTable(&buf, result, order, jp != nil)
	case None:
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("output: write: %w", err)
	}
	return nil
}

func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("output: encode result: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("output: decode result: %w", err)
	}
	return out, nil
}

func search(jp *jmespath.JMESPath, data any) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("output: query: jmespath panic: %v", r)
		}
	}()
	result, err = jp.Search(data)
	if err != nil {
		return nil, fmt.Errorf("output: query: %w", err)
	}
	return normalize(result), nil
}

// normalize maps what go-jmespath may return onto the generic JSON types
// (nil, bool, float64, string, []any, map[string]any).
func normalize(v any) any {
	switch v := v.(type) {
	case nil, bool, string:
		return v
	case float64:
		if math.IsNaN(v) { // avg([]) is null in Python's jmespath
			return nil
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	default:
		g, err := toGeneric(v)
		if err != nil {
			return nil
		}
		return g
	}
}
