package sts

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestResourcesKnown(t *testing.T) {
	rs, err := NewResources("https://wif.example:8443/", "vault.localhost", []string{"api://orders", "https://api.contoso.com/v1", "0B3C1A5E-4B6F-4C4E-9D51-3C1F4A2B7E10"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		resource string
		want     bool
	}{
		// ARM: the public URL, as az (double slash scope) and the SDKs send it.
		{"https://wif.example:8443", true},
		{"https://wif.example:8443/", true},
		{"HTTPS://WIF.Example:8443/", true},
		{"https://wif.example:8443/graph/", true},
		{"https://wif.example:8443//", true},
		{"https://wif.example", false},
		{"https://wif.example:9443/", false},
		{"https://wif.example:8443/other", false},
		{"https://management.azure.com/", true},
		{"https://management.azure.com", true},
		{"https://management.azure.com:443", true},
		{"https://Management.Core.Windows.Net/", true},
		{"http://management.azure.com/", false},
		{"https://management.azure.com.evil.example/", false},
		{"https://evil.example/https://management.azure.com/", false},
		{"https://management.azure.com/?x=1", false},
		{"https://management.azure.com/#f", false},
		{"https://management.azure.com/#", false},
		{"https://user@management.azure.com/", false},
		{"https://management%2eazure.com/", false},
		// Key Vault: Azure's, and wif's suffix with any port.
		{"https://vault.azure.net", true},
		{"https://vault.azure.net/", true},
		{"https://myvault.vault.azure.net", true},
		{"https://a.b.vault.azure.net", false},
		{"https://vault.azure.net:8443", false},
		{"https://vault.localhost", true},
		{"https://vault.localhost:8443", true},
		{"https://vault.localhost:1/", true},
		{"https://myvault.vault.localhost:8443", true},
		{"https://MyVault.Vault.Localhost:8443/", true},
		{"https://-x.vault.localhost", false},
		{"https://my_vault.vault.localhost", false},
		{"https://x.y.vault.localhost", false},
		{"https://vault.localhost/secrets", false},
		{"https://evilvault.localhost", false},
		// Storage, SQL, PostgreSQL.
		{"https://storage.azure.com/", true},
		{"https://account1.blob.core.windows.net", true},
		{"https://blob.core.windows.net", false},
		{"https://database.windows.net/", true},
		{"https://ossrdbms-aad.database.windows.net", true},
		{"https://other.database.windows.net", false},
		// Added by the operator.
		{"api://orders", true},
		{"api://orders/", true},
		{"API://ORDERS", true},
		{"api://other", false},
		{"https://api.contoso.com/v1", true},
		{"https://api.contoso.com/V1", false},
		{"https://api.contoso.com", false},
		{"0b3c1a5e-4b6f-4c4e-9d51-3c1f4a2b7e10", true},
		// Never known.
		{"", false},
		{"https://storage.localhost", false},
		{"api://AzureADTokenExchange", false},
		{"https://graph.microsoft.com", false},
		{"\u202ehttps://management.azure.com/", false},
		{"https://management.azure.com/\u202e", false},
		{"urn:orders", false},
		{"orders", false},
		{strings.Repeat("a", 20000), false},
	}
	for _, tt := range tests {
		if got := rs.Known(tt.resource); got != tt.want {
			t.Errorf("Known(%q) = %v, want %v", tt.resource, got, tt.want)
		}
	}
	var none *Resources
	if none.Known("https://management.azure.com/") {
		t.Error("a nil Resources knows a resource")
	}
}

func TestCheckAudience(t *testing.T) {
	for _, ok := range []string{"api://orders", "https://api.contoso.com/v1", "0b3c1a5e-4b6f-4c4e-9d51-3c1f4a2b7e10", "https://[::1]:8443"} {
		if err := CheckAudience(ok); err != nil {
			t.Errorf("CheckAudience(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "orders", "urn:orders", "https://", "https://x/?q", "https://x/#f", "https://u@x", "api://a\tb", "https://x/\u202e", "https://" + strings.Repeat("a", maxScope)} {
		if err := CheckAudience(bad); err == nil {
			t.Errorf("CheckAudience(%q) = nil, want an error", bad)
		}
	}
	if _, err := NewResources("https://wif.example", "vault.localhost", []string{"orders"}); err == nil {
		t.Error("NewResources accepted the audience \"orders\"")
	}
}

// TestHandlerUnknownResource: a token is issued only for a known resource;
// any other is AADSTS500011 (invalid_resource, 400) naming it and the
// tenant, before the client is authenticated. Overlong and unprintable
// scopes are AADSTS70011 and are not echoed.
func TestHandlerUnknownResource(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := newTestServer(t, f)
	tokenURL := srv.URL + "/" + testTenant + "/oauth2/v2.0/token"
	secret := func(k, v string) string {
		return url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testClientID}, "client_secret": {testSecret}, k: {v}}.Encode()
	}
	exchange := func(k, v string) string {
		return url.Values{"grant_type": {GrantTokenExchange}, "client_id": {testClientID}, "subject_token": {fakeJWT},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, k: {v}}.Encode()
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   int
		want   string // in the description
	}{
		{"known", secret("scope", vaultAud+"/.default"), 200, 0, ""},
		{"known, az double slash", secret("scope", testPublicURL+"//.default"), 200, 0, ""},
		{"unknown", secret("scope", "https://evil.example/.default"), 400, 500011, "The resource principal named https://evil.example was not found in the tenant named " + testTenant},
		{"unknown with a wrong secret", url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testClientID}, "client_secret": {"wrong"}, "scope": {"api://x/.default"}}.Encode(), 400, 500011, "api://x"},
		{"unknown by resource", exchange("resource", "https://evil.example"), 400, 500011, "https://evil.example"},
		{"unknown by audience", exchange("audience", "https://evil.example/.default"), 400, 500011, "https://evil.example"},
		{"U+202E", secret("scope", "\u202ehttps://vault.localhost:8443/.default"), 400, 70011, "U+202E"},
		{"U+202E in resource", exchange("resource", "https://vault.localhost:8443\u202e"), 400, 70011, "U+202E"},
		{"NUL", secret("scope", "https://vault.localhost:8443\x00/.default"), 400, 70011, "U+0000"},
		{"tab separator", secret("scope", "openid\thttps://vault.localhost:8443/.default"), 400, 70011, "U+0009"},
		{"invalid UTF-8", secret("scope", "https://vault.localhost:8443\xff/.default"), 400, 70011, "U+FFFD"},
		{"20,000 characters", secret("scope", "https://"+strings.Repeat("a", 20000)+"/.default"), 400, 70011, "more than the 2048 allowed"},
		{"20,000 characters of resource", exchange("resource", "https://"+strings.Repeat("a", 20000)), 400, 70011, "more than the 2048 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, tr := postForm(t, srv.Client(), tokenURL, "application/x-www-form-urlencoded", tt.body)
			if status != tt.status {
				t.Fatalf("status = %d, want %d (%+v)", status, tt.status, tr)
			}
			if tt.code == 0 {
				if tr.AccessToken == "" {
					t.Errorf("no token: %+v", tr)
				}
				return
			}
			if tr.AccessToken != "" || len(tr.ErrorCodes) != 1 || tr.ErrorCodes[0] != tt.code {
				t.Fatalf("error_codes = %v, token %q; want [%d]", tr.ErrorCodes, tr.AccessToken, tt.code)
			}
			if tt.code == 500011 && tr.Error != "invalid_resource" {
				t.Errorf("error = %q, want invalid_resource", tr.Error)
			}
			if !strings.Contains(tr.ErrorDesc, tt.want) {
				t.Errorf("error_description = %q, want it to contain %q", tr.ErrorDesc, tt.want)
			}
			if len(tr.ErrorDesc) > 1000 || strings.ContainsAny(tr.ErrorDesc, "\u202e\x00\t") {
				t.Errorf("error_description echoes the input: %.300q", tr.ErrorDesc)
			}
		})
	}
}

