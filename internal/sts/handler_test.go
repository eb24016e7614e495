package sts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func newTestServer(tb testing.TB, f *fixture) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	NewHandler(f.svc, f.clock.Now).Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

type tokenResponse struct {
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	ExtExpiresIn    int64  `json:"ext_expires_in"`
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`

	Error      string `json:"error"`
	ErrorDesc  string `json:"error_description"`
	ErrorCodes []int  `json:"error_codes"`
}

func postForm(tb testing.TB, client *http.Client, u, contentType, body string) (int, tokenResponse) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		tb.Fatalf("response %q is not JSON: %v", b, err)
	}
	return resp.StatusCode, tr
}

func TestHandlerToken(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := newTestServer(t, f)
	const form = "application/x-www-form-urlencoded"
	v2 := srv.URL + "/" + testTenant + "/oauth2/v2.0/token"
	secretBody := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testClientID}, "client_secret": {testSecret}, "scope": {vaultAud + "/.default"}}.Encode()

	tests := []struct {
		name   string
		url    string
		ctype  string
		body   string
		status int
		code   int    // AADSTS; 0 on success
		bug    string // known bug: skip with this text
	}{
		{"secret, v2 endpoint", v2, form, secretBody, 200, 0, ""},
		{"secret, v1 endpoint", srv.URL + "/" + testTenant + "/oauth2/token", form, secretBody, 200, 0, ""},
		{"secret, adfs", srv.URL + "/adfs/oauth2/token", form, secretBody, 200, 0, ""},
		{"content type with charset", v2, form + "; charset=utf-8", secretBody, 200, 0, ""},
		{"no content type", v2, "", secretBody, 200, 0, ""},
		{"query string", v2 + "?" + secretBody, form, "", 200, 0, ""},
		{"parameter in body and query", v2 + "?client_secret=wrong", form, secretBody, 400, 90023, ""},
		{"parameter twice in the body", v2, form, secretBody + "&client_secret=s3cret", 400, 90023, ""},
		{"bad escape", v2, form, secretBody + "&x=%zz", 400, 90023, ""},
		{"assertion, MSAL Go body", v2, form, "claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22CP1%22%5D%7D%7D%7D&client_assertion=" +
			mint(t, f.clock.Now(), assertion{}) + "%0A&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id=" + testClientID +
			"&client_info=1&grant_type=client_credentials&scope=https%3A%2F%2Fvault.localhost%3A8443%2F.default+openid+offline_access+profile", 200, 0, ""},
		{"JSON body", v2, "application/json", `{"grant_type":"client_credentials"}`, 400, 90023, ""},
		{"missing grant", v2, form, "client_id=x", 400, 900144, ""},
		{"wrong secret", v2, form, strings.Replace(secretBody, "s3cret", "wrong", 1), 401, 7000215, ""},
		{"no credential", v2, form, "grant_type=client_credentials&client_id=" + testClientID + "&scope=a/.default", 401, 7000218, ""},
		{"unknown tenant", srv.URL + "/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token", form, secretBody, 400, 90002, ""},
		{"body too large", v2, form, secretBody + "&pad=" + strings.Repeat("a", maxBody), 400, 90023, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, tr := postForm(t, srv.Client(), tt.url, tt.ctype, tt.body)
			if tt.bug != "" && status != tt.status {
				t.Fatalf("%s (status %d, %v)", tt.bug, status, tr.ErrorCodes)
			}
			if status != tt.status {
				t.Fatalf("status = %d, want %d (%+v)", status, tt.status, tr)
			}
			if tt.code != 0 {
				if len(tr.ErrorCodes) != 1 || tr.ErrorCodes[0] != tt.code || tr.Error == "" {
					t.Errorf("error_codes = %v, error = %q; want [%d]", tr.ErrorCodes, tr.Error, tt.code)
				}
				if !strings.HasPrefix(tr.ErrorDesc, "AADSTS") {
					t.Errorf("error_description = %q", tr.ErrorDesc)
				}
				return
			}
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.ExtExpiresIn != 3600 || tr.AccessToken == "" {
				t.Errorf("response = %+v", tr)
			}
			if _, err := f.verifier.Verify(context.Background(), tr.AccessToken, vaultAud); err != nil {
				t.Errorf("token does not verify: %v", err)
			}
		})
	}
}

// TestHandlerJWKS: tokens from the token endpoint verify with the tenant's
// published JWKS, as a resource server would check them.
func TestHandlerJWKS(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{alg: alg})
			srv := newTestServer(t, f)
			body := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testClientID}, "client_secret": {testSecret}, "scope": {vaultAud + "/.default"}}.Encode()
			status, tr := postForm(t, srv.Client(), srv.URL+"/"+testTenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", body)
			if status != 200 {
				t.Fatalf("token: %d %+v", status, tr)
			}
			resp, err := srv.Client().Get(srv.URL + "/" + testTenant + "/discovery/v2.0/keys")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var set jose.JSONWebKeySet
			if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tr.AccessToken, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("parse issued token: %v", err)
			}
			keys := set.Key(jws.Signatures[0].Header.KeyID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys for kid %q", len(keys), jws.Signatures[0].Header.KeyID)
			}
			if _, err := jws.Verify(keys[0]); err != nil {
				t.Errorf("issued token does not verify with the JWKS: %v", err)
			}
		})
	}
}
