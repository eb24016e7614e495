// Package e2e runs wif as a real process and drives it with real clients:
// the wif CLI, the Azure SDK for Go (through examples/workload) and plain
// HTTP for the protocol edge cases.
package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/server"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wif-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, pkg := range []string{"./cmd/wif", "./examples/workload"} {
		cmd := exec.Command("go", "build", "-o", binDir+"/", pkg)
		cmd.Dir = "../.."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wifProc is a running "wif serve".
type wifProc struct {
	URL       string
	DataDir   string
	ConfigDir string // the CLI's WIF_CONFIG_DIR
	Boot      server.Bootstrap
	HTTP      *http.Client // trusts wif's CA
	Pid       int          // the wif serve process
	logs      *syncBuffer
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// syncBuffer is a goroutine-safe log sink.
// It does not embed bytes.Buffer: io.Copy would use the promoted ReadFrom
// and bypass the lock.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWif runs wif serve on a free loopback port and logs in the CLI with
// the bootstrap credentials.
func startWif(t testing.TB, args ...string) *wifProc {
	t.Helper()
	dataDir := t.TempDir()
	port := freePort(t)
	logs := &syncBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "wif"), append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("wif did not shut down within 10s of SIGINT")
		}
		if t.Failed() {
			t.Logf("wif logs:\n%s", tail(logs.String(), 4000))
		}
	})
	w := &wifProc{URL: "https://localhost:" + port, DataDir: dataDir, ConfigDir: t.TempDir(), Pid: cmd.Process.Pid, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
		if err == nil && json.Unmarshal(b, &w.Boot) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wif did not write bootstrap.json: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.HTTP = clientTrusting(t, w.Boot.CAFile)
	for {
		resp, err := w.HTTP.Get(w.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wif not healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.cli(t, "login", "--bootstrap", filepath.Join(dataDir, "bootstrap.json"))
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func clientTrusting(t testing.TB, caFile string) *http.Client {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
}

// cli runs the wif CLI and fails the test on error.
func (w *wifProc) cli(t testing.TB, args ...string) string {
	t.Helper()
	out, err := w.tryCLI(args...)
	if err != nil {
		t.Fatalf("wif %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// tryCLI runs the wif CLI; the error carries stderr.
func (w *wifProc) tryCLI(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "wif"), args...)
	cmd.Env = append(os.Environ(), "WIF_CONFIG_DIR="+w.ConfigDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// issuer is a Kubernetes-style OIDC issuer served over TLS: discovery and
// JWKS, with a switchable outage.
type issuer struct {
	URL    string
	CAFile string
	srv    *httptest.Server

	mu      sync.Mutex
	keys    []*rsa.PrivateKey
	kids    []string
	down    atomic.Bool
	garbage atomic.Bool
	fetches atomic.Int64
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	is := &issuer{}
	is.addKey(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/openid/v1/jwks",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		if is.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if is.garbage.Load() {
			w.Write([]byte(`{"keys": [{"kty": "RSA", "n": 12}`))
			return
		}
		is.mu.Lock()
		var set jose.JSONWebKeySet
		for i, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: is.kids[i], Algorithm: "RS256", Use: "sig"})
		}
		is.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewTLSServer(mux)
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	is.CAFile = filepath.Join(t.TempDir(), "issuer-ca.pem")
	if err := os.WriteFile(is.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return is
}

func (is *issuer) addKey(t testing.TB) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	is.kids = append(is.kids, fmt.Sprintf("key-%d", len(is.keys)))
}

// saClaims returns Kubernetes service-account token claims.
func (is *issuer) saClaims(ns, sa string, now time.Time) map[string]any {
	return map[string]any{
		"iss": is.URL, "sub": "system:serviceaccount:" + ns + ":" + sa, "aud": []string{"api://AzureADTokenExchange"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(now.UnixNano()),
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": sa, "uid": "0000"}},
	}
}

// mint signs claims with the issuer's newest key.
func (is *issuer) mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	is.mu.Lock()
	key, kid := is.keys[len(is.keys)-1], is.kids[len(is.kids)-1]
	is.mu.Unlock()
	return signJWT(t, jose.RS256, key, kid, claims)
}

func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenResponse is the union of success and error answers.
type tokenResponse struct {
	Status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   any    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	TraceID     string `json:"trace_id"`
	Correlation string `json:"correlation_id"`
	Timestamp   string `json:"timestamp"`
}

func (w *wifProc) postToken(t testing.TB, tenant string, form url.Values) tokenResponse {
	t.Helper()
	return w.postTokenRaw(t, tenant, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (w *wifProc) postTokenRaw(t testing.TB, tenant, contentType string, body io.Reader) tokenResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL+"/"+tenant+"/oauth2/v2.0/token", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := w.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("token response is not JSON (%d): %s", resp.StatusCode, b)
	}
	tr.Status = resp.StatusCode
	return tr
}
