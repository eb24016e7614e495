// Package federation holds the policy of federated identity credentials:
// the rules a credential must follow to be stored, and the matching of
// verified token claims against an identity's credentials. It is pure: no
// network, storage or logging.
package federation

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/wifproject/wif/internal/expression"
)

// DefaultAudience is the audience Entra recommends and az defaults to.
const DefaultAudience = "api://AzureADTokenExchange"

// DefaultMaxPerIdentity is Entra's limit of credentials per identity.
const DefaultMaxPerIdentity = 20

const maxLen = 600

var nameRule = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$`)

// Credential is a federated identity credential ready for matching.
type Credential struct {
	Name     string
	Issuer   string
	Subject  string // empty when Expr is set
	Audience string
	Expr     *expression.Expression
}

// Spec is a credential as submitted for creation, before validation.
type Spec struct {
	Name        string
	Issuer      string
	Subject     string
	Audiences   []string
	Description string
	Expression  string // claims-matching expression source, language version 1
	// LanguageVersion of Expression; 0 is taken as 1.
	LanguageVersion int
}

// ValidationError says which property of a credential is wrong and why.
type ValidationError struct {
	Property string
	Msg      string
}

func (e *ValidationError) Error() string { return e.Msg }

// Validate checks s against Entra's rules and returns the credential to
// store. Audiences default to DefaultAudience when none is given.
func Validate(s Spec) (Credential, error) {
	bad := func(prop, format string, args ...any) (Credential, error) {
		return Credential{}, &ValidationError{Property: prop, Msg: fmt.Sprintf(format, args...)}
	}
	if !nameRule.MatchString(s.Name) {
		return bad("name", "Federated identity credential name '%s' is invalid. The name must be 3 to 120 characters long, start with a letter or digit, and contain only letters, digits, '-' and '_'.", s.Name)
	}
	if s.Issuer == "" {
		return bad("issuer", "The issuer of a federated identity credential is required.")
	}
	for _, f := range []struct{ prop, v string }{{"issuer", s.Issuer}, {"subject", s.Subject}, {"description", s.Description}} {
		if utf8.RuneCountInString(f.v) > maxLen {
			return bad(f.prop, "The %s of a federated identity credential must be at most %d characters long.", f.prop, maxLen)
		}
	}
	if strings.TrimSpace(s.Issuer) != s.Issuer || !strings.HasPrefix(s.Issuer, "https://") || strings.ContainsAny(s.Issuer, " \t\r\n") {
		return bad("issuer", "Issuer '%s' is invalid: it must be an https URL without whitespace.", s.Issuer)
	}
	auds := s.Audiences
	if len(auds) == 0 {
		auds = []string{DefaultAudience}
	}
	if len(auds) != 1 {
		return bad("audiences", "Federated identity credentials must have exactly one audience.")
	}
	if auds[0] == "" || utf8.RuneCountInString(auds[0]) > maxLen {
		return bad("audiences", "The audience of a federated identity credential must be 1 to %d characters long.", maxLen)
	}
	c := Credential{Name: s.Name, Issuer: s.Issuer, Subject: s.Subject, Audience: auds[0]}
	switch {
	case s.Subject != "" && s.Expression != "":
		return bad("claimsMatchingExpression", "A federated identity credential can have either a subject or a claimsMatchingExpression, not both.")
	case s.Subject == "" && s.Expression == "":
		return bad("subject", "A federated identity credential needs a subject or a claimsMatchingExpression.")
	case s.Expression != "":
		if s.LanguageVersion != 0 && s.LanguageVersion != 1 {
			return bad("claimsMatchingExpression", "claimsMatchingExpression languageVersion %d is not supported; use 1.", s.LanguageVersion)
		}
		e, err := expression.Parse(s.Expression)
		if err != nil {
			return bad("claimsMatchingExpression", "claimsMatchingExpression is invalid: %v", err)
		}
		c.Expr = e
	}
	if strings.TrimSpace(s.Subject) != s.Subject {
		return bad("subject", "Subject '%s' has leading or trailing whitespace.", s.Subject)
	}
	return c, nil
}

// Presented is what a verified assertion claims.
type Presented struct {
	Issuer    string
	Subject   string
	Audiences []string
	// Claim returns any top-level string claim, for expressions.
	Claim func(name string) (string, bool)
}

// Outcome classifies a match result.
type Outcome int

const (
	Matched Outcome = iota
	// NoCredentials: the identity has no federated credentials.
	NoCredentials
	// IssuerMismatch: no credential names the presented issuer.
	IssuerMismatch
	// SubjectMismatch: the issuer is trusted, but no credential names the subject.
	SubjectMismatch
	// SubjectCaseMismatch: a credential names the subject, differing only in case.
	SubjectCaseMismatch
	// AudienceMismatch: issuer and subject match, the audience does not.
	AudienceMismatch
	// ExpressionMismatch: the issuer's only credentials use expressions, and none matched.
	ExpressionMismatch
)

// Result is the outcome of Match. On a mismatch, Closest names the
// credential that came nearest and Reason says in words why it failed.
//
// Closest and Reason disclose configuration. A caller whose assertion is
// not yet authenticated may be shown them only after the assertion's
// signature verifies against KeyIssuer's keys; when KeyIssuer is empty, no
// credential names an issuer related to the presented one, and only the
// presented values may be shown.
type Result struct {
	Outcome Outcome
	Matched *Credential
	Closest *Credential
	Reason  string
	// KeyIssuer is the configured issuer (of Closest) whose keys may
	// authenticate the assertion before the hint is given: the presented
	// issuer itself, or one that differs from it only by a trailing slash,
	// case or surrounding whitespace. Empty on a match and when no
	// credential's issuer is related to the presented one.
	KeyIssuer string
}

// Match finds the credential that accepts p: issuer, subject (or
// expression) and audience all equal, case-sensitively.
func Match(p Presented, creds []Credential) Result {
	if p.Claim == nil {
		p.Claim = func(string) (string, bool) { return "", false }
	}
	if len(creds) == 0 {
		return Result{Outcome: NoCredentials, Reason: "the identity has no federated identity credentials"}
	}
	var byIssuer []*Credential
	for i := range creds {
		if creds[i].Issuer == p.Issuer {
			byIssuer = append(byIssuer, &creds[i])
		}
	}
	if len(byIssuer) == 0 {
		closest, reason, related := closestIssuer(p.Issuer, creds)
		r := Result{Outcome: IssuerMismatch, Closest: closest, Reason: reason}
		if related {
			r.KeyIssuer = closest.Issuer
		}
		return r
	}

	var subjectHit, caseHit, exprMiss *Credential
	var exprReason string
	for _, c := range byIssuer {
		switch {
		case c.Expr != nil:
			ok, why := c.Expr.Match(p.Claim)
			if !ok {
				if exprMiss == nil {
					exprMiss, exprReason = c, why
				}
				continue
			}
		case c.Subject == p.Subject:
		case strings.EqualFold(c.Subject, p.Subject):
			if caseHit == nil {
				caseHit = c
			}
			continue
		default:
			continue
		}
		if containsAudience(p.Audiences, c.Audience) {
			return Result{Outcome: Matched, Matched: c}
		}
		if subjectHit == nil {
			subjectHit = c
		}
	}
	// Every credential here names the presented issuer.
	switch {
	case subjectHit != nil:
		return Result{Outcome: AudienceMismatch, Closest: subjectHit, KeyIssuer: p.Issuer,
			Reason: fmt.Sprintf("audience is %s, credential '%s' expects '%s'", quoteList(p.Audiences), subjectHit.Name, subjectHit.Audience)}
	case caseHit != nil:
		return Result{Outcome: SubjectCaseMismatch, Closest: caseHit, KeyIssuer: p.Issuer,
			Reason: fmt.Sprintf("subject differs only in case from credential '%s' (subject '%s')", caseHit.Name, caseHit.Subject)}
	}
	closest, reason := closestSubject(p.Subject, byIssuer)
	if closest == nil && exprMiss != nil {
		return Result{Outcome: ExpressionMismatch, Closest: exprMiss, KeyIssuer: p.Issuer,
			Reason: fmt.Sprintf("credential '%s' expression does not match: %s", exprMiss.Name, exprReason)}
	}
	return Result{Outcome: SubjectMismatch, Closest: closest, KeyIssuer: p.Issuer, Reason: reason}
}

func containsAudience(auds []string, want string) bool {
	for _, a := range auds {
		if a == want {
			return true
		}
	}
	return false
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "missing"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + s + "'"
	}
	return strings.Join(q, ", ")
}

// closestIssuer finds the credential whose issuer is nearest iss. related
// reports that it differs from iss only by a trailing slash, case or
// surrounding whitespace.
func closestIssuer(iss string, creds []Credential) (closest *Credential, reason string, related bool) {
	for i := range creds {
		c := &creds[i]
		switch {
		case strings.TrimSuffix(c.Issuer, "/") == strings.TrimSuffix(iss, "/"):
			if strings.HasSuffix(c.Issuer, "/") {
				return c, fmt.Sprintf("issuer differs only by a trailing slash: credential '%s' has '%s' (with the slash), the token has '%s'", c.Name, c.Issuer, iss), true
			}
			return c, fmt.Sprintf("issuer differs only by a trailing slash: credential '%s' has '%s' (without the slash), the token has '%s'", c.Name, c.Issuer, iss), true
		case strings.EqualFold(c.Issuer, iss):
			return c, fmt.Sprintf("issuer differs only in case: credential '%s' has '%s'", c.Name, c.Issuer), true
		case strings.TrimSpace(iss) == c.Issuer:
			return c, fmt.Sprintf("the token's issuer has leading or trailing whitespace; credential '%s' has '%s'", c.Name, c.Issuer), true
		}
	}
	best, bestD := &creds[0], -1
	for i := range creds {
		if d := distance(creds[i].Issuer, iss); bestD < 0 || d < bestD {
			best, bestD = &creds[i], d
		}
	}
	return best, fmt.Sprintf("no credential trusts this issuer; the closest, credential '%s', has issuer '%s'", best.Name, best.Issuer), false
}

func closestSubject(sub string, creds []*Credential) (*Credential, string) {
	var best *Credential
	bestD := -1
	for _, c := range creds {
		if c.Expr != nil {
			continue
		}
		if d := distance(c.Subject, sub); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best == nil {
		return nil, ""
	}
	if why := serviceAccountDiff(sub, best.Subject); why != "" {
		return best, fmt.Sprintf("credential '%s' expects subject '%s': %s", best.Name, best.Subject, why)
	}
	return best, fmt.Sprintf("credential '%s' expects subject '%s'", best.Name, best.Subject)
}

// serviceAccountDiff explains how two Kubernetes service-account subjects
// differ.
func serviceAccountDiff(got, want string) string {
	const prefix = "system:serviceaccount:"
	g, ok1 := strings.CutPrefix(got, prefix)
	w, ok2 := strings.CutPrefix(want, prefix)
	if !ok1 || !ok2 {
		return ""
	}
	gns, gsa, ok1 := strings.Cut(g, ":")
	wns, wsa, ok2 := strings.Cut(w, ":")
	if !ok1 || !ok2 {
		return ""
	}
	switch {
	case gns != wns && gsa != wsa:
		return fmt.Sprintf("namespace is '%s' (expected '%s') and service account is '%s' (expected '%s')", gns, wns, gsa, wsa)
	case gns != wns:
		return fmt.Sprintf("namespace is '%s', expected '%s'", gns, wns)
	case gsa != wsa:
		return fmt.Sprintf("service account is '%s', expected '%s'", gsa, wsa)
	}
	return ""
}

// distance is the Levenshtein distance, bounded in cost by the 600-character
// limit on stored values.
func distance(a, b string) int {
	if len(a) > 2*maxLen || len(b) > 2*maxLen {
		return len(a) + len(b)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
