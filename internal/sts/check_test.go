package sts

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// countingSigner counts the tokens it signs.
type countingSigner struct {
	Signer
	n atomic.Int64
}

func (c *countingSigner) Sign(ctx context.Context, tenantID string, claims token.Claims) (string, error) {
	c.n.Add(1)
	return c.Signer.Sign(ctx, tenantID, claims)
}

// TestCheckAgreesWithExchange: Check gives the AADSTS code and message that
// Exchange gives, on every path through the checks, never signs a token,
// and adds the closest-credential diagnosis even where the token endpoint
// may not show it.
func TestCheckAgreesWithExchange(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	put := func(fc store.FederatedCredential) {
		t.Helper()
		fc.PrincipalID, fc.CreatedAt, fc.Audience = testObjectID, t0, federation.DefaultAudience
		if _, _, err := f.db.PutFederatedCredential(ctx, fc, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(store.FederatedCredential{Name: "team-wildcard", Issuer: extIssuer, Expression: "claims['sub'] matches 'system:serviceaccount:team-*:app'"})
	put(store.FederatedCredential{Name: "x", Issuer: extIssuer, Subject: "system:serviceaccount:legacy:app"}) // name too short today
	f.dir.Invalidate()
	signer := &countingSigner{Signer: f.keyring}
	checker := NewService(f.svc.cfg, f.dir, f.keys, signer, f.clock.Now)

	now := f.clock.Now()
	tests := []struct {
		name      string
		raw       string
		client    string
		code      int
		outcome   federation.Outcome
		matched   string // the matched or closest credential
		reason    string // in the diagnosis
		hint      bool   // the token endpoint's message has the hint too
		noClaims  bool
		noMatches bool
	}{
		{name: "match", raw: mint(t, now, assertion{}), outcome: federation.Matched, matched: "k8s-app"},
		{name: "wrong subject", raw: mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:default:web"}}),
			code: 700213, outcome: federation.SubjectMismatch, matched: "k8s-app", reason: "service account is 'web'", hint: true},
		{name: "wrong audience", raw: mint(t, now, assertion{claims: map[string]any{"aud": "api://other"}}),
			code: 70021, outcome: federation.AudienceMismatch, matched: "k8s-app", reason: "expects 'api://AzureADTokenExchange'", hint: true},
		{name: "trailing slash", raw: mint(t, now, assertion{claims: map[string]any{"iss": extIssuer + "/"}}),
			code: 700211, outcome: federation.IssuerMismatch, reason: "trailing slash", hint: true},
		{name: "expired", raw: mint(t, now.Add(-2*time.Hour), assertion{}),
			code: 700024, outcome: federation.Matched, matched: "k8s-app"},
		{name: "too long", raw: mint(t, now, assertion{claims: map[string]any{"exp": now.Add(26 * time.Hour).Unix()}}),
			code: 70023, outcome: federation.Matched, matched: "k8s-app"},
		{name: "credential that fails validation", raw: mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:legacy:app"}}),
			outcome: federation.Matched, matched: "x"},
		{name: "expression matches", raw: mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:team-blue:app"}}),
			outcome: federation.Matched, matched: "team-wildcard"},
		{name: "expression does not match", raw: mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:team-blue:web"}}),
			code: 700213, outcome: federation.SubjectMismatch, hint: true},
		// Unverifiable: the token endpoint names only what was presented,
		// the authorised caller of Check gets the diagnosis.
		{name: "unknown key", raw: mint(t, now, assertion{key: strayRSAKey(), kid: "stray", claims: map[string]any{"sub": "system:serviceaccount:default:web"}}),
			code: 700213, outcome: federation.SubjectMismatch, matched: "k8s-app", reason: "service account is 'web'"},
		{name: "bad signature", raw: mint(t, now, assertion{key: strayRSAKey()}),
			code: 700027, outcome: federation.Matched, matched: "k8s-app"},
		{name: "unreachable issuer", raw: mint(t, now, assertion{claims: map[string]any{"iss": failIssuer}}),
			code: 90061, outcome: federation.Matched, matched: "unreachable"},
		{name: "own issuer", raw: mint(t, now, assertion{claims: map[string]any{"iss": f.svc.Issuer(testTenant)}}),
			code: 700222, outcome: federation.IssuerMismatch},
		{name: "malformed", raw: "not.a.jwt", code: 50027, noClaims: true, noMatches: true},
		{name: "unknown client", raw: mint(t, now, assertion{}), client: otherClientID, code: 700016, noClaims: true, noMatches: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := tt.client
			if client == "" {
				client = testClientID
			}
			req := assertionRequest(tt.raw, vaultAud)
			req.ClientID = client
			_, exErr := f.svc.Exchange(ctx, testTenant, req)
			before := signer.n.Load()
			v, err := checker.Check(ctx, testTenant, client, tt.raw)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if n := signer.n.Load() - before; n != 0 {
				t.Errorf("Check signed %d tokens", n)
			}
			var want *Error
			if exErr != nil && !errors.As(exErr, &want) {
				t.Fatalf("Exchange: %v", exErr)
			}
			switch {
			case tt.code == 0 && (exErr != nil || v.Err != nil):
				t.Fatalf("Exchange: %v; Check: %v; want both to succeed", exErr, v.Err)
			case tt.code != 0 && (want == nil || want.Code != tt.code):
				t.Fatalf("Exchange: %v, want AADSTS%d", exErr, tt.code)
			case tt.code != 0 && (v.Err == nil || v.Err.Code != want.Code || v.Err.Err != want.Err || v.Err.Desc != want.Desc):
				t.Fatalf("Check: %v\nExchange: %v", v.Err, want)
			}
			if tt.code != 0 && strings.Contains(want.Desc, "Closest match") != tt.hint {
				t.Errorf("token endpoint hint = %v, want %v: %s", !tt.hint, tt.hint, want.Desc)
			}
			if (v.Claims == nil) != tt.noClaims {
				t.Errorf("Claims = %v, want nil: %v", v.Claims, tt.noClaims)
			}
			if tt.noMatches {
				if v.Match != nil {
					t.Errorf("Match = %+v, want none", v.Match)
				}
				return
			}
			if v.Match == nil {
				t.Fatal("no Match")
			}
			if v.Match.Outcome != tt.outcome {
				t.Errorf("Outcome = %v, want %v (%s)", v.Match.Outcome, tt.outcome, v.Match.Reason)
			}
			got := ""
			if v.Match.Matched != nil {
				got = v.Match.Matched.Name
			} else if v.Match.Closest != nil {
				got = v.Match.Closest.Name
			}
			if tt.matched != "" && got != tt.matched {
				t.Errorf("credential = %q, want %q", got, tt.matched)
			}
			if !strings.Contains(v.Match.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", v.Match.Reason, tt.reason)
			}
		})
	}
}
