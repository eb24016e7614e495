package expression

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything at all", true},
		{"**", "", true},
		{"?", "", false},
		{"?", "a", true},
		{"?", "ab", false},
		{"?", "é", true},
		{"?", "日", true},
		{"?", "😀", true},
		{"??", "😀", false},
		{"?", "e\u0301", false}, // two code points (e + combining acute)
		{"??", "e\u0301", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"abc", "abcd", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"a*", "ba", false},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*c", "abbbc", true},
		{"a*c", "abbbcd", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"*?*", "", false},
		{"*?*", "x", true},
		{"*???", "€a", false},
		{"*??€?*", "€€bb", false}, // a star must not stop inside a multibyte character
		{"*???", "€ab", true},
		{"a?c*", "a日cdef", true},
		{"*日本", "ünïcødé-日本", true},
		{"*日本", "日", false},
		{"é*", "e", false},
		{"é*", "è", false},
		{"*.*", "abc", false},
		{".*", ".x", true},
		{"[a]", "a", false},
		{"[a]", "[a]", true},
		{`\*`, `\anything`, true},
		{`\*`, `*`, false},
		{"system:serviceaccount:team-*:app", "system:serviceaccount:team-a:app", true},
		{"system:serviceaccount:team-*:app", "system:serviceaccount:team-a:app:app", true},
		{"system:serviceaccount:team-*:app", "system:serviceaccount:team-a:apps", false},
		{"repo:contoso/contoso-repo:ref:refs/heads/*", "repo:contoso/contoso-repo:ref:refs/heads/feature/x", true},
		{"repo:contoso/contoso-repo:ref:refs/heads/*", "repo:contoso/contoso-repo:ref:refs/tags/v1", false},
		{"*a*a*a*a*b", strings.Repeat("a", 50), false},
		{"*a*a*a*a*b", strings.Repeat("a", 50) + "b", true},
		{"*\xff", "a\xff", true}, // invalid UTF-8 compares byte for byte
		{"?", "\xff", true},
		{"??", "\xff\xfe", true},
	}
	for _, tt := range tests {
		if got := Wildcard(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Wildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestWildcardPathological checks that patterns that make naive
// backtracking matchers exponential complete quickly.
func TestWildcardPathological(t *testing.T) {
	long := strings.Repeat("a", 100_000)
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*a*a*a*a*b", long, false},
		{"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 5_000), false},
		{strings.Repeat("*a", 250) + "*b", strings.Repeat("a", 2_000), false},
		{strings.Repeat("*?", 200) + "b", long, false},
		{"*" + strings.Repeat("a", 299) + "b", long, false},
		{"*a*a*a*a*b", long + "b", true},
	}
	deadline := 2 * time.Second
	for _, tt := range tests {
		start := time.Now()
		got := Wildcard(tt.pattern, tt.s)
		elapsed := time.Since(start)
		if got != tt.want {
			t.Errorf("Wildcard(%.30q…, %d bytes) = %v, want %v", tt.pattern, len(tt.s), got, tt.want)
		}
		if elapsed > deadline {
			t.Errorf("Wildcard(%.30q…, %d bytes) took %v, want under %v", tt.pattern, len(tt.s), elapsed, deadline)
		}
	}
}

// TestWildcardLongPieces exercises the multi-word Shift-And scan (pieces
// with "?" longer than 64 characters) against the reference, on generated
// inputs over a small alphabet so that near-misses are common.
func TestWildcardLongPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "é", "日"}
	gen := func(n int, wild bool) string {
		var b strings.Builder
		for range n {
			switch r := rng.IntN(20); {
			case wild && r == 0:
				b.WriteByte('*')
			case wild && r < 5:
				b.WriteByte('?')
			default:
				b.WriteString(alphabet[rng.IntN(2+rng.IntN(3))])
			}
		}
		return b.String()
	}
	for range 400 {
		pattern := gen(60+rng.IntN(150), true)
		s := gen(rng.IntN(400), false)
		if rng.IntN(3) == 0 {
			// Make a match likely: fill the pattern's wildcards.
			s = strings.NewReplacer("*", "ab", "?", "é").Replace(pattern)
		}
		if got, want := Wildcard(pattern, s), referenceWildcard(t, pattern, s); got != want {
			t.Fatalf("Wildcard(%q, %q) = %v, reference says %v", pattern, s, got, want)
		}
	}
}

