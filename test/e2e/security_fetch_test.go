package e2e

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 13, items 3 and 4: issuer fetches are no SSRF channel, and nothing
// configured or fetched reaches a caller whose assertion is not verified.

const fetchTestSubject = "system:serviceaccount:default:fetch-sa"

// fetchFixture is a wif serve trusting a test issuer (is) and a broken
// issuer server (broken), with an identity per scenario.
type fetchFixture struct {
	w      *wifProc
	is     *issuer
	broken *httptest.Server
	hits   *atomic.Int64 // requests the broken server received
	tenant string
}

func newFetchFixture(t *testing.T, args ...string) *fetchFixture {
	t.Helper()
	is := newIssuer(t)
	var hits atomic.Int64
	// Each path prefix is an issuer that fails one way.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		base := "https://" + r.Host
		switch {
		case r.URL.Path == "/status500/.well-known/openid-configuration":
			http.Error(w, "boom-detail-from-issuer", http.StatusInternalServerError)
		case r.URL.Path == "/badjson/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer": "` + base + `/badjson", "jwks_uri": `))
		case r.URL.Path == "/wrongissuer/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://fetched-doc-issuer.example/leak", "jwks_uri": base + "/wrongissuer/jwks"})
		case r.URL.Path == "/jwks500/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": base + "/jwks500", "jwks_uri": base + "/jwks500/jwks"})
		case r.URL.Path == "/jwks500/jwks":
			http.Error(w, "boom-detail-from-jwks", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	})
	broken := httptest.NewTLSServer(mux)
	t.Cleanup(broken.Close)
	caFile := filepath.Join(t.TempDir(), "issuers.pem")
	a, _ := os.ReadFile(is.CAFile)
	os.WriteFile(caFile, append(a, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: broken.Certificate().Raw})...), 0o644)
	w := startWif(t, append([]string{"--extra-ca-file", caFile}, args...)...)
	w.cli(t, "group", "create", "-n", "fetchRG", "-l", "eastus")
	return &fetchFixture{w: w, is: is, broken: broken, hits: &hits, tenant: w.Boot.TenantID}
}

// identity creates an identity with one credential per issuer (named
// name-0, name-1, ...) and returns its client id.
func (f *fetchFixture) identity(t *testing.T, name, subject, audience string, issuers ...string) string {
	t.Helper()
	var id struct{ ClientID string }
	json.Unmarshal([]byte(f.w.cli(t, "identity", "create", "-n", name, "-g", "fetchRG")), &id)
	for i, iss := range issuers {
		args := []string{"identity", "federated-credential", "create", "--name", name + "-fic-" + string(rune('a'+i)), "--identity-name", name, "-g", "fetchRG",
			"--issuer", iss, "--subject", subject}
		if audience != "" {
			args = append(args, "--audiences", audience)
		}
		f.w.cli(t, args...)
	}
	return id.ClientID
}

// exchange posts a client-assertion request and returns the status and
// the raw body.
func (f *fetchFixture) exchange(t *testing.T, clientID, assertion string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://vault.localhost/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	resp, err := f.w.HTTP.PostForm(f.w.URL+"/"+f.tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fetchFixture) claims(iss, sub, aud string) map[string]any {
	c := f.is.saClaims("default", "fetch-sa", time.Now())
	c["iss"], c["sub"], c["aud"] = iss, sub, aud
	return c
}

// wantAADSTS checks a 4xx Entra error with exactly code.
func wantAADSTS(t *testing.T, status int, body string, code int) {
	t.Helper()
	var e struct {
		Codes       []int  `json:"error_codes"`
		Description string `json:"error_description"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not JSON (%d): %s", status, body)
	}
	if status < 400 || status >= 500 || len(e.Codes) != 1 || e.Codes[0] != code || e.AccessToken != "" {
		t.Fatalf("got %d %v, want 4xx AADSTS%d: %s", status, e.Codes, code, e.Description)
	}
}

