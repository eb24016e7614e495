package output

import (
	"encoding/json"
	"slices"
)

// hashKeyOrders returns the keys of every multiselect hash ({k: expr, ...})
// in a valid JMESPath query, each list in the order the query writes it.
// go-jmespath returns such hashes as Go maps, so this recovers the order
// that Python's jmespath keeps with OrderedDict. It scans tokens the way
// go-jmespath's lexer does: '{' outside quoted identifiers, raw strings and
// JSON literals always opens a multiselect hash, and a key follows the '{'
// or a ',' at the hash's own nesting level.
func hashKeyOrders(query string) keyOrder {
	type frame struct {
		open    byte
		hash    int // index into out, for '{'
		wantKey bool
	}
	var (
		out   keyOrder
		stack []frame
	)
	for i := 0; i < len(query); {
		c := query[i]
		if n := len(stack) - 1; n >= 0 && stack[n].wantKey && !isBlank(c) {
			stack[n].wantKey = false
			if key, next, ok := readKey(query, i); ok {
				if !slices.Contains(out[stack[n].hash], key) {
					out[stack[n].hash] = append(out[stack[n].hash], key)
				}
				i = next
				continue
			}
		}
		switch c {
		case '"', '`', '\'':
			i = skipQuoted(query, i)
			continue
		case '{':
			stack = append(stack, frame{open: '{', hash: len(out), wantKey: true})
			out = append(out, nil)
		case '(', '[':
			stack = append(stack, frame{open: c})
		case '}', ')', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack) - 1; n >= 0 && stack[n].open == '{' {
				stack[n].wantKey = true
			}
		}
		i++
	}
	return out
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// readKey reads an identifier at query[i:]: unquoted ([A-Za-z_][A-Za-z0-9_]*)
// or quoted (a JSON string). It returns the key and the index after it.
func readKey(query string, i int) (string, int, bool) {
	if query[i] == '"' {
		end := skipQuoted(query, i)
		var key string
		if err := json.Unmarshal([]byte(query[i:end]), &key); err != nil {
			return "", i, false
		}
		return key, end, true
	}
	j := i
	for j < len(query) && isIdentByte(query[j], j == i) {
		j++
	}
	return query[i:j], j, j > i
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// skipQuoted returns the index just after the quoted token starting at
// query[i] (a quoted identifier, raw string or JSON literal), or len(query)
// if it is not closed.
func skipQuoted(query string, i int) int {
	q := query[i]
	for j := i + 1; j < len(query); j++ {
		switch {
		case query[j] == '\\' && q != '\'':
			j++ // escapes the next byte
		case query[j] == '\\' && j+1 < len(query) && query[j+1] == '\'':
			j++ // \' in a raw string
		case query[j] == q:
			return j + 1
		}
	}
	return len(query)
}
