package cli

import (
	"strings"
	"testing"

	"github.com/wifproject/wif/internal/arm/armapi"
)

// TestExplainVerdict: the token service's verdict becomes findings whose
// failed check and fix follow from its AADSTS code and credential match.
func TestExplainVerdict(t *testing.T) {
	claims := &armapi.ExplainTokenClaims{Issuer: "https://oidc.example/", Subject: "system:serviceaccount:prod:app", Audiences: []string{"api://AzureADTokenExchange"}}
	closest := &armapi.ExplainCredential{Name: "k8s", Issuer: "https://oidc.example", Subject: "system:serviceaccount:prod:app", Audience: "api://AzureADTokenExchange"}
	fail := func(code int) *armapi.ExplainTokenError {
		return &armapi.ExplainTokenError{Code: code, Error: "invalid_client", Message: "AADSTS"}
	}
	tests := []struct {
		name   string
		v      armapi.ExplainTokenResult
		aadsts int
		failed string // the failed check
		fixHas string
	}{
		{"success", armapi.ExplainTokenResult{Succeeded: true, Claims: claims,
			Credentials: &armapi.ExplainTokenMatch{Outcome: armapi.MatchMatched, Matched: closest}}, 0, "", ""},
		{"trailing slash", armapi.ExplainTokenResult{Error: fail(700211), Claims: claims,
			Credentials: &armapi.ExplainTokenMatch{Outcome: armapi.MatchIssuerMismatch, Closest: closest, Reason: "issuer differs only by a trailing slash"}},
			700211, "federated credential", `--issuer "https://oidc.example/" exactly`},
		{"no credentials", armapi.ExplainTokenResult{Error: fail(70021), Claims: claims,
			Credentials: &armapi.ExplainTokenMatch{Outcome: armapi.MatchNoCredentials}},
			70021, "federated credential", `--subject "system:serviceaccount:prod:app"`},
		{"expired", armapi.ExplainTokenResult{Error: fail(700024), Claims: claims,
			Credentials: &armapi.ExplainTokenMatch{Outcome: armapi.MatchMatched, Matched: closest}},
			700024, "validity", "kubelet refreshes"},
		{"signature", armapi.ExplainTokenResult{Error: fail(700027), Claims: claims,
			Credentials: &armapi.ExplainTokenMatch{Outcome: armapi.MatchMatched, Matched: closest}},
			700027, "signature", "export-keys"},
		{"malformed", armapi.ExplainTokenResult{Error: fail(50027)}, 50027, "token", "projected service-account token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &explanation{}
			explainVerdict(x, &tt.v, "my-identity", "myRG")
			if x.AADSTS != tt.aadsts {
				t.Errorf("AADSTS = %d, want %d", x.AADSTS, tt.aadsts)
			}
			var failed []string
			for _, f := range x.Findings {
				if !f.OK && f.Check != "token endpoint" {
					failed = append(failed, f.Check)
					if !strings.Contains(f.Fix, tt.fixHas) {
						t.Errorf("%s fix = %q, want it to contain %q", f.Check, f.Fix, tt.fixHas)
					}
				}
			}
			if want := tt.failed; (want == "" && len(failed) != 0) || (want != "" && (len(failed) != 1 || failed[0] != want)) {
				t.Errorf("failed checks = %v, want [%s]", failed, want)
			}
		})
	}
}