// TestHandlerIgnoresHost: the discovery documents, instance discovery and
// error_uri name the configured public URL, whatever the Host header says.
func TestHandlerIgnoresHost(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := newTestServer(t, f)
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "evil.example"
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{
		"/" + testTenant + "/v2.0/.well-known/openid-configuration",
		"/" + testTenant + "/.well-known/openid-configuration",
		"/common/v2.0/.well-known/openid-configuration",
		"/adfs/.well-known/openid-configuration",
		"/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://evil.example/"+testTenant+"/oauth2/v2.0/authorize"),
		"/nosuchtenant/v2.0/.well-known/openid-configuration",
	} {
		status, body := get(path)
		if strings.Contains(body, "evil.example") {
			t.Errorf("GET %s with Host evil.example (%d) reflects it: %s", path, status, body)
		}
		if !strings.Contains(body, testPublicURL) {
			t.Errorf("GET %s (%d) does not name the public URL %s: %s", path, status, testPublicURL, body)
		}
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	_, body := get("/" + testTenant + "/v2.0/.well-known/openid-configuration")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != f.svc.Issuer(testTenant) || doc.TokenEndpoint != testPublicURL+"/"+testTenant+"/oauth2/v2.0/token" || doc.JWKSURI != testPublicURL+"/"+testTenant+"/discovery/v2.0/keys" {
		t.Errorf("discovery = %+v", doc)
	}
	var inst struct {
		Endpoint string `json:"tenant_discovery_endpoint"`
		Metadata []struct {
			Aliases []string `json:"aliases"`
		} `json:"metadata"`
	}
	_, body = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://login.microsoftonline.com/"+testTenant+"/oauth2/v2.0/authorize"))
	if err := json.Unmarshal([]byte(body), &inst); err != nil {
		t.Fatal(err)
	}
	if want := testPublicURL + "/" + testTenant + "/v2.0/.well-known/openid-configuration"; inst.Endpoint != want {
		t.Errorf("tenant_discovery_endpoint = %q, want %q", inst.Endpoint, want)
	}
	if len(inst.Metadata) == 0 || len(inst.Metadata[0].Aliases) != 1 || inst.Metadata[0].Aliases[0] != strings.TrimPrefix(testPublicURL, "https://") {
		t.Errorf("metadata = %+v, want the public host as the first entry's alias", inst.Metadata)
	}
}
