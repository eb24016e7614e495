package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityResource: a real wif serve issues tokens only for the
// resources it knows (ARM, vaults, the other Azure resources clients name,
// and --audience), and answers any other as Entra does: AADSTS500011,
// invalid_resource, 400, naming the resource and the tenant. Overlong scopes
// and scopes with control or formatting characters are AADSTS70011 and are
// not echoed.
func TestSecurityResource(t *testing.T) {
	w := startWif(t, "--audience", "api://orders", "--audience", "https://api.contoso.com/v1")
	tenant := w.Boot.TenantID
	secret := func(k, v string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID}, "client_secret": {w.Boot.ClientSecret}, k: {v}}
	}
	port := strings.TrimPrefix(w.URL, "https://localhost:")

	t.Run("known", func(t *testing.T) {
		for _, scope := range []string{
			w.URL + "//.default", // az
			w.URL + "/.default",  // the Go SDK
			strings.TrimSuffix(w.Boot.ARMEndpoint, "/") + "/.default",
			"https://management.azure.com//.default",
			"https://management.core.windows.net//.default",
			"https://vault.localhost:" + port + "/.default", // the Key Vault challenge's resource
			"https://vault.localhost/.default",
			"https://myvault.vault.localhost:" + port + "/.default",
			"https://vault.azure.net/.default",
			"https://storage.azure.com/.default",
			"https://database.windows.net//.default",
			"https://ossrdbms-aad.database.windows.net/.default",
			"api://orders/.default",
			"https://api.contoso.com/v1/.default openid profile offline_access",
		} {
			if tr := w.postToken(t, tenant, secret("scope", scope)); tr.Status != 200 || tr.AccessToken == "" {
				t.Errorf("scope %q: %d %s", scope, tr.Status, tr.Description)
			}
		}
	})

	tests := []struct {
		name   string
		form   url.Values
		code   int
		oauth  string
		naming string // in the description
	}{
		{"unknown", secret("scope", "https://evil.example/.default"), 500011, "invalid_resource", "The resource principal named https://evil.example was not found in the tenant named " + tenant},
		{"unknown api://", secret("scope", "api://other/.default"), 500011, "invalid_resource", "api://other"},
		{"look-alike host", secret("scope", "https://management.azure.com.evil.example/.default"), 500011, "invalid_resource", "management.azure.com.evil.example"},
		{"unknown with a wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID}, "client_secret": {"wrong"}, "scope": {"https://evil.example/.default"}}, 500011, "invalid_resource", "https://evil.example"},
		{"unknown by resource", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {w.Boot.ClientID},
			"subject_token": {"a.b.c"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "resource": {"https://evil.example"}}, 500011, "invalid_resource", "https://evil.example"},
		{"20,000 characters", secret("scope", "https://"+strings.Repeat("a", 20000)+"/.default"), 70011, "invalid_scope", "more than the 2048 allowed"},
		{"U+202E", secret("scope", "\u202ehttps://management.azure.com/.default"), 70011, "invalid_scope", "U+202E"},
		{"U+202E inside", secret("scope", "https://vault.localhost:"+port+"\u202e/.default"), 70011, "invalid_scope", "U+202E"},
		{"NUL", secret("scope", "https://vault.localhost\x00/.default"), 70011, "invalid_scope", "U+0000"},
		{"escape sequence", secret("scope", "https://vault.localhost\x1b[2J/.default"), 70011, "invalid_scope", "U+001B"},
		{"line break", secret("scope", "https://vault.localhost/.default\r\nopenid"), 70011, "invalid_scope", "U+000D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := w.postToken(t, tenant, tt.form)
			if tr.Status != 400 || tr.AccessToken != "" || len(tr.Codes) != 1 || tr.Codes[0] != tt.code || tr.Error != tt.oauth {
				t.Fatalf("got %d %q %v %q, want 400 %s [%d] and no token", tr.Status, tr.Error, tr.Codes, tr.Description, tt.oauth, tt.code)
			}
			if !strings.Contains(tr.Description, tt.naming) {
				t.Errorf("description %q does not contain %q", tr.Description, tt.naming)
			}
			if len(tr.Description) > 1000 || strings.ContainsAny(tr.Description, "\u202e\x00\x1b") {
				t.Errorf("description echoes the input: %.300q", tr.Description)
			}
		})
	}

	t.Run("bad --audience", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "wif"), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
			"--audience", "orders", "--audience", "api://a\tb").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--audience") || strings.Count(string(out), "--audience") < 2 {
			t.Errorf("wif serve with bad audiences: %v\n%s", err, out)
		}
	})
}

// TestSecurityDiscoveryHost: the discovery documents, MSAL's instance
// discovery and error_uri name the configured public URL, never the Host
// header of the request.
func TestSecurityDiscoveryHost(t *testing.T) {
	w := startWif(t)
	tenant := w.Boot.TenantID
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, w.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "evil.example"
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := w.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/" + tenant + "/v2.0/.well-known/openid-configuration", ""},
		{"GET", "/" + tenant + "/.well-known/openid-configuration", ""},
		{"GET", "/organizations/v2.0/.well-known/openid-configuration", ""},
		{"GET", "/adfs/.well-known/openid-configuration", ""},
		{"GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://evil.example/"+tenant+"/oauth2/v2.0/authorize"), ""},
		{"GET", "/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration", ""},
		{"POST", "/" + tenant + "/oauth2/v2.0/token", "grant_type=client_credentials&client_id=x"},
		{"POST", "/" + tenant + "/oauth2/v2.0/token", "grant_type=client_credentials&client_id=" + w.Boot.ClientID + "&client_secret=s&scope=https://unknown.example/.default"},
	} {
		status, body := do(c.method, c.path, c.body)
		if strings.Contains(body, "evil.example") {
			t.Errorf("%s %s with Host evil.example (%d) reflects it: %s", c.method, c.path, status, body)
		}
		if !strings.Contains(body, w.URL) {
			t.Errorf("%s %s (%d) does not name the public URL %s: %s", c.method, c.path, status, w.URL, body)
		}
		if status >= 500 {
			t.Errorf("%s %s: status %d", c.method, c.path, status)
		}
	}
	var e struct {
		URI string `json:"error_uri"`
	}
	_, body := do("POST", "/"+tenant+"/oauth2/v2.0/token", "grant_type=password")
	if json.Unmarshal([]byte(body), &e); e.URI != w.URL+"/error?code=70003" {
		t.Errorf("error_uri = %q, want %s/error?code=70003", e.URI, w.URL)
	}
}