// TestWildcardLinear checks the matcher's own count of its work: whatever
// the pattern, no part of s is read twice, and a Shift-And scan costs a word
// per 64 characters of its piece. The limits are those of [Parse]: a
// comparand of at most MaxLength characters against the largest claim an
// assertion can carry (16 KiB).
func TestWildcardLinear(t *testing.T) {
	const n = 16 << 10
	tests := []struct{ pattern, s string }{
		{"*" + strings.Repeat("a", 560) + "b", strings.Repeat("a", n)},
		{"*" + strings.Repeat("a", 560) + "b*", strings.Repeat("a", n)},
		{"*" + strings.Repeat("a", 559) + "?b", strings.Repeat("a", n)},
		{"*" + strings.Repeat("?", 560) + "b", strings.Repeat("a", n)},
		{"*" + strings.Repeat("?a", 280) + "b*", strings.Repeat("a", n)},
		{strings.Repeat("*a", MaxWildcards) + "*b", strings.Repeat("a", n)},
		{strings.Repeat("*?", MaxWildcards) + "b", strings.Repeat("日", n/3)},
		{strings.Repeat("a", 600), strings.Repeat("a", n)},
		{"*" + strings.Repeat("日", 300) + "b", strings.Repeat("日", n/3)},
	}
	for _, tt := range tests {
		ok, work := wildcard(tt.pattern, tt.s)
		if ok {
			t.Errorf("wildcard(%.20q…, %d bytes) matched", tt.pattern, len(tt.s))
		}
		words := (utf8.RuneCountInString(tt.pattern) + 63) / 64
		if limit := words*len(tt.s) + len(tt.pattern); work > limit {
			t.Errorf("wildcard(%.20q…, %d bytes): work %d, want at most %d", tt.pattern, len(tt.s), work, limit)
		}
	}
}

func BenchmarkWildcard(b *testing.B) {
	s := strings.Repeat("a", 16<<10)
	for _, bb := range []struct{ name, pattern string }{
		{"literal-560", "*" + strings.Repeat("a", 560) + "b"},
		{"question-560", "*" + strings.Repeat("a", 559) + "?b"},
		{"stars", strings.Repeat("*a", MaxWildcards) + "*b"},
		{"typical", "system:serviceaccount:team-*:app"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				Wildcard(bb.pattern, s)
			}
		})
	}
}

// referenceUnits matches pattern against s over characters as Wildcard
// defines them (a byte of invalid UTF-8 is a character), by dynamic
// programming; the regexp reference cannot express invalid UTF-8.
func referenceUnits(pattern, s string) bool {
	split := func(x string) []string {
		var u []string
		for x != "" {
			_, w := utf8.DecodeRuneInString(x)
			u, x = append(u, x[:w]), x[w:]
		}
		return u
	}
	p, t := split(pattern), split(s)
	// m[j] reports whether p[:i] matches t[:j], row by row.
	m := make([]bool, len(t)+1)
	m[0] = true
	for _, c := range p {
		next := make([]bool, len(t)+1)
		for j := range next {
			switch {
			case c == "*":
				next[j] = m[j] || (j > 0 && next[j-1])
			case j > 0 && (c == "?" || c == t[j-1]):
				next[j] = m[j-1]
			}
		}
		m = next
	}
	return m[len(t)]
}

// referenceWildcard is the obvious translation of a wildcard pattern into a
// regular expression.
func referenceWildcard(t *testing.T, pattern, s string) bool {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		t.Fatalf("reference regexp %q: %v", b.String(), err)
	}
	return re.MatchString(s)
}

