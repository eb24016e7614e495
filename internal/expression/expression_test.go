package expression

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpExpr = cmp.AllowUnexported(Expression{}, clause{})

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   []clause
		claims []string
	}{
		{
			name:   "github branch wildcard",
			src:    "claims['sub'] matches 'repo:contoso/contoso-repo:ref:refs/heads/*'",
			want:   []clause{{"sub", opMatches, "repo:contoso/contoso-repo:ref:refs/heads/*"}},
			claims: []string{"sub"},
		},
		{
			name: "eq and matches",
			src:  "claims['sub'] eq 'repo:contoso/contoso-repo:ref:refs/heads/main' and claims['job_workflow_ref'] matches 'foo-org/bar-repo/.github/workflows/*@refs/heads/main'",
			want: []clause{
				{"sub", opEq, "repo:contoso/contoso-repo:ref:refs/heads/main"},
				{"job_workflow_ref", opMatches, "foo-org/bar-repo/.github/workflows/*@refs/heads/main"},
			},
			claims: []string{"sub", "job_workflow_ref"},
		},
		{
			name:   "kubernetes",
			src:    "claims['sub'] matches 'system:serviceaccount:team-*:app'",
			want:   []clause{{"sub", opMatches, "system:serviceaccount:team-*:app"}},
			claims: []string{"sub"},
		},
		{
			name:   "escaped quote in comparand",
			src:    "claims['name'] eq 'O''Brien'",
			want:   []clause{{"name", opEq, "O'Brien"}},
			claims: []string{"name"},
		},
		{
			name:   "comparand is only an escaped quote",
			src:    "claims['q'] eq ''''",
			want:   []clause{{"q", opEq, "'"}},
			claims: []string{"q"},
		},
		{
			name:   "escaped quote in claim name",
			src:    "claims['it''s'] eq 'x'",
			want:   []clause{{"it's", opEq, "x"}},
			claims: []string{"it's"},
		},
		{
			name:   "empty comparand",
			src:    "claims['sub'] matches ''",
			want:   []clause{{"sub", opMatches, ""}},
			claims: []string{"sub"},
		},
		{
			name:   "comparand with spaces, brackets and keywords",
			src:    "claims['a'] eq ' and claims[''b''] eq ''c'' '",
			want:   []clause{{"a", opEq, " and claims['b'] eq 'c' "}},
			claims: []string{"a"},
		},
		{
			name:   "unicode comparand",
			src:    "claims['sub'] matches 'ünïcødé-?-日本*'",
			want:   []clause{{"sub", opMatches, "ünïcødé-?-日本*"}},
			claims: []string{"sub"},
		},
		{
			name:   "all name characters",
			src:    "claims['Az09_.:-'] eq 'x'",
			want:   []clause{{"Az09_.:-", opEq, "x"}},
			claims: []string{"Az09_.:-"},
		},
		{
			name: "duplicate claim",
			src:  "claims['sub'] matches 'a*' and claims['aud'] eq 'b' and claims['sub'] matches '*z'",
			want: []clause{
				{"sub", opMatches, "a*"},
				{"aud", opEq, "b"},
				{"sub", opMatches, "*z"},
			},
			claims: []string{"sub", "aud"},
		},
		{
			name:   "ten clauses",
			src:    strings.TrimSuffix(strings.Repeat("claims['a'] eq 'b' and ", 10), " and "),
			want:   repeatClause(clause{"a", opEq, "b"}, 10),
			claims: []string{"a"},
		},
		{
			name:   "exactly MaxLength characters",
			src:    "claims['a'] eq '" + strings.Repeat("é", MaxLength-17) + "'",
			want:   []clause{{"a", opEq, strings.Repeat("é", MaxLength-17)}},
			claims: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			if diff := cmp.Diff(&Expression{clauses: tt.want}, e, cmpExpr); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.src, diff)
			}
			if diff := cmp.Diff(tt.claims, e.Claims()); diff != "" {
				t.Errorf("Claims() mismatch (-want +got):\n%s", diff)
			}
			if got := e.String(); got != tt.src {
				t.Errorf("String() = %q, want %q", got, tt.src)
			}
		})
	}
}

