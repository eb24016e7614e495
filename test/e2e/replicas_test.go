package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/store/pgtest"
)

// replicas starts two wif serve processes on one PostgreSQL schema, as
// replicas behind a load balancer would run: the second gets the first's
// CA, key-encryption key and bootstrap file, and both name the same public
// URL. The CLI is logged in to the first.
func replicas(t *testing.T, args ...string) (a, b *wifProc) {
	t.Helper()
	dsn := pgtest.Schema(t)
	portA, portB := freePort(t), freePort(t)
	common := append([]string{"--store", dsn, "--public-url", "https://localhost:" + portA}, args...)
	dirA, dirB := t.TempDir(), t.TempDir()
	a, _ = serveAt(t, dirA, portA, t.TempDir(), common...)
	for _, f := range []string{"ca.pem", "ca-key.pem", "kek.bin", "bootstrap.json"} {
		data, err := os.ReadFile(filepath.Join(dirA, f))
		if err != nil {
			t.Fatalf("shared file %s: %v", f, err)
		}
		if err := os.WriteFile(filepath.Join(dirB, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, _ = serveAt(t, dirB, portB, t.TempDir(), common...)
	a.cli(t, "login", "--bootstrap", filepath.Join(dirA, "bootstrap.json"))
	return a, b
}

// TestReplicasSeeChangesAtOnce is issue 15's propagation check: a FIC
// created through replica A makes an exchange through replica B succeed,
// and its deletion through A makes B refuse, each well within a second,
// although B had the identity cached (the cache TTL is 5 s).
func TestReplicasSeeChangesAtOnce(t *testing.T) {
	iss := newIssuer(t)
	a, b := replicas(t, "--extra-ca-file", iss.CAFile)
	tenant := a.Boot.TenantID
	a.cli(t, "group", "create", "-n", "rg", "-l", "eastus", "-o", "none")
	clientID := a.cli(t, "identity", "create", "-n", "app", "-g", "rg", "--query", "clientId", "-o", "tsv")
	clientID = clientID[:len(clientID)-1]
	exchange := func() tokenResponse {
		return b.postToken(t, tenant, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://management.azure.com/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {iss.mint(t, iss.saClaims("default", "app", time.Now()))},
		})
	}
	// B caches the identity with no credential.
	if r := exchange(); r.Status == 200 {
		t.Fatal("exchange succeeded before any credential exists")
	}
	until := func(what string, ok func(tokenResponse) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			r := exchange()
			if ok(r) {
				return time.Since(start)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: still %d %s after 10 s", what, r.Status, r.Description)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a.cli(t, "identity", "federated-credential", "create", "--name", "fic", "--identity-name", "app", "-g", "rg",
		"--issuer", iss.URL, "--subject", "system:serviceaccount:default:app", "-o", "none")
	created := until("FIC created on A, exchange on B", func(r tokenResponse) bool { return r.Status == 200 })
	a.cli(t, "identity", "federated-credential", "delete", "--name", "fic", "--identity-name", "app", "-g", "rg", "--yes")
	deleted := until("FIC deleted on A, exchange on B", func(r tokenResponse) bool { return r.Status != 200 })
	t.Logf("propagation between replicas: create seen by B after %v, delete after %v", created, deleted)
	for what, d := range map[string]time.Duration{"create": created, "delete": deleted} {
		if d > time.Second {
			t.Errorf("%s reached replica B after %v, want within 1 s", what, d)
		}
	}
}
