package output

import (
	"bytes"
	"strconv"
)

// writeTSV mirrors knack's _TsvOutput: one row per item of a list result.
func writeTSV(b *bytes.Buffer, result any, order keyOrder) {
	rows, ok := result.([]any)
	if !ok {
		rows = []any{result}
	}
	for _, row := range rows {
		switch row := row.(type) {
		case map[string]any:
			for i, k := range order.keys(row) {
				if i > 0 {
					b.WriteByte('\t')
				}
				writeTSVField(b, row[k])
			}
		case []any:
			for i, v := range row {
				if i > 0 {
					b.WriteByte('\t')
				}
				writeTSVField(b, v)
			}
		case bool: // the one place knack lower-cases a boolean
			b.WriteString(strconv.FormatBool(row))
		default:
			b.WriteString(pyStr(row))
		}
		b.WriteByte('\n')
	}
}

// writeTSVField writes a value inside a row: a list as its length, a dict
// as an empty field, anything else as Python's str().
func writeTSVField(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case []any:
		b.WriteString(strconv.Itoa(len(v)))
	case map[string]any:
	default:
		b.WriteString(pyStr(v))
	}
}
