package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/expression"
)

// TestSecurityExpressionCost: claims-matching expressions match in time
// linear in the claim. Ten credentials hold the worst patterns Parse allows
// (one piece of 575 characters after a star, which a backtracking or
// star-retrying matcher tries at every position), and unsigned-to-match
// assertions carry a 'sub' as long as an assertion allows. Each request
// must stay cheap: the old matcher spent tens of milliseconds of CPU per
// request here; the bound is generous for a loaded machine.
func TestSecurityExpressionCost(t *testing.T) {
	iss := newIssuer(t)
	caFile := filepath.Join(t.TempDir(), "issuer.pem")
	b, _ := os.ReadFile(iss.CAFile)
	os.WriteFile(caFile, b, 0o644)
	w := startWif(t, "--extra-ca-file", caFile)
	w.cli(t, "group", "create", "-n", "exprRG", "-l", "eastus")
	var id struct{ ClientID string }
	json.Unmarshal([]byte(w.cli(t, "identity", "create", "-n", "expr-id", "-g", "exprRG")), &id)

	const prefix = "claims['sub'] matches '"
	width := expression.MaxLength - len(prefix) - len("'") - 2 // the star and the final 'b'
	patterns := []string{
		"*" + strings.Repeat("a", width) + "b",
		"*" + strings.Repeat("a", width-1) + "?b",
	}
	for i := range 10 {
		expr := prefix + patterns[i%2] + "'"
		if len(expr) != expression.MaxLength {
			t.Fatalf("expression is %d characters, want the maximum %d", len(expr), expression.MaxLength)
		}
		w.cli(t, "identity", "federated-credential", "create", "--name", fmt.Sprintf("worst-%d", i), "--identity-name", "expr-id", "-g", "exprRG",
			"--issuer", iss.URL, "--claims-matching-expression", expr)
	}

	// The longest 'sub' that keeps the assertion under the 16 KiB limit.
	const n = 20
	now := time.Now()
	var forms []url.Values
	for i := range n {
		c := iss.saClaims("default", "x", now)
		c["sub"] = strings.Repeat("a", 11700)
		c["jti"] = fmt.Sprint(i)
		delete(c, "kubernetes.io")
		forms = append(forms, url.Values{"grant_type": {"client_credentials"}, "client_id": {id.ClientID}, "scope": {w.URL + "/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {iss.mint(t, c)}})
	}
	if l := len(forms[0].Get("client_assertion")); l > 16<<10 || l < 15<<10 {
		t.Fatalf("assertion is %d bytes, want just under 16 KiB", l)
	}
	// Warm up (connection, caches), then time the requests.
	w.postToken(t, w.Boot.TenantID, forms[0])
	start := time.Now()
	for _, f := range forms {
		tr := w.postToken(t, w.Boot.TenantID, f)
		if tr.Status != 401 && tr.Status != 400 || len(tr.Codes) != 1 || (tr.Codes[0] != 700213 && tr.Codes[0] != 70021) || tr.AccessToken != "" {
			t.Fatalf("pathological sub: %d %v %.200s, want a mismatch (AADSTS700213 or 70021)", tr.Status, tr.Codes, tr.Description)
		}
	}
	per := time.Since(start) / n
	t.Logf("%d requests against 10 worst-case expressions: %v per request", n, per)
	if per > 25*time.Millisecond {
		t.Errorf("a request against 10 worst-case expressions took %v on average, want well under 25ms", per)
	}
}