func repeatClause(c clause, n int) []clause {
	cs := make([]clause, n)
	for i := range cs {
		cs[i] = c
	}
	return cs
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		offset int
		msg    []string // fragments the message must contain
	}{
		{"empty", "", 0, []string{"empty"}},
		{"leading space", " claims['sub'] eq 'x'", 0, []string{"leading whitespace"}},
		{"leading nbsp", "\u00a0claims['sub'] eq 'x'", 0, []string{"leading whitespace"}},
		{"trailing space", "claims['sub'] eq 'x' ", 20, []string{"trailing whitespace"}},
		{"space after dangling and", "claims['sub'] eq 'x' and ", 25, []string{`"claims['"`, "end of expression"}},
		{"newline", "claims['sub'] eq 'x'\n", 20, []string{"control character", "U+000A"}},
		{"tab in comparand", "claims['sub'] eq 'a\tb'", 19, []string{"control character", "U+0009"}},
		{"invalid utf-8", "claims['sub'] eq '\xff'", 18, []string{"invalid UTF-8", "0xff"}},
		{"unknown operator", "claims['sub'] equals 'x'", 14, []string{`"matches" or "eq"`, `"equals"`}},
		{"upper-case operator", "claims['sub'] MATCHES 'x'", 14, []string{"lower-case", `"MATCHES"`}},
		{"missing operator", "claims['sub'] 'x'", 14, []string{`"matches" or "eq"`, `"'x'"`}},
		{"operator glued to comparand", "claims['sub'] eq'x'", 16, []string{"space", `"'x'"`}},
		{"double space before operator", "claims['sub']  eq 'x'", 14, []string{"single space"}},
		{"double space before comparand", "claims['sub'] eq  'x'", 17, []string{"single space"}},
		{"no space after name", "claims['sub']eq 'x'", 13, []string{"space", `"eq"`}},
		{"double-quoted comparand", `claims['sub'] eq "x"`, 17, []string{"single quotes", `"\"x\""`}},
		{"unquoted comparand", "claims['sub'] eq x", 17, []string{"single quotes", `"x"`}},
		{"missing comparand", "claims['sub'] eq", 16, []string{"space", "end of expression"}},
		{"missing comparand after space", "claims['sub'] eq ", 17, []string{"single quotes", "end of expression"}},
		{"unterminated comparand", "claims['sub'] eq 'abc", 17, []string{"unterminated"}},
		{"unterminated by escape", "claims['sub'] eq 'abc''", 17, []string{"unterminated"}},
		{"upper-case claims", "Claims['sub'] eq 'x'", 0, []string{"lower-case", `"Claims['"`}},
		{"double-quoted name", `claims["sub"] eq 'x'`, 7, []string{"single quotes"}},
		{"not a clause", "sub eq 'x'", 0, []string{`"claims['"`, `"sub"`}},
		{"dot access", "claims.sub eq 'x'", 0, []string{`"claims['"`, `"claims.sub"`}},
		{"empty name", "claims[''] eq 'x'", 8, []string{"claim name is empty"}},
		{"name with slash", "claims['a/b'] eq 'x'", 9, []string{"invalid character", `'/'`}},
		{"name with space", "claims['a b'] eq 'x'", 9, []string{"invalid character", `' '`}},
		{"name with unicode", "claims['naïve'] eq 'x'", 10, []string{"invalid character", `'ï'`}},
		{"unterminated name", "claims['sub", 7, []string{"unterminated"}},
		{"name closing bracket inside quotes", "claims['sub] eq 'x'", 11, []string{"invalid character", `']'`}},
		{"missing bracket", "claims['sub' eq 'x'", 12, []string{`"]"`, `" eq"`}},
		{"upper-case and", "claims['a'] eq 'b' AND claims['c'] eq 'd'", 19, []string{"lower-case", `"AND"`}},
		{"or", "claims['a'] eq 'b' or claims['c'] eq 'd'", 19, []string{`"and"`, `"or"`}},
		{"and without spaces", "claims['a'] eq 'b'and claims['c'] eq 'd'", 18, []string{`" and "`, `"and"`}},
		{"double space after and", "claims['a'] eq 'b' and  claims['c'] eq 'd'", 23, []string{"single space"}},
		{"and glued to clause", "claims['a'] eq 'b' andclaims['c'] eq 'd'", 19, []string{`"and"`, `"andclaims['c']"`}},
		{"dangling and", "claims['a'] eq 'b' and", 22, []string{"clause", "end of expression"}},
		{"garbage after clause", "claims['a'] eq 'b'x", 18, []string{`" and "`, `"x"`}},
		{"eleven clauses", strings.TrimSuffix(strings.Repeat("claims['a'] eq 'b' and ", 11), " and "), 10 * len("claims['a'] eq 'b' and "), []string{"too many clauses", "10"}},
		{"too long", "claims['a'] eq '" + strings.Repeat("é", MaxLength-16) + "'", len("claims['a'] eq '") + 2*(MaxLength-16), []string{"longer than 600"}},
		{"too many wildcards", "claims['sub'] matches '" + strings.Repeat("*a?", 8) + "*'", 22, []string{"too many wildcards", "17", "at most 16"}},
		{"long found is truncated", "claims['a'] " + strings.Repeat("x", 100), 12, []string{`"xxxxxxxxxxxxxxxxxxxxxxxx"…`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error", tt.src, e)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T %v, want *ParseError", tt.src, err, err)
			}
			if pe.Offset != tt.offset {
				t.Errorf("Parse(%q) offset = %d, want %d (%v)", tt.src, pe.Offset, tt.offset, err)
			}
			for _, frag := range tt.msg {
				if !strings.Contains(pe.Msg, frag) {
					t.Errorf("Parse(%q) message %q does not contain %q", tt.src, pe.Msg, frag)
				}
			}
			if !strings.HasPrefix(err.Error(), "expression: at offset ") {
				t.Errorf("Error() = %q, want an \"expression: at offset N: \" prefix", err.Error())
			}
		})
	}
}

