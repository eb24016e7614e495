package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// explainOutput is what "wif explain -o json" prints.
type explainOutput struct {
	Verdict  string `json:"verdict"`
	AADSTS   int    `json:"aadsts"`
	Findings []struct {
		Check  string `json:"check"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"findings"`
}

// TestExplainAgreesWithTokenEndpoint: for each token, "wif explain" prints
// the AADSTS code that a real wif serve's token endpoint answers for the
// same token and identity (0 for a token issued), in JSON and in text, and
// names the cause. Neither the endpoint nor the CLI logs the token.
func TestExplainAgreesWithTokenEndpoint(t *testing.T) {
	f := newFixture(t)
	w, is := f.wif, f.iss
	// A credential stored before a rule tightened (a name too short today):
	// the token service matches it as stored, so explain must too.
	w.cli(t, "identity", "federated-credential", "create", "--name", "legacy-cred", "--identity-name", "my-app-identity", "-g", "myRG",
		"--issuer", is.URL, "--subject", "system:serviceaccount:legacy:app", "-o", "none")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(w.DataDir, "wif.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE federated_credentials SET name = 'x', name_key = 'x' WHERE name = 'legacy-cred'`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("renaming the credential: %v (%d rows)", err, n)
	}
	db.Close()
	// Any write through wif drops its directory cache.
	w.cli(t, "identity", "create", "-n", "cache-poke", "-g", "myRG", "-o", "none")

	now := time.Now()
	claims := func(edit func(map[string]any)) string {
		c := is.saClaims("default", "my-app-sa", now)
		if edit != nil {
			edit(c)
		}
		return is.mint(t, c)
	}
	sub := func(s string) func(map[string]any) {
		return func(c map[string]any) { c["sub"] = s }
	}
	tests := []struct {
		name    string
		token   string
		code    int    // what the token endpoint answers
		finding string // a failed explain finding, or "" on success
		detail  string // in the explain output
	}{
		{"match", claims(nil), 0, "", "matches credential 'my-federated-id'"},
		{"trailing slash in issuer", claims(func(c map[string]any) { c["iss"] = is.URL + "/" }), 700211, "federated credential", "trailing slash"},
		{"wrong subject", claims(sub("system:serviceaccount:default:other-sa")), 700213, "federated credential", "expects subject"},
		{"wrong audience", claims(func(c map[string]any) { c["aud"] = []string{"api://other"} }), 70021, "federated credential", "audience is 'api://other'"},
		{"expired token", claims(func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), 700024, "validity", "matches credential 'my-federated-id'"},
		{"credential that fails validation", claims(sub("system:serviceaccount:legacy:app")), 0, "", "matches credential 'x'"},
		{"expression credential matching", claims(sub("system:serviceaccount:team-blue:app")), 0, "", "matches credential 'team-apps'"},
		{"expression credential not matching", claims(sub("system:serviceaccount:team-blue:web")), 700213, "federated credential", "expects subject"},
		{"unreachable issuer", claims(func(c map[string]any) { c["iss"] = f.unreachable }), 90061, "issuer", ""},
	}
	kubeconfig := filepath.Join(t.TempDir(), "no-kubeconfig")
	var tokens []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens = append(tokens, tt.token)
			tr := w.postToken(t, f.tenant, url.Values{
				"grant_type": {"client_credentials"}, "client_id": {f.clientID}, "scope": {w.URL + "/.default"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tt.token},
			})
			endpoint := 0
			if len(tr.Codes) > 0 {
				endpoint = tr.Codes[0]
			}
			if tr.Status == 200 && tr.AccessToken == "" || tr.Status != 200 && endpoint == 0 {
				t.Fatalf("token endpoint: %d %+v", tr.Status, tr)
			}
			if endpoint != tt.code {
				t.Fatalf("token endpoint answered AADSTS%d (%s), the table expects %d", endpoint, tr.Description, tt.code)
			}

			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(tt.token), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"explain", "--token-file", file, "--identity", "my-app-identity", "-g", "myRG", "--kubeconfig", kubeconfig}
			out, err := w.tryCLI(append(args, "-o", "json")...)
			if (err == nil) != (tt.code == 0) {
				t.Errorf("wif explain exit: %v, want success %v\n%s", err, tt.code == 0, out)
			}
			var x explainOutput
			if jerr := json.Unmarshal([]byte(out), &x); jerr != nil {
				t.Fatalf("wif explain -o json: %v (%v)\n%s", jerr, err, out)
			}
			if x.AADSTS != endpoint {
				t.Errorf("wif explain says AADSTS%d, the token endpoint AADSTS%d\n%s", x.AADSTS, endpoint, out)
			}
			if tt.finding != "" {
				found := false
				for _, fd := range x.Findings {
					if fd.Check == tt.finding && !fd.OK && fd.Fix != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("no failed %q finding with a fix:\n%s", tt.finding, out)
				}
			}
			if !strings.Contains(out, tt.detail) {
				t.Errorf("explain output lacks %q:\n%s", tt.detail, out)
			}

			text, _ := w.tryCLI(args...)
			want := "Verdict: the exchange will succeed"
			if tt.code != 0 {
				want = fmt.Sprintf("Verdict: the exchange will fail with AADSTS%d", tt.code)
			}
			if !strings.Contains(text, want) {
				t.Errorf("text output lacks %q:\n%s", want, text)
			}
			if strings.Contains(out+text, tt.token) {
				t.Error("wif explain printed the token")
			}
		})
	}
	logs := readLogs(w)
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Error("wif serve logged a token")
		}
	}
}