// FuzzWildcard compares Wildcard with a regexp-based reference. The engine's
// minimisation of new inputs can pause progress ("0/sec") for up to a minute;
// run with -fuzzminimizetime=2s to avoid that.
func FuzzWildcard(f *testing.F) {
	seeds := [][2]string{
		{"", ""},
		{"*", "abc"},
		{"a?c", "a日c"},
		{"*???", "€a"},
		{"system:serviceaccount:team-*:app", "system:serviceaccount:team-a:app"},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa"},
		{"*.[]$^\\", ".[]$^\\"},
		{"?*?", "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Wildcard(pattern, s)
		if len(pattern) <= 200 && len(s) <= 2000 {
			if want := referenceUnits(pattern, s); got != want {
				t.Errorf("Wildcard(%q, %q) = %v, character-wise reference says %v", pattern, s, got, want)
			}
		}
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return // the reference cannot express byte-wise matching of invalid UTF-8
		}
		if len(pattern) > 200 || len(s) > 2000 {
			return // keep the reference cheap
		}
		if want := referenceWildcard(t, pattern, s); got != want {
			t.Errorf("Wildcard(%q, %q) = %v, reference says %v", pattern, s, got, want)
		}
		// A pattern always matches itself with its wildcards as literals,
		// and "*" + pattern + "*" matches anything containing a match.
		if !Wildcard(pattern, pattern) {
			t.Errorf("Wildcard(%q, itself) = false", pattern)
		}
		if got && !Wildcard("*"+pattern+"*", "x"+s+"y") {
			t.Errorf("Wildcard(*%q*, x%qy) = false although Wildcard(%[1]q, %[2]q) = true", pattern, s)
		}
	})
}

// FuzzParse checks that Parse never panics, that its errors are well formed,
// and that every accepted expression round-trips through String.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"claims['sub'] matches 'repo:contoso/contoso-repo:ref:refs/heads/*'",
		"claims['sub'] eq 'repo:contoso/contoso-repo:ref:refs/heads/main' and claims['job_workflow_ref'] matches 'foo-org/bar-repo/.github/workflows/*@refs/heads/main'",
		"claims['sub'] matches 'system:serviceaccount:team-*:app'",
		"claims['it''s'] eq 'O''Brien'",
		"claims['a'] eq '' and claims['a'] matches ''''",
		"claims['sub'] equals 'x'",
		"claims['sub' eq 'x'",
		" claims['sub'] eq 'x' ",
		"claims['a'] eq 'b' AND claims['c'] eq 'd'",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok {
				t.Fatalf("Parse(%q) error %T, want *ParseError", src, err)
			}
			if pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("Parse(%q) offset %d out of range [0, %d]", src, pe.Offset, len(src))
			}
			if pe.Msg == "" {
				t.Fatalf("Parse(%q) returned an empty message", src)
			}
			return
		}
		if len(e.clauses) == 0 || len(e.clauses) > MaxClauses {
			t.Fatalf("Parse(%q) gave %d clauses", src, len(e.clauses))
		}
		canon := e.String()
		if canon != src {
			t.Fatalf("Parse(%q).String() = %q, want the source back", src, canon)
		}
		e2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(String()) = %v for %q", err, canon)
		}
		if !cmp.Equal(e, e2, cmpExpr) {
			t.Fatalf("Parse(%q) and Parse(String()) differ", src)
		}
		// Matching against the comparands themselves must not panic, and eq
		// clauses looked up with their own comparand succeed.
		e.Match(func(name string) (string, bool) { return name, true })
		for _, c := range e.clauses {
			single := &Expression{clauses: []clause{c}}
			if ok, failed := single.Match(func(string) (string, bool) { return c.comparand, true }); !ok {
				t.Fatalf("clause %q does not match its own comparand: %s", single, failed)
			}
		}
	})
}
