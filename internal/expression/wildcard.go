package expression

import "unicode/utf8"

// Wildcard reports whether s matches pattern, in which "*" matches any run of
// characters (including none), "?" matches exactly one character (one
// Unicode code point; one byte of invalid UTF-8) and every other character
// matches itself byte for byte.
//
// It runs in O(len(pattern)·len(s)) time in the worst case and allocates
// nothing: the classic greedy algorithm that, on a mismatch, only retries
// the most recent "*" with one more character.
func Wildcard(pattern, s string) bool {
	p, i := 0, 0
	star, starI := -1, 0 // index of the last '*' in pattern, and where in s it started
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; {
			case c == '*':
				star, starI = p, i
				p++
				continue
			case c == '?':
				_, w := utf8.DecodeRuneInString(s[i:])
				p++
				i += w
				continue
			case c == s[i]:
				p++
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last star absorb one more character and retry after it.
		_, w := utf8.DecodeRuneInString(s[starI:])
		starI += w
		p, i = star+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