// TestExplainNeedsReadOnTheIdentity: explainToken is authorised as reading
// the identity: a principal without a role there gets ARM's 403, and
// Reader on the identity alone is enough.
func TestExplainNeedsReadOnTheIdentity(t *testing.T) {
	f := newFixture(t)
	w, is := f.wif, f.iss
	id := "/subscriptions/" + w.Boot.SubscriptionID + "/resourceGroups/myRG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my-app-identity"
	// bare-identity, which holds no role, signs in with its own credential.
	w.cli(t, "identity", "federated-credential", "create", "--name", "bare-cred", "--identity-name", "bare-identity", "-g", "myRG",
		"--issuer", is.URL, "--subject", "system:serviceaccount:ops:bare", "-o", "none")
	tr := w.postToken(t, f.tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {f.bareClientID}, "scope": {w.URL + "/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {is.mint(t, is.saClaims("ops", "bare", time.Now()))}})
	if tr.AccessToken == "" {
		t.Fatalf("token for bare-identity: %+v", tr)
	}
	bareObject := strings.TrimSpace(w.cli(t, "identity", "show", "-n", "bare-identity", "-g", "myRG", "--query", "principalId", "-o", "tsv"))
	body := `{"token":"` + is.mint(t, is.saClaims("default", "my-app-sa", time.Now())) + `"}`
	explain := func() (int, []byte) {
		return postJSON(t, w, w.URL+id+"/explainToken?api-version=2024-11-30", tr.AccessToken, body)
	}
	if code, b := explain(); code != 403 || !strings.Contains(string(b), "AuthorizationFailed") || !strings.Contains(string(b), "userAssignedIdentities/read") {
		t.Errorf("explainToken without a role: %d %s, want 403 AuthorizationFailed for .../read", code, b)
	}
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", bareObject, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Reader", "--scope", id, "-o", "none")
	code, b := explain()
	var v struct {
		Succeeded   bool `json:"succeeded"`
		Credentials struct {
			Matched struct{ Name string } `json:"matched"`
		} `json:"credentials"`
	}
	if code != 200 || json.Unmarshal(b, &v) != nil || !v.Succeeded || v.Credentials.Matched.Name != "my-federated-id" {
		t.Errorf("explainToken as Reader of the identity: %d %s", code, b)
	}
	// The body must name a token.
	if code, b := postJSON(t, w, w.URL+id+"/explainToken?api-version=2024-11-30", tr.AccessToken, `{}`); code != 400 {
		t.Errorf("explainToken without a token: %d %s, want 400", code, b)
	}
}

func postJSON(t *testing.T, w *wifProc, u, bearer, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