func TestParseErrorString(t *testing.T) {
	_, err := Parse("claims['sub'] equals 'x'")
	want := `expression: at offset 14: expected operator "matches" or "eq", found "equals"`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}
}

// claimMap is a lookup over string claims; absent keys are missing.
func claimMap(m map[string]any) func(string) (string, bool) {
	return func(name string) (string, bool) {
		s, ok := m[name].(string)
		return s, ok
	}
}

func TestMatch(t *testing.T) {
	const k8s = "claims['sub'] matches 'system:serviceaccount:team-*:app'"
	const gh = "claims['sub'] eq 'repo:contoso/contoso-repo:ref:refs/heads/main' and claims['job_workflow_ref'] matches 'foo-org/bar-repo/.github/workflows/*@refs/heads/main'"
	tests := []struct {
		name   string
		src    string
		claims map[string]any
		want   bool
		failed []string // fragments of the failure description
	}{
		{"k8s match", k8s, map[string]any{"sub": "system:serviceaccount:team-a:app"}, true, nil},
		{"k8s empty star", k8s, map[string]any{"sub": "system:serviceaccount:team-:app"}, true, nil},
		{"k8s star spans colon", k8s, map[string]any{"sub": "system:serviceaccount:team-x:y:app"}, true, nil},
		{"k8s other namespace", k8s, map[string]any{"sub": "system:serviceaccount:other:app"}, false,
			[]string{`claims['sub'] is "system:serviceaccount:other:app", which does not match 'system:serviceaccount:team-*:app'`}},
		{"k8s other service account", k8s, map[string]any{"sub": "system:serviceaccount:team-a:app2"}, false, []string{"does not match"}},
		{"k8s case sensitive", k8s, map[string]any{"sub": "System:serviceaccount:team-a:app"}, false, []string{"does not match"}},
		{"k8s missing", k8s, map[string]any{}, false, []string{"claim 'sub' is missing"}},
		{"k8s non-string", k8s, map[string]any{"sub": 42}, false, []string{"claim 'sub' is missing or not a string"}},
		{"github both", gh, map[string]any{
			"sub":              "repo:contoso/contoso-repo:ref:refs/heads/main",
			"job_workflow_ref": "foo-org/bar-repo/.github/workflows/deploy.yml@refs/heads/main",
		}, true, nil},
		{"github first fails", gh, map[string]any{
			"sub":              "repo:contoso/contoso-repo:ref:refs/heads/dev",
			"job_workflow_ref": "foo-org/bar-repo/.github/workflows/deploy.yml@refs/heads/main",
		}, false, []string{`claims['sub'] is "repo:contoso/contoso-repo:ref:refs/heads/dev", which does not equal 'repo:contoso/contoso-repo:ref:refs/heads/main'`}},
		{"github second missing", gh, map[string]any{
			"sub": "repo:contoso/contoso-repo:ref:refs/heads/main",
		}, false, []string{"claim 'job_workflow_ref' is missing"}},
		{"github second fails", gh, map[string]any{
			"sub":              "repo:contoso/contoso-repo:ref:refs/heads/main",
			"job_workflow_ref": "foo-org/bar-repo/.github/workflows/deploy.yml@refs/heads/dev",
		}, false, []string{"claims['job_workflow_ref']", "does not match"}},
		{"eq is not a pattern", "claims['sub'] eq 'a*'", map[string]any{"sub": "abc"}, false, []string{"does not equal 'a*'"}},
		{"eq literal star", "claims['sub'] eq 'a*'", map[string]any{"sub": "a*"}, true, nil},
		{"eq case sensitive", "claims['sub'] eq 'abc'", map[string]any{"sub": "ABC"}, false, []string{"does not equal"}},
		{"eq escaped quote", "claims['n'] eq 'O''Brien'", map[string]any{"n": "O'Brien"}, true, nil},
		{"eq escaped quote mismatch", "claims['n'] eq 'O''Brien'", map[string]any{"n": "O''Brien"}, false, []string{`"O''Brien"`, "'O''Brien'"}},
		{"matches escaped quote", "claims['n'] matches '*''*'", map[string]any{"n": "it's"}, true, nil},
		{"matches escaped quote absent", "claims['n'] matches '*''*'", map[string]any{"n": "its"}, false, nil},
		{"quoted claim name", "claims['it''s'] eq 'x'", map[string]any{"it's": "x"}, true, nil},
		{"quoted claim name missing", "claims['it''s'] eq 'x'", map[string]any{}, false, []string{"claim 'it''s' is missing"}},
		{"empty comparand matches empty", "claims['sub'] matches ''", map[string]any{"sub": ""}, true, nil},
		{"empty comparand rejects non-empty", "claims['sub'] matches ''", map[string]any{"sub": "a"}, false, []string{`is "a", which does not match ''`}},
		{"question mark one ascii", "claims['s'] matches 'a?c'", map[string]any{"s": "abc"}, true, nil},
		{"question mark multibyte", "claims['s'] matches 'a?c'", map[string]any{"s": "a日c"}, true, nil},
		{"question mark emoji", "claims['s'] matches 'a?c'", map[string]any{"s": "a😀c"}, true, nil},
		{"question mark not two runes", "claims['s'] matches 'a?c'", map[string]any{"s": "aébc"}, false, nil},
		{"question mark not empty", "claims['s'] matches 'a?c'", map[string]any{"s": "ac"}, false, nil},
		{"unicode literal", "claims['s'] matches 'ünï*-日本'", map[string]any{"s": "ünïcødé-日本"}, true, nil},
		{"unicode literal differs", "claims['s'] matches 'ünï*-日本'", map[string]any{"s": "unicode-日本"}, false, nil},
		{"backslash is literal", `claims['s'] matches 'a\*'`, map[string]any{"s": `a\xyz`}, true, nil},
		{"backslash does not escape", `claims['s'] matches 'a\*'`, map[string]any{"s": `a*`}, false, nil},
		{"regexp metacharacters literal", "claims['s'] matches '.+[a]$'", map[string]any{"s": ".+[a]$"}, true, nil},
		{"regexp metacharacters not regexp", "claims['s'] matches '.+[a]$'", map[string]any{"s": "xx"}, false, nil},
		{"duplicate clauses and", "claims['s'] matches 'a*' and claims['s'] matches '*z'", map[string]any{"s": "abcz"}, true, nil},
		{"duplicate clauses second fails", "claims['s'] matches 'a*' and claims['s'] matches '*z'", map[string]any{"s": "abc"}, false, []string{"'*z'"}},
		{"value with control characters is escaped", "claims['s'] eq 'x'", map[string]any{"s": "a\nb"}, false, []string{`"a\nb"`}},
		{"long value is truncated", "claims['s'] eq 'x'", map[string]any{"s": strings.Repeat("v", 1000)}, false, []string{"(1000 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			ok, failed := e.Match(claimMap(tt.claims))
			if ok != tt.want {
				t.Fatalf("Match(%v) = %v (%q), want %v", tt.claims, ok, failed, tt.want)
			}
			if ok && failed != "" {
				t.Errorf("Match(%v) = true with failed = %q, want empty", tt.claims, failed)
			}
			if !ok && failed == "" {
				t.Errorf("Match(%v) = false with empty failure description", tt.claims)
			}
			for _, frag := range tt.failed {
				if !strings.Contains(failed, frag) {
					t.Errorf("failed = %q, want it to contain %q", failed, frag)
				}
			}
		})
	}
}