// waitLog waits for the buffered log to contain s.
func waitLog(t *testing.T, w *wifProc, s string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := readLogs(w)
		if strings.Contains(logs, s) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("log does not contain %q:\n%s", s, tail(logs, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func forgeSignature(jwt string) string {
	parts := strings.Split(jwt, ".")
	return parts[0] + "." + parts[1] + ".AAAA"
}

// TestSecurityFetchMetadataRefused: a credential may name the cloud
// metadata address, but wif never connects to it.
func TestSecurityFetchMetadataRefused(t *testing.T) {
	f := newFetchFixture(t)
	for _, iss := range []string{"https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://metadata.google.internal/"} {
		t.Run(iss, func(t *testing.T) {
			client := f.identity(t, "meta-"+strings.Trim(strings.NewReplacer(":", "", "/", "", ".", "", "[", "", "]", "").Replace(strings.TrimPrefix(iss, "https://")), "-"),
				fetchTestSubject, "", iss)
			start := time.Now()
			status, body := f.exchange(t, client, f.is.mint(t, f.claims(iss, fetchTestSubject, "api://AzureADTokenExchange")))
			wantAADSTS(t, status, body, 90061)
			if !strings.Contains(body, iss) {
				t.Errorf("body does not name the issuer: %s", body)
			}
			if strings.Contains(body, "refused") || strings.Contains(body, "metadata address") {
				t.Errorf("body carries fetch details: %s", body)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("exchange took %v: wif waited on the network", d)
			}
		})
	}
	// The refusal comes from the dial guard, before any connection.
	for _, want := range []string{"fetch refused by policy: 169.254.169.254 (169.254.169.254) is a link-local or cloud metadata address",
		"fetch refused by policy: fd00:ec2::254", "fetch refused by policy: metadata.google.internal is a cloud metadata host"} {
		waitLog(t, f.w, want)
	}
}

// TestSecurityFetchAllowList: --issuer-fetch-allow admits only the listed
// hosts and prefixes; the address is checked as dialled.
func TestSecurityFetchAllowList(t *testing.T) {
	t.Run("other prefix and host refuse a loopback issuer", func(t *testing.T) {
		f := newFetchFixture(t, "--issuer-fetch-allow", "10.0.0.0/8,oidc.example.com", "--issuer-fetch-allow", "192.168.0.0/16")
		before := f.is.fetches.Load()
		client := f.identity(t, "allow-refused", fetchTestSubject, "", f.is.URL)
		status, body := f.exchange(t, client, f.is.mint(t, f.claims(f.is.URL, fetchTestSubject, "api://AzureADTokenExchange")))
		wantAADSTS(t, status, body, 90061)
		if n := f.is.fetches.Load() - before; n != 0 {
			t.Errorf("issuer served %d JWKS requests", n)
		}
		waitLog(t, f.w, "is not in the issuer fetch allow-list")
	})
	t.Run("listed prefix admits it", func(t *testing.T) {
		f := newFetchFixture(t, "--issuer-fetch-allow", "127.0.0.0/8")
		client := f.identity(t, "allow-ok", fetchTestSubject, "", f.is.URL)
		status, body := f.exchange(t, client, f.is.mint(t, f.claims(f.is.URL, fetchTestSubject, "api://AzureADTokenExchange")))
		if status != 200 || !strings.Contains(body, "access_token") {
			t.Fatalf("exchange with an allowed issuer: %d %s", status, body)
		}
	})
	t.Run("a bad entry stops serve", func(t *testing.T) {
		w := &wifProc{ConfigDir: t.TempDir()}
		out, err := w.tryCLI("serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--issuer-fetch-allow", "https://oidc.example.com")
		if err == nil || !strings.Contains(err.Error(), "--issuer-fetch-allow") {
			t.Fatalf("serve with a bad --issuer-fetch-allow: %v %s", err, out)
		}
	})
}

// TestSecurityFetchErrorsSayLittle: a failed fetch tells the caller the
// issuer it presented and nothing the fetch returned.
func TestSecurityFetchErrorsSayLittle(t *testing.T) {
	f := newFetchFixture(t)
	base := f.broken.URL
	for _, tc := range []struct{ name, path string }{
		{"discovery HTTP 500", "/status500"},
		{"discovery invalid JSON", "/badjson"},
		{"discovery names another issuer", "/wrongissuer"},
		{"JWKS HTTP 500", "/jwks500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := base + tc.path
			client := f.identity(t, "broken"+strings.TrimPrefix(tc.path, "/"), fetchTestSubject, "", iss)
			status, body := f.exchange(t, client, f.is.mint(t, f.claims(iss, fetchTestSubject, "api://AzureADTokenExchange")))
			wantAADSTS(t, status, body, 90061)
			if !strings.Contains(body, "'"+iss+"'") {
				t.Errorf("body does not name the issuer: %s", body)
			}
			for _, leak := range []string{"boom-detail", "HTTP status", "status 500", "invalid JSON", "unexpected end", "fetched-doc-issuer.example", "does not match", "/jwks500/jwks", "oidc:"} {
				if strings.Contains(body, leak) {
					t.Errorf("body discloses %q: %s", leak, body)
				}
			}
		})
	}
	if f.hits.Load() == 0 {
		t.Fatal("the broken issuer was never fetched")
	}
	for _, want := range []string{"HTTP status 500", "invalid JSON", "fetched-doc-issuer.example"} {
		waitLog(t, f.w, want)
	}
}

// TestSecurityMismatchHint: a caller with only a tenant and a client id
// cannot read another team's credential; a properly signed assertion gets
// the closest-credential hint.
func TestSecurityMismatchHint(t *testing.T) {
	f := newFetchFixture(t)
	const (
		secretSub = "system:serviceaccount:team-red:payments"
		secretAud = "api://team-red-audience"
	)
	client := f.identity(t, "team-red", secretSub, secretAud, f.is.URL)
	secrets := []string{secretSub, secretAud, "team-red-fic", "Closest match"}
	wantPresented := func(t *testing.T, body string, vals ...string) {
		t.Helper()
		for _, v := range vals {
			if !strings.Contains(body, v) {
				t.Errorf("body does not name the presented %q: %s", v, body)
			}
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("body discloses %q: %s", s, body)
			}
		}
	}

	otherSub := "system:serviceaccount:team-blue:payments"
	slashed := f.is.URL + "/"
	t.Run("forged, subject", func(t *testing.T) {
		status, body := f.exchange(t, client, forgeSignature(f.is.mint(t, f.claims(f.is.URL, otherSub, "api://AzureADTokenExchange"))))
		wantAADSTS(t, status, body, 700213)
		wantPresented(t, body, f.is.URL, otherSub)
	})
	t.Run("forged, audience", func(t *testing.T) {
		// The subject is guessed right: the audience must still not leak.
		status, body := f.exchange(t, client, forgeSignature(f.is.mint(t, f.claims(f.is.URL, secretSub, "api://AzureADTokenExchange"))))
		wantAADSTS(t, status, body, 70021)
		for _, s := range []string{secretAud, "team-red-fic", "Closest match"} {
			if strings.Contains(body, s) {
				t.Errorf("body discloses %q: %s", s, body)
			}
		}
	})
	t.Run("forged, trailing slash", func(t *testing.T) {
		status, body := f.exchange(t, client, forgeSignature(f.is.mint(t, f.claims(slashed, secretSub, "api://AzureADTokenExchange"))))
		wantAADSTS(t, status, body, 700211)
		for _, s := range []string{secretAud, "team-red-fic", "Closest match"} {
			if strings.Contains(body, s) {
				t.Errorf("body discloses %q: %s", s, body)
			}
		}
	})
	t.Run("signed by a stranger", func(t *testing.T) {
		stranger := newIssuer(t)
		status, body := f.exchange(t, client, stranger.mint(t, f.claims(f.is.URL, otherSub, "api://AzureADTokenExchange")))
		wantAADSTS(t, status, body, 700213)
		wantPresented(t, body, otherSub)
	})
	t.Run("signed, subject", func(t *testing.T) {
		status, body := f.exchange(t, client, f.is.mint(t, f.claims(f.is.URL, otherSub, secretAud)))
		wantAADSTS(t, status, body, 700213)
		if !strings.Contains(body, "Closest match") || !strings.Contains(body, "namespace is 'team-blue', expected 'team-red'") {
			t.Errorf("a verified assertion gets no hint: %s", body)
		}
	})
	t.Run("signed, trailing slash", func(t *testing.T) {
		status, body := f.exchange(t, client, f.is.mint(t, f.claims(slashed, secretSub, secretAud)))
		wantAADSTS(t, status, body, 700211)
		if !strings.Contains(body, "trailing slash") || !strings.Contains(body, "team-red-fic-a") {
			t.Errorf("a verified assertion gets no hint: %s", body)
		}
	})
}
