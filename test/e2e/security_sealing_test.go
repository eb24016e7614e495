package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/seal/sealtest"
	_ "modernc.org/sqlite"
)

// serveAt runs wif serve on dataDir and port, with args, until stop is
// called (or the test ends).
func serveAt(t *testing.T, dataDir, port, configDir string, args ...string) (w *wifProc, stop func()) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "wif"), append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			// A replica the test killed (kill -9) is not a failure.
			if err != nil && err.Error() != "signal: killed" {
				t.Errorf("wif serve exited with %v:\n%s", err, tail(logs.String(), 4000))
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("wif did not shut down within 10s of SIGINT")
		}
	}
	t.Cleanup(stop)
	w = &wifProc{URL: "https://localhost:" + port, DataDir: dataDir, ConfigDir: configDir, Pid: cmd.Process.Pid, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "Trust wif's CA") {
		if time.Now().After(deadline) {
			t.Fatalf("wif did not start:\n%s", tail(logs.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
	if err != nil || json.Unmarshal(b, &w.Boot) != nil {
		t.Fatalf("bootstrap.json: %v", err)
	}
	w.HTTP = clientTrusting(t, w.Boot.CAFile)
	return w, stop
}

func getBody(t *testing.T, c *http.Client, u, bearer string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func armToken(t *testing.T, w *wifProc) string {
	t.Helper()
	tr := w.postToken(t, w.Boot.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
		"client_secret": {w.Boot.ClientSecret}, "scope": {"https://management.azure.com/.default"}})
	if tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("token: %d %s %s", tr.Status, tr.Error, tr.Description)
	}
	return tr.AccessToken
}

// TestSealedKeysAtRest: the database file holds no private key in the
// clear (every stored key column is tried as PKCS#8, PKCS#1 and SEC 1),
// a restart still serves the same key sets and accepts tokens signed before
// it, and a start with another kek.bin is refused without harming the store.
func TestSealedKeysAtRest(t *testing.T) {
	dataDir, port, configDir := t.TempDir(), freePort(t), t.TempDir()
	w, stop := serveAt(t, dataDir, port, configDir)
	w.cli(t, "login", "--bootstrap", filepath.Join(dataDir, "bootstrap.json"))
	w.cli(t, "group", "create", "-n", "myRG", "-l", "eastus", "-o", "none")
	w.cli(t, "aks", "create", "-g", "myRG", "-n", "myCluster", "-o", "none")
	w.cli(t, "aks", "update", "-g", "myRG", "-n", "myCluster", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	issuer := strings.TrimSpace(w.cli(t, "aks", "show", "-n", "myCluster", "-g", "myRG", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	keyDir := t.TempDir()
	w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", keyDir)
	saKey := readPEM(t, filepath.Join(keyDir, "sa.key"))

	tenantJWKSURL := w.URL + "/" + w.Boot.TenantID + "/discovery/v2.0/keys"
	jwksBefore := map[string][]byte{}
	for _, u := range []string{tenantJWKSURL, issuer + "openid/v1/jwks"} {
		code, b := getBody(t, w.HTTP, u, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u, code, b)
		}
		jwksBefore[u] = b
	}
	before := armToken(t, w)
	stop()

	// No stored private key parses, and the file and its log do not hold
	// the exported cluster key.
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "wif.db"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for k, v := range sealtest.StoredPrivateKeys(t, db) {
		table, _, _ := strings.Cut(k, "/")
		counts[table]++
		if sealtest.ParsesAsPrivateKey(v) {
			t.Errorf("%s: private_key is a key in the clear", k)
		}
	}
	db.Close()
	if counts["signing"] == 0 || counts["cluster"] == 0 {
		t.Fatalf("stored private keys: %v, want some of each", counts)
	}
	for _, f := range []string{"wif.db", "wif.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dataDir, f))
		if err == nil && bytes.Contains(b, saKey) {
			t.Errorf("%s holds the cluster's private key in the clear", f)
		}
	}

	// The restart serves the same keys and accepts the earlier token.
	w, stop = serveAt(t, dataDir, port, configDir)
	for u, want := range jwksBefore {
		if code, b := getBody(t, w.HTTP, u, ""); code != 200 || !bytes.Equal(b, want) {
			t.Errorf("GET %s after restart: %d %s\nwant %s", u, code, b, want)
		}
	}
	if code, b := getBody(t, w.HTTP, w.URL+"/subscriptions?api-version=2022-12-01", before); code != 200 {
		t.Errorf("token from before the restart: %d %s", code, b)
	}
	after := armToken(t, w)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwksBefore[tenantJWKSURL], &set); err != nil {
		t.Fatal(err)
	}
	if jws, err := jose.ParseSigned(after, []jose.SignatureAlgorithm{jose.RS256, jose.ES256}); err != nil {
		t.Error(err)
	} else if _, err := jws.Verify(set); err != nil {
		t.Errorf("token after the restart does not verify with the key set from before: %v", err)
	}
	keyDir2 := t.TempDir()
	w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", keyDir2)
	if !bytes.Equal(readPEM(t, filepath.Join(keyDir2, "sa.key")), saKey) {
		t.Error("the cluster's signing key changed across the restart")
	}
	stop()

	// Another kek.bin: refused with a clear message, and the store is
	// intact once the original is back.
	kekPath := filepath.Join(dataDir, "kek.bin")
	orig, err := os.ReadFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	other := make([]byte, len(orig))
	rand.Read(other)
	if err := os.WriteFile(kekPath, other, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "wif"), "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:"+port).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("wif serve with another kek.bin: %v (want a refusal)\n%s", err, out)
	}
	if !strings.Contains(string(out), "sealed with a different key-encryption key than "+kekPath) ||
		!strings.Contains(string(out), "restore the original kek.bin") {
		t.Errorf("refusal does not say what is wrong:\n%s", out)
	}
	if err := os.WriteFile(kekPath, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	w, stop = serveAt(t, dataDir, port, configDir)
	if code, b := getBody(t, w.HTTP, tenantJWKSURL, ""); code != 200 || !bytes.Equal(b, jwksBefore[tenantJWKSURL]) {
		t.Errorf("JWKS after the refused start: %d %s", code, b)
	}
	stop()
}

func readPEM(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s is not PEM", path)
	}
	return blk.Bytes
}