func TestMatchZeroValueMatchesNothing(t *testing.T) {
	all := func(string) (string, bool) { return "", true }
	for _, e := range []*Expression{nil, {}} {
		if ok, failed := e.Match(all); ok || failed == "" {
			t.Errorf("(%#v).Match = %v, %q; want false with a reason", e, ok, failed)
		}
		if s := e.String(); s != "" {
			t.Errorf("(%#v).String() = %q, want empty", e, s)
		}
		if c := e.Claims(); len(c) != 0 {
			t.Errorf("(%#v).Claims() = %q, want none", e, c)
		}
	}
}

func TestMatchStopsAtFirstFailure(t *testing.T) {
	e, err := Parse("claims['a'] eq 'x' and claims['b'] eq 'y'")
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	ok, _ := e.Match(func(name string) (string, bool) {
		asked = append(asked, name)
		return "nope", true
	})
	if ok {
		t.Fatal("Match = true, want false")
	}
	if diff := cmp.Diff([]string{"a"}, asked); diff != "" {
		t.Errorf("claims looked up (-want +got):\n%s", diff)
	}
}

func TestClaimsReturnsCopy(t *testing.T) {
	e, err := Parse("claims['a'] eq 'x' and claims['b'] eq 'y'")
	if err != nil {
		t.Fatal(err)
	}
	e.Claims()[0] = "mutated"
	if diff := cmp.Diff([]string{"a", "b"}, e.Claims()); diff != "" {
		t.Errorf("Claims() after mutating a previous result (-want +got):\n%s", diff)
	}
}

