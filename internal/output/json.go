package output

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// writeJSON writes v like Python's json.dumps(v, indent=2, sort_keys=True,
// ensure_ascii=False, separators=(',', ': ')).
func writeJSON(b *bytes.Buffer, v any, indent int) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		b.WriteString(pyNumber(v))
	case string:
		writeJSONString(b, v)
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[")
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, indent+1)
			writeJSON(b, e, indent+1)
		}
		newline(b, indent)
		b.WriteString("]")
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, indent+1)
			writeJSONString(b, k)
			b.WriteString(": ")
			writeJSON(b, v[k], indent+1)
		}
		newline(b, indent)
		b.WriteString("}")
	}
}

func newline(b *bytes.Buffer, indent int) {
	b.WriteByte('\n')
	b.WriteString(strings.Repeat("  ", indent))
}

// writeJSONString escapes only what ensure_ascii=False escapes: the quote,
// the backslash and control characters below U+0020.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
