package output

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// pyNumber formats a JSON number as Python prints the value json.loads makes
// of Go's encoding of it: Go writes integral floats below 1e21 without a
// fraction or exponent (Python reads an int), anything else as a float,
// which Python prints in its shortest repr form (1.5, 0.0001, 1e-05, 1e+21).
func pyNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	case f == math.Trunc(f) && math.Abs(f) < 1e21:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // like 1.5e-05 or 1e+21
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp >= -4 && exp < 16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return e
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	default:
		return pyReprValue(v, nil)
	}
}

// pyReprValue is Python's repr() of a JSON value, with dict keys in the
// order keyOrder gives.
func pyReprValue(v any, order keyOrder) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case float64:
		switch {
		case math.IsNaN(v):
			return "nan"
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		}
		return pyNumber(v)
	case string:
		return pyRepr(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyReprValue(e, order)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := order.keys(v)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyReprValue(v[k], order)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyRepr is Python's repr() of a str: single quotes unless the string holds
// a single quote and no double quote, printable characters kept as they are.
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyStrip is Python's str.strip() with no arguments.
func pyStrip(s string) string {
	return strings.TrimFunc(s, isPySpace)
}

// isPySpace is Python's str.isspace() for one character.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// keyOrder holds the key lists of the multiselect hashes of a query, in the
// order the query writes them (see hashKeyOrders).
type keyOrder [][]string

// keys returns the keys of m in the order of the multiselect hash that
// built it, if any: knack evaluates queries with OrderedDict, so such dicts
// keep the query's order. Any other dict's keys are sorted.
func (o keyOrder) keys(m map[string]any) []string {
	for _, ks := range o {
		if len(ks) == len(m) && all(ks, m) {
			return ks
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // UTF-8 byte order is code point order, like Python's
	return keys
}

func all(keys []string, m map[string]any) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}
