package output

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// skipKeys are the keys knack's _TableOutput leaves out of automatic tables.
var skipKeys = map[string]bool{"id": true, "type": true, "etag": true}

// cell is one column of a table row, in knack's OrderedDict order.
type cell struct {
	header, text string
}

// writeTable mirrors knack's format_table with _TableOutput and tabulate's
// "simple" format (headers="keys", disable_numparse=True).
func writeTable(b *bytes.Buffer, result any, order keyOrder, queried bool) {
	items, ok := result.([]any)
	if !ok {
		items = []any{result}
	}
	if !queried {
		order = nil // knack sorts keys when no query is active
	}
	rows := make([][]cell, len(items))
	var headers []string
	seen := map[string]bool{}
	multiline := false
	for i, item := range items {
		rows[i] = tableRow(item, order)
		for _, c := range rows[i] {
			if !seen[c.header] {
				seen[c.header] = true
				headers = append(headers, c.header)
			}
			multiline = multiline || strings.ContainsAny(c.text, "\r\n")
		}
	}

	// Each cell as stripped lines; tabulate pads columns to the widest
	// line, at least two wider than the header.
	grid := make([][][]string, len(rows))
	widths := make([]int, len(headers))
	for j, h := range headers {
		widths[j] = width(h) + 2
	}
	for i, row := range rows {
		grid[i] = make([][]string, len(headers))
		for j, h := range headers {
			text := ""
			for _, c := range row {
				if c.header == h {
					text = c.text
				}
			}
			lines := splitLines(pyStrip(text), multiline)
			for _, l := range lines {
				widths[j] = max(widths[j], width(l))
			}
			grid[i][j] = lines
		}
	}

	if len(headers) == 0 {
		b.WriteByte('\n') // knack prints a lone newline for an empty table
		return
	}
	writeTableLine(b, headers, widths)
	dashes := make([]string, len(widths))
	for j, w := range widths {
		dashes[j] = strings.Repeat("-", w)
	}
	writeTableLine(b, dashes, widths)
	for _, row := range grid {
		height := 0
		for _, lines := range row {
			height = max(height, len(lines))
		}
		for k := range height {
			line := make([]string, len(row))
			for j, lines := range row {
				if k < len(lines) {
					line[j] = lines[k]
				}
			}
			writeTableLine(b, line, widths)
		}
	}
}

// tableRow is knack's _auto_table_item: a dict keeps its scalar values
// except id, type and etag; a list becomes Column1..N; a scalar is Result.
func tableRow(item any, order keyOrder) []cell {
	switch item := item.(type) {
	case map[string]any:
		var row []cell
	keys:
		for _, k := range order.keys(item) {
			v := item[k]
			if skipKeys[k] || v == nil {
				continue
			}
			switch v.(type) {
			case []any, map[string]any:
				continue
			}
			h := capitalize(k)
			for i := range row { // OrderedDict: a repeated key keeps its place
				if row[i].header == h {
					row[i].text = pyStr(v)
					continue keys
				}
			}
			row = append(row, cell{header: h, text: pyStr(v)})
		}
		return row
	case []any:
		row := make([]cell, len(item))
		for i, v := range item {
			row[i] = cell{header: "Column" + strconv.Itoa(i+1), text: tableText(v, order)}
		}
		return row
	default:
		return []cell{{header: "Result", text: tableText(item, order)}}
	}
}

// tableText is how tabulate prints a value: None as the empty string,
// anything else with str().
func tableText(v any, order keyOrder) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return pyReprValue(v, order)
	}
}

func capitalize(k string) string {
	r, n := utf8.DecodeRuneInString(k)
	if n == 0 {
		return k
	}
	return strings.ToUpper(string(r)) + k[n:]
}

// splitLines splits a cell into lines when the table is multiline; tabulate
// then drops a cell's empty line entirely (Python's "".splitlines() is []).
func splitLines(s string, multiline bool) []string {
	if !multiline {
		return []string{s}
	}
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
}

// width is Python's len(): tabulate measures code points.
func width(s string) int { return utf8.RuneCountInString(s) }

func writeTableLine(b *bytes.Buffer, cells []string, widths []int) {
	var line strings.Builder
	for j, c := range cells {
		if j > 0 {
			line.WriteString("  ")
		}
		line.WriteString(c)
		line.WriteString(strings.Repeat(" ", widths[j]-width(c)))
	}
	b.WriteString(strings.TrimRightFunc(line.String(), isPySpace))
	b.WriteByte('\n')
}
