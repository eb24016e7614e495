package federation

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/expression"
)

const (
	testIssuer = "https://oidc.example.com/cluster"
	testSub    = "system:serviceaccount:default:app"
)

// cmpExpr compares expressions by their canonical text.
var cmpExpr = cmp.Comparer(func(a, b *expression.Expression) bool { return a.String() == b.String() })

// httpsOfLen returns an https issuer of exactly n characters.
func httpsOfLen(n int) string {
	return "https://" + strings.Repeat("a", n-len("https://"))
}

func TestValidate(t *testing.T) {
	base := Spec{Name: "cred-1", Issuer: testIssuer, Subject: testSub}
	with := func(f func(*Spec)) Spec {
		s := base
		s.Audiences = append([]string(nil), base.Audiences...)
		f(&s)
		return s
	}
	tests := []struct {
		name     string
		spec     Spec
		wantProp string // "" means valid
		want     Credential
	}{
		{"minimal, default audience", base, "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"one explicit audience", with(func(s *Spec) { s.Audiences = []string{"api://custom"} }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: testSub, Audience: "api://custom"}},
		{"empty audience list defaults", with(func(s *Spec) { s.Audiences = []string{} }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"two audiences", with(func(s *Spec) { s.Audiences = []string{"a", "b"} }), "audiences", Credential{}},
		{"empty audience", with(func(s *Spec) { s.Audiences = []string{""} }), "audiences", Credential{}},
		{"audience of 600", with(func(s *Spec) { s.Audiences = []string{strings.Repeat("a", 600)} }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: testSub, Audience: strings.Repeat("a", 600)}},
		{"audience of 601", with(func(s *Spec) { s.Audiences = []string{strings.Repeat("a", 601)} }), "audiences", Credential{}},

		// Names: 3 to 120 characters, starting with a letter or digit.
		{"name of 2", with(func(s *Spec) { s.Name = "ab" }), "name", Credential{}},
		{"name of 3", with(func(s *Spec) { s.Name = "abc" }), "",
			Credential{Name: "abc", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"name of 120", with(func(s *Spec) { s.Name = strings.Repeat("n", 120) }), "",
			Credential{Name: strings.Repeat("n", 120), Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"name of 121", with(func(s *Spec) { s.Name = strings.Repeat("n", 121) }), "name", Credential{}},
		{"name empty", with(func(s *Spec) { s.Name = "" }), "name", Credential{}},
		{"name starts with dash", with(func(s *Spec) { s.Name = "-abc" }), "name", Credential{}},
		{"name starts with underscore", with(func(s *Spec) { s.Name = "_abc" }), "name", Credential{}},
		{"name digits, dash, underscore", with(func(s *Spec) { s.Name = "0a_b-C" }), "",
			Credential{Name: "0a_b-C", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"name with dot", with(func(s *Spec) { s.Name = "a.bc" }), "name", Credential{}},
		{"name with space", with(func(s *Spec) { s.Name = "a bc" }), "name", Credential{}},
		{"name non-ASCII letter", with(func(s *Spec) { s.Name = "äbc" }), "name", Credential{}},
		{"name trailing newline", with(func(s *Spec) { s.Name = "abc\n" }), "name", Credential{}},

		// Issuer.
		{"issuer missing", with(func(s *Spec) { s.Issuer = "" }), "issuer", Credential{}},
		{"issuer of 600", with(func(s *Spec) { s.Issuer = httpsOfLen(600) }), "",
			Credential{Name: "cred-1", Issuer: httpsOfLen(600), Subject: testSub, Audience: DefaultAudience}},
		{"issuer of 601", with(func(s *Spec) { s.Issuer = httpsOfLen(601) }), "issuer", Credential{}},
		{"issuer http", with(func(s *Spec) { s.Issuer = "http://oidc.example.com" }), "issuer", Credential{}},
		{"issuer not a URL", with(func(s *Spec) { s.Issuer = "oidc.example.com" }), "issuer", Credential{}},
		{"issuer leading space", with(func(s *Spec) { s.Issuer = " " + testIssuer }), "issuer", Credential{}},
		{"issuer trailing newline", with(func(s *Spec) { s.Issuer = testIssuer + "\n" }), "issuer", Credential{}},
		{"issuer inner space", with(func(s *Spec) { s.Issuer = "https://a b" }), "issuer", Credential{}},
		{"issuer trailing slash kept", with(func(s *Spec) { s.Issuer = testIssuer + "/" }), "",
			Credential{Name: "cred-1", Issuer: testIssuer + "/", Subject: testSub, Audience: DefaultAudience}},

		// Subject and description lengths count characters, not bytes.
		{"subject of 600", with(func(s *Spec) { s.Subject = strings.Repeat("s", 600) }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: strings.Repeat("s", 600), Audience: DefaultAudience}},
		{"subject of 601", with(func(s *Spec) { s.Subject = strings.Repeat("s", 601) }), "subject", Credential{}},
		{"subject of 600 multibyte", with(func(s *Spec) { s.Subject = strings.Repeat("é", 600) }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: strings.Repeat("é", 600), Audience: DefaultAudience}},
		{"subject of 601 multibyte", with(func(s *Spec) { s.Subject = strings.Repeat("é", 601) }), "subject", Credential{}},
		{"subject leading space", with(func(s *Spec) { s.Subject = " " + testSub }), "subject", Credential{}},
		{"subject trailing tab", with(func(s *Spec) { s.Subject = testSub + "\t" }), "subject", Credential{}},
		{"description of 600", with(func(s *Spec) { s.Description = strings.Repeat("d", 600) }), "",
			Credential{Name: "cred-1", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}},
		{"description of 601", with(func(s *Spec) { s.Description = strings.Repeat("d", 601) }), "description", Credential{}},

		// Subject XOR expression.
		{"neither subject nor expression", with(func(s *Spec) { s.Subject = "" }), "subject", Credential{}},
		{"both subject and expression", with(func(s *Spec) { s.Expression = "claims['sub'] eq 'x'" }), "claimsMatchingExpression", Credential{}},
		{"bad expression", with(func(s *Spec) { s.Subject, s.Expression = "", "claims['sub'] == 'x'" }), "claimsMatchingExpression", Credential{}},
		{"expression with trailing space", with(func(s *Spec) { s.Subject, s.Expression = "", "claims['sub'] eq 'x' " }), "claimsMatchingExpression", Credential{}},
		{"expression language version 2", with(func(s *Spec) {
			s.Subject, s.Expression, s.LanguageVersion = "", "claims['sub'] eq 'x'", 2
		}), "claimsMatchingExpression", Credential{}},
		{"expression language version 1", with(func(s *Spec) {
			s.Subject, s.Expression, s.LanguageVersion = "", "claims['sub'] matches 'system:serviceaccount:*:app'", 1
		}), "", Credential{Name: "cred-1", Issuer: testIssuer, Audience: DefaultAudience,
			Expr: mustParse(t, "claims['sub'] matches 'system:serviceaccount:*:app'")}},
		{"expression language version 0 is 1", with(func(s *Spec) {
			s.Subject, s.Expression = "", "claims['sub'] eq 'x'"
		}), "", Credential{Name: "cred-1", Issuer: testIssuer, Audience: DefaultAudience,
			Expr: mustParse(t, "claims['sub'] eq 'x'")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(tt.spec)
			if tt.wantProp == "" {
				if err != nil {
					t.Fatalf("Validate: unexpected error %v", err)
				}
				if diff := cmp.Diff(tt.want, got, cmpExpr); diff != "" {
					t.Errorf("Validate (-want +got):\n%s", diff)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate: error %v (%T), want *ValidationError on %q", err, err, tt.wantProp)
			}
			if ve.Property != tt.wantProp {
				t.Errorf("Property = %q, want %q (msg %q)", ve.Property, tt.wantProp, ve.Msg)
			}
			if ve.Msg == "" || ve.Error() != ve.Msg {
				t.Errorf("Msg = %q, Error() = %q; want the same non-empty message", ve.Msg, ve.Error())
			}
			if diff := cmp.Diff(Credential{}, got, cmpExpr); diff != "" {
				t.Errorf("Validate returned a credential with an error:\n%s", diff)
			}
		})
	}
}

func TestValidateBadExpressionWrapsParseDetail(t *testing.T) {
	_, err := Validate(Spec{Name: "abc", Issuer: testIssuer, Expression: "claims['sub'] eq"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Property != "claimsMatchingExpression" {
		t.Fatalf("err = %v, want ValidationError on claimsMatchingExpression", err)
	}
	// The parser's offset makes the message actionable.
	if !strings.Contains(ve.Msg, "offset") {
		t.Errorf("Msg %q does not carry the parse error detail", ve.Msg)
	}
}

func mustParse(t testing.TB, src string) *expression.Expression {
	t.Helper()
	e, err := expression.Parse(src)
	if err != nil {
		t.Fatalf("expression.Parse(%q): %v", src, err)
	}
	return e
}

// claims returns a Claim lookup over m.
func claims(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestMatch(t *testing.T) {
	subCred := Credential{Name: "app", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}
	slashCred := Credential{Name: "slashed", Issuer: testIssuer + "/", Subject: testSub, Audience: DefaultAudience}
	otherAud := Credential{Name: "custom-aud", Issuer: testIssuer, Subject: testSub, Audience: "api://custom"}
	exprCred := Credential{Name: "team-wildcard", Issuer: testIssuer, Audience: DefaultAudience,
		Expr: mustParse(t, "claims['sub'] matches 'system:serviceaccount:team-*:app'")}
	exprCredB := Credential{Name: "other-issuer-expr", Issuer: "https://other.example.com", Audience: DefaultAudience,
		Expr: mustParse(t, "claims['sub'] eq 'x'")}

	present := func(iss, sub string, auds ...string) Presented {
		return Presented{Issuer: iss, Subject: sub, Audiences: auds, Claim: claims(map[string]string{"sub": sub, "iss": iss})}
	}
	tests := []struct {
		name        string
		p           Presented
		creds       []Credential
		want        Outcome
		wantCred    string   // Matched (on success) or Closest name; "" for none
		wantReasons []string // fragments the Reason must contain
	}{
		{"no credentials", present(testIssuer, testSub, DefaultAudience), nil,
			NoCredentials, "", []string{"no federated identity credentials"}},
		{"exact match", present(testIssuer, testSub, DefaultAudience), []Credential{subCred},
			Matched, "app", nil},
		{"one of several audiences in the token", present(testIssuer, testSub, "api://other", DefaultAudience, "x"), []Credential{subCred},
			Matched, "app", nil},
		{"second credential matches", present(testIssuer, testSub, "api://custom"), []Credential{subCred, otherAud},
			Matched, "custom-aud", nil},
		{"subject match wins over earlier case-only match", present(testIssuer, testSub, DefaultAudience),
			[]Credential{{Name: "upper", Issuer: testIssuer, Subject: strings.ToUpper(testSub), Audience: DefaultAudience}, subCred},
			Matched, "app", nil},

		{"issuer missing trailing slash", present(testIssuer, testSub, DefaultAudience), []Credential{slashCred},
			IssuerMismatch, "slashed", []string{"trailing slash", "'" + testIssuer + "/'", "with the slash"}},
		{"issuer has extra trailing slash", present(testIssuer+"/", testSub, DefaultAudience), []Credential{subCred},
			IssuerMismatch, "app", []string{"trailing slash", "without the slash"}},
		{"issuer differs in case", present(strings.ToUpper(testIssuer), testSub, DefaultAudience), []Credential{subCred},
			IssuerMismatch, "app", []string{"differs only in case", testIssuer}},
		{"issuer with whitespace", present(" "+testIssuer+"\n", testSub, DefaultAudience), []Credential{subCred},
			IssuerMismatch, "app", []string{"whitespace"}},
		{"issuer unknown, closest named", present("https://oidc.example.com/clusterb", testSub, DefaultAudience),
			[]Credential{{Name: "far", Issuer: "https://token.actions.githubusercontent.com", Subject: "x", Audience: DefaultAudience}, subCred},
			IssuerMismatch, "app", []string{"no credential trusts this issuer", "'app'", testIssuer}},
		{"issuer comparison is exact", present("https://OIDC.example.com/cluster", testSub, DefaultAudience), []Credential{subCred},
			IssuerMismatch, "app", nil},

		{"subject differs only in case", present(testIssuer, "system:serviceaccount:default:App", DefaultAudience), []Credential{subCred},
			SubjectCaseMismatch, "app", []string{"differs only in case", "'app'", testSub}},
		{"subject other namespace", present(testIssuer, "system:serviceaccount:prod:app", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", []string{"namespace is 'prod', expected 'default'"}},
		{"subject other service account", present(testIssuer, "system:serviceaccount:default:web", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", []string{"service account is 'web', expected 'app'"}},
		{"subject other namespace and service account", present(testIssuer, "system:serviceaccount:prod:web", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", []string{"namespace is 'prod' (expected 'default')", "service account is 'web' (expected 'app')"}},
		{"subject unrelated", present(testIssuer, "repo:contoso/app:ref:refs/heads/main", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", []string{"expects subject '" + testSub + "'"}},
		{"subject closest of several", present(testIssuer, "system:serviceaccount:default:apq", DefaultAudience),
			[]Credential{{Name: "far", Issuer: testIssuer, Subject: "repo:x/y:environment:prod", Audience: DefaultAudience}, subCred},
			SubjectMismatch, "app", []string{"'app'"}},
		{"subject empty in token", present(testIssuer, "", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", nil},
		{"subject prefix is not a match", present(testIssuer, testSub+"x", DefaultAudience), []Credential{subCred},
			SubjectMismatch, "app", nil},

		{"audience differs", present(testIssuer, testSub, "api://AzureADTokenExchange2"), []Credential{subCred},
			AudienceMismatch, "app", []string{"audience is 'api://AzureADTokenExchange2'", "'app'", "expects '" + DefaultAudience + "'"}},
		{"audience differs in case", present(testIssuer, testSub, "api://azureadtokenexchange"), []Credential{subCred},
			AudienceMismatch, "app", []string{"'api://azureadtokenexchange'"}},
		{"several audiences, none accepted", present(testIssuer, testSub, "a", "b"), []Credential{subCred},
			AudienceMismatch, "app", []string{"'a', 'b'"}},
		{"no audience in token", present(testIssuer, testSub), []Credential{subCred},
			AudienceMismatch, "app", []string{"audience is missing"}},
		{"audience mismatch beats case mismatch", present(testIssuer, testSub, "x"),
			[]Credential{{Name: "upper", Issuer: testIssuer, Subject: strings.ToUpper(testSub), Audience: "x"}, subCred},
			AudienceMismatch, "app", nil},

		{"expression matches", present(testIssuer, "system:serviceaccount:team-a:app", DefaultAudience), []Credential{exprCred},
			Matched, "team-wildcard", nil},
		{"expression matches, audience differs", present(testIssuer, "system:serviceaccount:team-a:app", "other"), []Credential{exprCred},
			AudienceMismatch, "team-wildcard", []string{"'other'", "expects '" + DefaultAudience + "'"}},
		{"expression does not match", present(testIssuer, "system:serviceaccount:ops:app", DefaultAudience), []Credential{exprCred},
			ExpressionMismatch, "team-wildcard", []string{"'team-wildcard'", "system:serviceaccount:ops:app", "does not match"}},
		{"expression claim missing", Presented{Issuer: testIssuer, Subject: "s", Audiences: []string{DefaultAudience}, Claim: claims(nil)}, []Credential{exprCred},
			ExpressionMismatch, "team-wildcard", []string{"missing"}},
		{"expression and subject credentials, neither matches", present(testIssuer, "system:serviceaccount:ops:web", DefaultAudience),
			[]Credential{exprCred, subCred}, SubjectMismatch, "app", []string{"namespace is 'ops'"}},
		{"subject credential matches next to expression", present(testIssuer, testSub, DefaultAudience),
			[]Credential{exprCred, subCred}, Matched, "app", nil},
		{"expression of another issuer ignored", present(testIssuer, "x", DefaultAudience),
			[]Credential{exprCredB}, IssuerMismatch, "other-issuer-expr", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Match(tt.p, tt.creds)
			if got.Outcome != tt.want {
				t.Fatalf("Outcome = %d, want %d (reason %q)", got.Outcome, tt.want, got.Reason)
			}
			var cred *Credential
			if tt.want == Matched {
				cred = got.Matched
				if got.Closest != nil {
					t.Errorf("Closest = %+v on a match", got.Closest)
				}
			} else {
				cred = got.Closest
				if got.Matched != nil {
					t.Errorf("Matched = %+v on a mismatch", got.Matched)
				}
				if got.Reason == "" {
					t.Errorf("empty Reason on a mismatch")
				}
			}
			name := ""
			if cred != nil {
				name = cred.Name
			}
			if name != tt.wantCred {
				t.Errorf("credential = %q, want %q", name, tt.wantCred)
			}
			for _, frag := range tt.wantReasons {
				if !strings.Contains(got.Reason, frag) {
					t.Errorf("Reason %q does not contain %q", got.Reason, frag)
				}
			}
		})
	}
}

// TestMatchPointsIntoCreds checks that Matched and Closest point at the
// caller's credentials, not copies (callers read the name and audience).
func TestMatchPointsIntoCreds(t *testing.T) {
	creds := []Credential{{Name: "abc", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}}
	r := Match(Presented{Issuer: testIssuer, Subject: testSub, Audiences: []string{DefaultAudience}}, creds)
	if r.Matched != &creds[0] {
		t.Errorf("Matched = %p, want %p", r.Matched, &creds[0])
	}
}

// TestMatchNilClaim: a Presented without a Claim lookup (the zero value)
// must not panic when an expression credential is considered; the
// expression's claims are then simply missing.
func TestMatchNilClaim(t *testing.T) {
	expr := mustParse(t, "claims['sub'] eq 'x'")
	creds := []Credential{{Name: "expr", Issuer: testIssuer, Audience: DefaultAudience, Expr: expr}}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Match panics when Presented.Claim is nil and an expression credential has the issuer: %v", r)
		}
	}()
	r := Match(Presented{Issuer: testIssuer, Subject: "x", Audiences: []string{DefaultAudience}}, creds)
	if r.Outcome != ExpressionMismatch {
		t.Errorf("Outcome = %d, want ExpressionMismatch", r.Outcome)
	}
}

// TestMatchLongValues keeps the closest-match search cheap on oversized input.
func TestMatchLongValues(t *testing.T) {
	long := "https://" + strings.Repeat("x", 16<<10)
	creds := make([]Credential, DefaultMaxPerIdentity)
	for i := range creds {
		creds[i] = Credential{Name: "c", Issuer: httpsOfLen(600), Subject: strings.Repeat("s", 600), Audience: DefaultAudience}
	}
	r := Match(Presented{Issuer: long, Subject: long, Audiences: []string{long}}, creds)
	if r.Outcome != IssuerMismatch {
		t.Errorf("Outcome = %d, want IssuerMismatch", r.Outcome)
	}
	creds[0].Issuer = long // as if stored before the length rule
	r = Match(Presented{Issuer: long, Subject: strings.Repeat("t", 16<<10), Audiences: []string{DefaultAudience}}, creds)
	if r.Outcome != SubjectMismatch {
		t.Errorf("Outcome = %d, want SubjectMismatch", r.Outcome)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("cred-1", testIssuer, testSub, "", "", "", 0, 0)
	f.Add("abc", testIssuer+"/", "", DefaultAudience, "", "claims['sub'] matches 'a*'", 1, 1)
	f.Add("ab", "http://x", " s", "a", "b", "claims['sub'] eq", 2, 2)
	f.Add(strings.Repeat("n", 120), httpsOfLen(600), strings.Repeat("é", 600), "", "", "", 0, 0)
	f.Fuzz(func(t *testing.T, name, issuer, subject, aud1, desc, expr string, nAud, lang int) {
		var auds []string
		switch nAud % 3 {
		case 1, -1:
			auds = []string{aud1}
		case 2, -2:
			auds = []string{aud1, aud1}
		}
		s := Spec{Name: name, Issuer: issuer, Subject: subject, Audiences: auds, Description: desc, Expression: expr, LanguageVersion: lang % 3}
		c, err := Validate(s)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Property == "" || ve.Msg == "" {
				t.Fatalf("Validate error %v is not a complete ValidationError", err)
			}
			return
		}
		if (c.Subject == "") == (c.Expr == nil) {
			t.Fatalf("valid credential must have exactly one of subject and expression: %+v", c)
		}
		if c.Audience == "" || !strings.HasPrefix(c.Issuer, "https://") {
			t.Fatalf("valid credential with bad audience or issuer: %+v", c)
		}
		again := Spec{Name: c.Name, Issuer: c.Issuer, Subject: c.Subject, Audiences: []string{c.Audience}, Expression: c.Expr.String()}
		c2, err := Validate(again)
		if err != nil {
			t.Fatalf("valid credential %+v does not re-validate: %v", c, err)
		}
		if diff := cmp.Diff(c, c2, cmpExpr); diff != "" {
			t.Fatalf("re-validated credential differs (-first +second):\n%s", diff)
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add(testIssuer, testSub, DefaultAudience, "", testIssuer, testSub, DefaultAudience, "")
	f.Add(testIssuer, testSub, DefaultAudience, "x", testIssuer+"/", strings.ToUpper(testSub), "a", "")
	f.Add(testIssuer, "system:serviceaccount:team-a:app", DefaultAudience, "", testIssuer, "", DefaultAudience, "claims['sub'] matches 'system:serviceaccount:team-*:app'")
	f.Add(testIssuer, "system:serviceaccount:ops:app", DefaultAudience, "", testIssuer, "", DefaultAudience, "claims['sub'] matches 'system:serviceaccount:team-*:app'")
	f.Add("", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, pIss, pSub, pAud1, pAud2, cIss, cSub, cAud, cExpr string) {
		// Credentials come both raw (as stored before a rule tightened)
		// and as variations of the presented values.
		creds := []Credential{
			{Name: "raw", Issuer: cIss, Subject: cSub, Audience: cAud},
			{Name: "same-issuer", Issuer: pIss, Subject: cSub, Audience: cAud},
			{Name: "same-subject", Issuer: cIss, Subject: pSub, Audience: pAud1},
		}
		if e, err := expression.Parse(cExpr); err == nil {
			creds = append(creds,
				Credential{Name: "expr", Issuer: cIss, Audience: cAud, Expr: e},
				Credential{Name: "expr-same-issuer", Issuer: pIss, Audience: pAud2, Expr: e})
		}
		auds := []string{pAud1}
		if pAud2 != "" {
			auds = append(auds, pAud2)
		}
		lookup := claims(map[string]string{"sub": pSub, "iss": pIss, "aud": pAud1, "x": cSub})
		p := Presented{Issuer: pIss, Subject: pSub, Audiences: auds, Claim: lookup}

		for _, cs := range [][]Credential{creds, creds[:1], creds[len(creds)-1:]} {
			r := Match(p, cs)
			if r.Outcome != Matched {
				if r.Matched != nil {
					t.Fatalf("Outcome %d with Matched %+v", r.Outcome, r.Matched)
				}
				if r.Reason == "" {
					t.Fatalf("Outcome %d without a Reason", r.Outcome)
				}
				if r.KeyIssuer != "" && (r.Closest == nil || r.KeyIssuer != r.Closest.Issuer ||
					!strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(r.KeyIssuer), "/"), strings.TrimSuffix(strings.TrimSpace(p.Issuer), "/"))) {
					t.Fatalf("KeyIssuer %q is not the closest credential's issuer related to %q (closest %+v)", r.KeyIssuer, p.Issuer, r.Closest)
				}
				continue
			}
			if r.KeyIssuer != "" {
				t.Fatalf("KeyIssuer %q on a match", r.KeyIssuer)
			}
			m := r.Matched
			if m == nil {
				t.Fatal("Matched outcome without a credential")
			}
			if m.Issuer != p.Issuer {
				t.Fatalf("matched issuer %q, presented %q", m.Issuer, p.Issuer)
			}
			if !containsAudience(p.Audiences, m.Audience) {
				t.Fatalf("matched audience %q, presented %q", m.Audience, p.Audiences)
			}
			if m.Expr != nil {
				if ok, why := m.Expr.Match(p.Claim); !ok {
					t.Fatalf("matched expression %q does not match: %s", m.Expr, why)
				}
			} else if m.Subject != p.Subject {
				t.Fatalf("matched subject %q, presented %q", m.Subject, p.Subject)
			}
		}
	})
}

// TestMatchKeyIssuer: the hint may be authenticated only against a
// configured issuer related to the presented one, never against an
// unrelated one (and never against the presented issuer alone).
func TestMatchKeyIssuer(t *testing.T) {
	subCred := Credential{Name: "app", Issuer: testIssuer, Subject: testSub, Audience: DefaultAudience}
	exprCred := Credential{Name: "team-wildcard", Issuer: testIssuer, Audience: DefaultAudience,
		Expr: mustParse(t, "claims['sub'] eq 'x'")}
	p := func(iss, sub, aud string) Presented {
		return Presented{Issuer: iss, Subject: sub, Audiences: []string{aud}, Claim: claims(map[string]string{"sub": sub})}
	}
	tests := []struct {
		name  string
		p     Presented
		creds []Credential
		want  string
	}{
		{"match", p(testIssuer, testSub, DefaultAudience), []Credential{subCred}, ""},
		{"no credentials", p(testIssuer, testSub, DefaultAudience), nil, ""},
		{"subject", p(testIssuer, "other", DefaultAudience), []Credential{subCred}, testIssuer},
		{"subject case", p(testIssuer, strings.ToUpper(testSub), DefaultAudience), []Credential{subCred}, testIssuer},
		{"audience", p(testIssuer, testSub, "api://other"), []Credential{subCred}, testIssuer},
		{"expression", p(testIssuer, "y", DefaultAudience), []Credential{exprCred}, testIssuer},
		{"extra trailing slash", p(testIssuer+"/", testSub, DefaultAudience), []Credential{subCred}, testIssuer},
		{"missing trailing slash", p(testIssuer, testSub, DefaultAudience), []Credential{{Name: "s", Issuer: testIssuer + "/", Subject: testSub, Audience: DefaultAudience}}, testIssuer + "/"},
		{"case", p(strings.ToUpper(testIssuer), testSub, DefaultAudience), []Credential{subCred}, testIssuer},
		{"whitespace", p(" "+testIssuer, testSub, DefaultAudience), []Credential{subCred}, testIssuer},
		{"unrelated issuer", p("https://attacker.example/"+testIssuer, testSub, DefaultAudience), []Credential{subCred}, ""},
		{"similar but other path", p(testIssuer+"x", testSub, DefaultAudience), []Credential{subCred}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.p, tt.creds).KeyIssuer; got != tt.want {
				t.Errorf("KeyIssuer = %q, want %q", got, tt.want)
			}
		})
	}
}
