package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	a, b = replicasAt(t, "", args...)
	a.cli(t, "login", "--bootstrap", filepath.Join(a.DataDir, "bootstrap.json"))
	return a, b
}

// replicasAt is replicas with the public URL https://localhost:<publicPort>
// (a load balancer's), or the first replica's when publicPort is "", and
// without logging the CLI in.
func replicasAt(t *testing.T, publicPort string, args ...string) (a, b *wifProc) {
	t.Helper()
	dsn := pgtest.Schema(t)
	portA, portB := freePort(t), freePort(t)
	if publicPort == "" {
		publicPort = portA
	}
	common := append([]string{"--store", dsn, "--public-url", "https://localhost:" + publicPort}, args...)
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

// TestStoreCopyToPostgres: an embedded install moved with wif store copy
// serves the same on PostgreSQL: tokens minted before the move are
// accepted, and the tenant's and the cluster issuer's key sets are the
// same keys.
func TestStoreCopyToPostgres(t *testing.T) {
	dataDir, port := t.TempDir(), freePort(t)
	w, stop := serveAt(t, dataDir, port, t.TempDir())
	w.cli(t, "login", "--bootstrap", filepath.Join(dataDir, "bootstrap.json"))
	w.cli(t, "group", "create", "-n", "rg", "-l", "eastus", "-o", "none")
	w.cli(t, "identity", "create", "-n", "app", "-g", "rg", "-o", "none")
	w.cli(t, "aks", "create", "-g", "rg", "-n", "c1", "-o", "none")
	w.cli(t, "aks", "update", "-g", "rg", "-n", "c1", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	issuer := strings.TrimSpace(w.cli(t, "aks", "show", "-n", "c1", "-g", "rg", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	jwks := []string{w.URL + "/" + w.Boot.TenantID + "/discovery/v2.0/keys", issuer + "openid/v1/jwks"}
	before := map[string]string{}
	for _, u := range jwks {
		code, b := getBody(t, w.HTTP, u, "")
		if code != 200 {
			t.Fatalf("GET %s: %d", u, code)
		}
		before[u] = string(b)
	}
	oldToken := armToken(t, w)
	stop()

	dsn := pgtest.Schema(t)
	from := "sqlite://" + filepath.Join(dataDir, "wif.db")
	out, err := w.tryCLI("store", "copy", "--from", from, "--to", dsn, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("wif store copy: %v\n%s", err, out)
	}
	if _, err := w.tryCLI("store", "copy", "--from", from, "--to", dsn, "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("a second copy without --replace: %v, want a refusal naming --replace", err)
	}
	if _, err := w.tryCLI("store", "copy", "--from", from, "--to", dsn, "--data-dir", dataDir, "--replace"); err != nil {
		t.Errorf("copy --replace: %v", err)
	}

	w2, _ := serveAt(t, dataDir, port, w.ConfigDir, "--store", dsn)
	for _, u := range jwks {
		code, b := getBody(t, w2.HTTP, u, "")
		if code != 200 || string(b) != before[u] {
			t.Errorf("GET %s on the copy: %d, same keys %v", u, code, string(b) == before[u])
		}
	}
	if code, b := getBody(t, w2.HTTP, w2.URL+"/subscriptions?api-version=2022-12-01", oldToken); code != 200 {
		t.Errorf("a token minted before the copy: %d %s", code, b)
	}
	if got := strings.TrimSpace(w2.cli(t, "identity", "list", "-g", "rg", "--query", "[].name", "-o", "tsv")); got != "app" {
		t.Errorf("identities on the copy: %q", got)
	}
}

// TestFiveReplicasStartAtOnce: five replicas sharing the CA and kek.bin
// start together on an empty PostgreSQL database and end with one schema,
// one default tenant, one default subscription and one bootstrap admin;
// each one's bootstrap.json works on all of them.
func TestFiveReplicasStartAtOnce(t *testing.T) {
	// The shared files, made by a first start elsewhere.
	seedDir := t.TempDir()
	_, stop := serveAt(t, seedDir, freePort(t), t.TempDir())
	stop()
	dsn := pgtest.Schema(t)
	const n = 5
	procs := make([]*wifProc, n)
	var wg sync.WaitGroup
	for i := range n {
		dir := t.TempDir()
		for _, f := range []string{"ca.pem", "ca-key.pem", "kek.bin"} {
			data, err := os.ReadFile(filepath.Join(seedDir, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), data, 0o600)
		}
		port := freePort(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], _ = serveAt(t, dir, port, t.TempDir(), "--store", dsn)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, p := range procs {
		if p.Boot.TenantID != procs[0].Boot.TenantID || p.Boot.SubscriptionID != procs[0].Boot.SubscriptionID || p.Boot.ClientID != procs[0].Boot.ClientID {
			t.Errorf("replica %d bootstrapped tenant %s subscription %s admin %s; replica 0: %s %s %s", i,
				p.Boot.TenantID, p.Boot.SubscriptionID, p.Boot.ClientID, procs[0].Boot.TenantID, procs[0].Boot.SubscriptionID, procs[0].Boot.ClientID)
		}
	}
	// Every replica's admin secret works on every replica, and there is
	// one subscription.
	for i, p := range procs {
		q := procs[(i+1)%n]
		tr := q.postToken(t, p.Boot.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.Boot.ClientID},
			"client_secret": {p.Boot.ClientSecret}, "scope": {"https://management.azure.com/.default"}})
		if tr.Status != 200 {
			t.Fatalf("replica %d's admin secret on replica %d: %d %s", i, (i+1)%n, tr.Status, tr.Description)
		}
		code, body := getBody(t, q.HTTP, q.URL+"/subscriptions?api-version=2022-12-01", tr.AccessToken)
		if code != 200 || strings.Count(string(body), `"subscriptionId"`) != 1 {
			t.Errorf("subscriptions on replica %d: %d %s", (i+1)%n, code, body)
		}
	}
}
