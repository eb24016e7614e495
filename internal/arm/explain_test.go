package arm

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/sts"
)

// recordingChecker is an in-memory TokenChecker that records its calls and
// answers a fixed verdict.
type recordingChecker struct {
	mu      sync.Mutex
	calls   []string // tenant/clientID
	verdict sts.Verdict
}

func (c *recordingChecker) Check(_ context.Context, tenant, clientID, assertion string) (sts.Verdict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, tenant+"/"+clientID)
	return c.verdict, nil
}

func (c *recordingChecker) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// TestExplainToken: POST {identity}/explainToken is authorised as reading
// the identity, checks the token for the identity's own client id and
// tenant, and renders the verdict without echoing the token.
func TestExplainToken(t *testing.T) {
	h, _ := fixture(t)
	exp := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	checker := &recordingChecker{verdict: sts.Verdict{
		Err:    &sts.Error{Code: 700213, Err: "invalid_client", Desc: "No matching federated identity record found for presented assertion subject 'system:serviceaccount:prod:app'."},
		Claims: &oidc.Claims{Issuer: "https://oidc.example", Subject: "system:serviceaccount:prod:app", Audience: []string{federation.DefaultAudience}, Expiry: exp},
		Match: &federation.Result{Outcome: federation.SubjectMismatch, Reason: "namespace is 'prod', expected 'default'",
			Closest: &federation.Credential{Name: "k8s", Issuer: "https://oidc.example", Subject: "system:serviceaccount:default:app", Audience: federation.DefaultAudience}},
	}}
	h.cfg.Tokens = checker
	const secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	body := `{"token":"` + secret + `"}`
	rg2mi := rg2 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	run(t, h, []step{
		{name: "Contributor on rg1", method: "POST", path: mi1 + "/explainToken" + v, body: body, status: 200,
			check: func(t *testing.T, r testResponse) {
				got := into[armapi.ExplainTokenResult](t, r)
				if got.Succeeded || got.Error == nil || got.Error.Code != 700213 || !strings.HasPrefix(got.Error.Message, "AADSTS700213: No matching") || got.Error.Error != "invalid_client" {
					t.Errorf("error = %+v", got.Error)
				}
				if got.ClientID != guidN(20) || got.TenantID != testTenant {
					t.Errorf("client %s tenant %s, want id1's", got.ClientID, got.TenantID)
				}
				if c := got.Claims; c == nil || c.Subject != "system:serviceaccount:prod:app" || c.ExpiresOn == nil || !c.ExpiresOn.Equal(exp) || c.IssuedAt != nil {
					t.Errorf("claims = %+v", got.Claims)
				}
				if m := got.Credentials; m == nil || m.Outcome != armapi.MatchSubjectMismatch || m.Closest == nil || m.Closest.Name != "k8s" || m.Reason == "" {
					t.Errorf("credentials = %+v", got.Credentials)
				}
				if strings.Contains(string(r.body), secret) {
					t.Error("the answer echoes the token")
				}
			}},
		{name: "a Reader", token: readerToken, method: "POST", path: mi1 + "/explainToken" + v, body: body, status: 200},
		{name: "no role on rg2", method: "POST", path: rg2mi + "/explainToken" + v, body: body, status: 403, code: "AuthorizationFailed",
			check: func(t *testing.T, r testResponse) {
				if !strings.Contains(string(r.body), "userAssignedIdentities/read") {
					t.Errorf("denial does not name the read action: %s", r.body)
				}
			}},
		{name: "missing identity", method: "POST", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope/explainToken" + v, body: body, status: 404, code: "ResourceNotFound"},
		{name: "no token", method: "POST", path: mi1 + "/explainToken" + v, body: `{}`, status: 400, code: "InvalidRequestContent"},
		{name: "unknown field", method: "POST", path: mi1 + "/explainToken" + v, body: `{"token":"a","clientId":"b"}`, status: 400, code: "InvalidRequestContent"},
		{name: "null body", method: "POST", path: mi1 + "/explainToken" + v, body: `null`, status: 400, code: "InvalidRequestContent"},
		{name: "no api-version", method: "POST", path: mi1 + "/explainToken", body: body, status: 400, code: "MissingApiVersionParameter"},
		{name: "GET", method: "GET", path: mi1 + "/explainToken" + v, status: 404, code: "NoRegisteredProviderFound"},
	})
	if calls := checker.Calls(); len(calls) != 2 || calls[0] != testTenant+"/"+guidN(20) || calls[1] != calls[0] {
		t.Errorf("Check calls = %v, want two for id1 in rg1 (none for refused requests)", calls)
	}

	// A success renders the matched credential.
	checker.verdict = sts.Verdict{Claims: checker.verdict.Claims, Match: &federation.Result{Outcome: federation.Matched,
		Matched: &federation.Credential{Name: "k8s", Issuer: "https://oidc.example", Subject: "system:serviceaccount:prod:app", Audience: federation.DefaultAudience}}}
	run(t, h, []step{{name: "success", method: "POST", path: mi1 + "/explainToken" + v, body: body, status: 200,
		check: func(t *testing.T, r testResponse) {
			got := into[armapi.ExplainTokenResult](t, r)
			if !got.Succeeded || got.Error != nil || got.Credentials == nil || got.Credentials.Outcome != armapi.MatchMatched || got.Credentials.Matched.Name != "k8s" {
				t.Errorf("result = %s", r.body)
			}
		}}})

	// Without a token service the route does not exist.
	h.cfg.Tokens = nil
	run(t, h, []step{{name: "no token service", method: "POST", path: mi1 + "/explainToken" + v, body: body, status: 404, code: "NoRegisteredProviderFound"}})
}