func BenchmarkMatchKubernetes(b *testing.B) {
	e, err := Parse("claims['sub'] matches 'system:serviceaccount:team-*:app-?' and claims['aud'] eq 'api://AzureADTokenExchange'")
	if err != nil {
		b.Fatal(err)
	}
	claims := claimMap(map[string]any{
		"sub": "system:serviceaccount:team-payments-prod:app-1",
		"aud": "api://AzureADTokenExchange",
	})
	b.ReportAllocs()
	for b.Loop() {
		if ok, failed := e.Match(claims); !ok {
			b.Fatal(failed)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	const src = "claims['sub'] eq 'repo:contoso/contoso-repo:ref:refs/heads/main' and claims['job_workflow_ref'] matches 'foo-org/bar-repo/.github/workflows/*@refs/heads/main'"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseWildcardLimit: the limit counts the wildcards of "matches"
// patterns only; an eq comparand may hold any number of "*" and "?".
func TestParseWildcardLimit(t *testing.T) {
	for _, src := range []string{
		"claims['sub'] matches '" + strings.Repeat("*?", MaxWildcards/2) + "'",
		"claims['sub'] eq '" + strings.Repeat("*?", MaxWildcards) + "'",
		strings.TrimSuffix(strings.Repeat("claims['sub'] matches '"+strings.Repeat("*", MaxWildcards)+"' and ", 3), " and "),
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("Parse(%q) = %v, want no error", src, err)
		}
	}
}
