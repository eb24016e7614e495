package expression

import (
	"strings"
	"unicode/utf8"
)

// Wildcard reports whether s matches pattern, in which "*" matches any run of
// characters (including none, and including ":" and "/"), "?" matches exactly
// one character and every other character matches itself. Both strings are
// read as sequences of characters: Unicode code points, with each byte of
// invalid UTF-8 a character of its own.
//
// The time is linear in len(s) for a pattern of bounded length: the pattern
// is split at its stars into pieces, the first piece must match at the start
// of s, the last at its end, and each piece between is found at its earliest
// end after the previous one (which is the only choice that can matter, as a
// star absorbs whatever lies between). A piece without "?" is found with
// [strings.Index]; a piece with "?" with a bit-parallel scan (Shift-And) that
// reads each character of s once and costs one machine word per 64 characters
// of the piece. No part of s is read twice, whatever the pattern.
func Wildcard(pattern, s string) bool {
	ok, _ := wildcard(pattern, s)
	return ok
}

// wildcard is [Wildcard] that also reports its work: the bytes of s passed
// over by substring searches plus, for Shift-And scans, the characters read
// times the words of state. Tests assert that it is linear.
func wildcard(pattern, s string) (ok bool, work int) {
	first, rest, star := strings.Cut(pattern, "*")
	n, ok := matchPrefix(first, s)
	work += n
	if !ok {
		return false, work
	}
	if !star {
		return n == len(s), work
	}
	s = s[n:]
	for {
		piece, more, found := strings.Cut(rest, "*")
		if !found {
			ok, w := matchSuffix(piece, s)
			return ok, work + w
		}
		if piece != "" {
			end, w := index(piece, s)
			work += w
			if end < 0 {
				return false, work
			}
			s = s[end:]
		}
		rest = more
	}
}

// literal reports whether piece matches only itself, byte for byte, at
// character boundaries of any s: it has no "?" and is valid UTF-8 (a valid
// sequence starts with an ASCII or lead byte, which always begins a
// character of s, and matches the same whole characters there).
func literal(piece string) bool {
	return strings.IndexByte(piece, '?') < 0 && utf8.ValidString(piece)
}

// matchPrefix matches piece at the start of s and returns the bytes of s it
// covers.
func matchPrefix(piece, s string) (int, bool) {
	if literal(piece) {
		return len(piece), strings.HasPrefix(s, piece)
	}
	i := 0
	for len(piece) > 0 {
		if i == len(s) {
			return i, false
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		if piece[0] == '?' {
			piece = piece[1:]
		} else {
			_, pw := utf8.DecodeRuneInString(piece)
			if pw != w || piece[:pw] != s[i:i+w] {
				return i, false
			}
			piece = piece[pw:]
		}
		i += w
	}
	return i, true
}

// matchSuffix reports whether piece matches at the end of s.
func matchSuffix(piece, s string) (bool, int) {
	switch {
	case piece == "":
		return true, 0
	case literal(piece):
		return strings.HasSuffix(s, piece), len(piece)
	}
	sa := newShiftAnd(piece)
	end, work := sa.scan(s, true)
	return end == len(s), work
}

// index returns the end in s of piece's earliest-ending match, or -1.
func index(piece, s string) (end, work int) {
	if literal(piece) {
		i := strings.Index(s, piece)
		if i < 0 {
			return -1, len(s)
		}
		return i + len(piece), i + len(piece)
	}
	return newShiftAnd(piece).scan(s, false)
}

// shiftAnd is the Shift-And automaton of a piece of k characters: bit j of
// the state is set when the last j+1 characters read match the piece's
// first j+1.
type shiftAnd struct {
	words int
	last  uint64   // the bit of the final position, in the last word
	masks []uint64 // per mask index, words each: the positions a character may take
	ascii [utf8.RuneSelf]int32
	other map[string]int32 // non-ASCII characters of the piece
}

func newShiftAnd(piece string) *shiftAnd {
	k := utf8.RuneCountInString(piece)
	sa := &shiftAnd{words: (k + 63) / 64, last: 1 << ((k - 1) % 64)}
	// Mask 0 is for characters the piece does not name: only its "?"
	// positions. Every named character gets its own mask, which includes them.
	sa.masks = make([]uint64, sa.words)
	for j, c := 0, piece; c != ""; j++ {
		_, w := utf8.DecodeRuneInString(c)
		if c[0] == '?' {
			sa.masks[j/64] |= 1 << (j % 64)
		}
		c = c[w:]
	}
	for j, c := 0, piece; c != ""; j++ {
		_, w := utf8.DecodeRuneInString(c)
		if c[0] != '?' {
			idx := sa.lookup(c[:w])
			if idx == 0 {
				idx = int32(len(sa.masks) / sa.words)
				sa.masks = append(sa.masks, sa.masks[:sa.words]...)
				if c[0] < utf8.RuneSelf {
					sa.ascii[c[0]] = idx
				} else {
					if sa.other == nil {
						sa.other = make(map[string]int32)
					}
					sa.other[c[:w]] = idx
				}
			}
			sa.masks[int(idx)*sa.words+j/64] |= 1 << (j % 64)
		}
		c = c[w:]
	}
	return sa
}

func (sa *shiftAnd) lookup(ch string) int32 {
	if ch[0] < utf8.RuneSelf {
		return sa.ascii[ch[0]]
	}
	return sa.other[ch]
}

// scan reads s a character at a time and returns the end of the first
// match, or, when toEnd is set, whether the piece matches at the very end
// (len(s), else -1).
func (sa *shiftAnd) scan(s string, toEnd bool) (end, work int) {
	if sa.words == 1 {
		var d uint64
		for i := 0; i < len(s); {
			w := 1
			if s[i] >= utf8.RuneSelf {
				_, w = utf8.DecodeRuneInString(s[i:])
			}
			d = (d<<1 | 1) & sa.masks[sa.lookup(s[i:i+w])]
			i += w
			work++
			if d&sa.last != 0 && (!toEnd || i == len(s)) {
				return i, work
			}
		}
		return -1, work
	}
	n := sa.words
	d := make([]uint64, n)
	for i := 0; i < len(s); {
		w := 1
		if s[i] >= utf8.RuneSelf {
			_, w = utf8.DecodeRuneInString(s[i:])
		}
		at := int(sa.lookup(s[i:i+w])) * n
		m := sa.masks[at : at+n]
		carry := uint64(1)
		for j, x := range d {
			d[j] = (x<<1 | carry) & m[j]
			carry = x >> 63
		}
		i += w
		work += n
		if d[n-1]&sa.last != 0 && (!toEnd || i == len(s)) {
			return i, work
		}
	}
	return -1, work
}
