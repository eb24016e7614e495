package e2e

// Issue 15's end-to-end checks: several wif serve replicas on one
// PostgreSQL, behind HAProxy, through a PostgreSQL outage, and moving an
// embedded install with wif store copy.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	return replicasOn(t, pgtest.Schema(t), publicPort, args...)
}

// replicasOn is replicasAt on the store dsn.
func replicasOn(t *testing.T, dsn, publicPort string, args ...string) (a, b *wifProc) {
	t.Helper()
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
	// Twenty rounds of create on A, use on B, delete on A, refused on B.
	var created, deleted []time.Duration
	for range 20 {
		a.cli(t, "identity", "federated-credential", "create", "--name", "fic", "--identity-name", "app", "-g", "rg",
			"--issuer", iss.URL, "--subject", "system:serviceaccount:default:app", "-o", "none")
		created = append(created, until("FIC created on A, exchange on B", func(r tokenResponse) bool { return r.Status == 200 }))
		a.cli(t, "identity", "federated-credential", "delete", "--name", "fic", "--identity-name", "app", "-g", "rg", "--yes")
		deleted = append(deleted, until("FIC deleted on A, exchange on B", func(r tokenResponse) bool { return r.Status != 200 }))
	}
	for what, ds := range map[string][]time.Duration{"create": created, "delete": deleted} {
		slices.Sort(ds)
		p50, p99 := ds[len(ds)/2], ds[len(ds)-1] // of 20, the 99th percentile is the slowest
		t.Logf("propagation between replicas, %s seen by B: p50 %v, p99 %v over %d rounds", what, p50.Round(time.Millisecond/10), p99.Round(time.Millisecond/10), len(ds))
		if p99 > 250*time.Millisecond {
			t.Errorf("%s reached replica B after %v at p99, want under 250 ms (and within 1 s always)", what, p99)
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
	// A Key Vault secret, sealed under kek.bin in the store.
	kv := jsonObject(t, w.cli(t, "keyvault", "create", "-n", "kvcopy", "-g", "rg"))
	adminOID := strings.TrimSpace(w.cli(t, "role", "assignment", "list", "--role", "Owner", "--query", "[0].principalId", "-o", "tsv"))
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", adminOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", kvRoleSecretsOfficer, "--scope", kvStr(kv["id"]), "-o", "none")
	e := &kvEnv{w: w, tenant: w.Boot.TenantID, sub: w.Boot.SubscriptionID, port: port}
	e.raw = kvLoopbackClient(t, w.Boot.CAFile, port)
	kvTok, _ := e.adminToken(t, "https://vault.localhost:"+port+"/.default")
	if r := e.do(t, e.vaultHost("kvcopy"), kvTok, http.MethodPut, "/secrets/moved?api-version=7.6", []byte(`{"value":"still here"}`)); r.Status != 200 {
		t.Fatalf("set secret: %d %s", r.Status, kvShort(r.Body))
	}
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
	// The secret, read with the Key Vault token minted before the copy.
	e.w = w2
	if r := e.do(t, e.vaultHost("kvcopy"), kvTok, http.MethodGet, "/secrets/moved?api-version=7.6", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"still here"`) {
		t.Errorf("the secret on the copy: %d %s", r.Status, kvShort(r.Body))
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

// haproxy runs Debian's HAProxy in TCP mode on port, in front of the
// replicas' ports, with health checks on /readyz over TLS, until the test
// ends. With CI=true a missing haproxy fails the test.
func haproxy(t *testing.T, port string, backends ...string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy (Debian package haproxy) is required in CI")
		}
		t.Skip("haproxy not installed")
	}
	var servers strings.Builder
	for i, p := range backends {
		fmt.Fprintf(&servers, "    server r%d 127.0.0.1:%s check check-ssl verify none inter 250ms fall 2 rise 2\n", i, p)
	}
	cfg := fmt.Sprintf(`global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend wif
    bind 127.0.0.1:%s
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
%s`, port, servers.String())
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "-db", "-f", file)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy logs:\n%s", tail(logs.String(), 2000))
		}
	})
}

// retrying sends a request as azcore's retry policy would: again after a
// connection error or a 429/5xx, with a short backoff, up to 10 tries.
func retrying(c *http.Client, mk func() *http.Request) (int, string, error) {
	var last error
	for i := range 10 {
		if i > 0 {
			time.Sleep(time.Duration(50*i) * time.Millisecond)
		}
		resp, err := c.Do(mk())
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 429 || resp.StatusCode >= 500 {
			last = fmt.Errorf("%d %s", resp.StatusCode, b)
			continue
		}
		return resp.StatusCode, string(b), nil
	}
	return 0, "", last
}

// TestBalancerKillReplica is issue 15's failover check: two replicas on
// one PostgreSQL behind HAProxy; replica A is killed with SIGKILL while 32
// clients run exchanges and ARM writes through the balancer, retrying as
// the Azure SDKs do. No exchange fails, and every acknowledged write is
// there when read through the surviving replica.
func TestBalancerKillReplica(t *testing.T) {
	iss := newIssuer(t)
	lbPort := freePort(t)
	a, b := replicasAt(t, lbPort, "--extra-ca-file", iss.CAFile)
	haproxy(t, lbPort, strings.TrimPrefix(a.URL, "https://localhost:"), strings.TrimPrefix(b.URL, "https://localhost:"))
	lb := "https://localhost:" + lbPort
	waitReady(t, a.HTTP, lb)
	a.cli(t, "login", "--bootstrap", filepath.Join(a.DataDir, "bootstrap.json"))
	tenant, sub := a.Boot.TenantID, a.Boot.SubscriptionID
	a.cli(t, "group", "create", "-n", "rg", "-l", "eastus", "-o", "none")
	clientID := strings.TrimSpace(a.cli(t, "identity", "create", "-n", "app", "-g", "rg", "--query", "clientId", "-o", "tsv"))
	a.cli(t, "identity", "federated-credential", "create", "--name", "fic", "--identity-name", "app", "-g", "rg",
		"--issuer", iss.URL, "--subject", "system:serviceaccount:default:app", "-o", "none")
	token := armToken(t, a)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: a.HTTP.Transport.(*http.Transport).TLSClientConfig.Clone(), MaxIdleConnsPerHost: 64}}
	exchange := func() *http.Request {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://management.azure.com/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {iss.mint(t, iss.saClaims("default", "app", time.Now()))}}
		req, _ := http.NewRequest(http.MethodPost, lb+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	groupURL := func(name string) string {
		return lb + "/subscriptions/" + sub + "/resourceGroups/" + name + "?api-version=2021-04-01"
	}
	var (
		stop                        atomic.Bool
		exchanges, failedEx, writes atomic.Int64
		mu                          sync.Mutex
		acked                       []string
		firstFailure                atomic.Value
		wg                          sync.WaitGroup
	)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				if i%2 == 0 {
					code, body, err := retrying(client, exchange)
					exchanges.Add(1)
					if err != nil || code != 200 {
						failedEx.Add(1)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("exchange: %d %s %v", code, body, err))
					}
					continue
				}
				name := fmt.Sprintf("g%d-%d", i, n)
				code, body, err := retrying(client, func() *http.Request {
					req, _ := http.NewRequest(http.MethodPut, groupURL(name), strings.NewReader(`{"location":"eastus"}`))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					return req
				})
				writes.Add(1)
				if err == nil && (code == 200 || code == 201) {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				} else {
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("write %s: %d %s %v", name, code, body, err))
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	killed := time.Now()
	if err := syscall.Kill(a.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("kill -9 of replica A at %v: %d exchanges (%d failed), %d writes (%d acknowledged)",
		killed.Format("15:04:05.000"), exchanges.Load(), failedEx.Load(), writes.Load(), len(acked))
	if failedEx.Load() > 0 {
		t.Errorf("%d exchanges failed after retries; first failure: %v", failedEx.Load(), firstFailure.Load())
	}
	if exchanges.Load() == 0 || len(acked) == 0 {
		t.Fatalf("no load ran: %v", firstFailure.Load())
	}
	missing := 0
	for _, name := range acked {
		req, _ := http.NewRequest(http.MethodGet, b.URL+"/subscriptions/"+sub+"/resourceGroups/"+name+"?api-version=2021-04-01", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := b.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes missing through replica B", missing, len(acked))
	}
}

// waitReady waits for base's /readyz to answer 200.
func waitReady(t *testing.T, c *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownPostgres starts a PostgreSQL server of the test's own (the shared one
// serves other packages' tests), stopped when the test ends. It returns
// the DSN and a control function for "stop", "resume" and "restart".
func ownPostgres(t *testing.T) (dsn string, ctl func(cmd string)) {
	t.Helper()
	if os.Getenv("WIF_TEST_POSTGRES") == "" && os.Getenv("CI") != "true" {
		t.Skip("PostgreSQL tests need scripts/postgres.sh's server (WIF_TEST_POSTGRES)")
	}
	// Directly under the temporary directory: the postgres user must be
	// able to reach it, and t.TempDir's parents are private.
	dir, err := os.MkdirTemp("", "wif-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	script, _ := filepath.Abs("../../scripts/postgres.sh")
	out, err := exec.Command(script, "start", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("postgres.sh start: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "WIF_TEST_POSTGRES="); ok {
			dsn = v
		}
	}
	ctl = func(cmd string) {
		t.Helper()
		if out, err := exec.Command(script, cmd, dir).CombinedOutput(); err != nil {
			t.Fatalf("postgres.sh %s: %v: %s", cmd, err, out)
		}
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	return dsn, ctl
}

// TestPostgresOutage: while PostgreSQL is down, /readyz turns 503 within
// 2 s, and writes answer 503 with Retry-After in the caller's format (ARM
// JSON here) without hanging; once it is back, wif serves again within 5 s
// without a restart.
func TestPostgresOutage(t *testing.T) {
	dsn, pg := ownPostgres(t)
	w := startWif(t, "--store", dsn)
	token := armToken(t, w)
	quick := &http.Client{Timeout: 10 * time.Second, Transport: w.HTTP.Transport}
	status := func(method, path, body string) (int, http.Header, string) {
		req, _ := http.NewRequest(method, w.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := quick.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	group := "/subscriptions/" + w.Boot.SubscriptionID + "/resourceGroups/rg%d?api-version=2021-04-01"
	put := func(n int) (int, http.Header, string) {
		return status(http.MethodPut, strings.Replace(group, "%d", string(rune('a'+n)), 1), `{"location":"eastus"}`)
	}
	if code, _, b := put(0); code != 201 && code != 200 {
		t.Fatalf("write before the outage: %d %s", code, b)
	}

	pg("stop")
	down := time.Now()
	for {
		code, _, _ := status(http.MethodGet, "/readyz", "")
		if code == 503 {
			break
		}
		if time.Since(down) > 2*time.Second {
			t.Fatalf("/readyz still %d 2 s into the outage", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("/readyz 503 %v after PostgreSQL stopped", time.Since(down).Round(time.Millisecond))
	start := time.Now()
	code, h, b := put(1)
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(b, `"ServiceUnavailable"`) || bytes.Contains([]byte(b), []byte("goroutine")) {
		t.Errorf("write during the outage: %d Retry-After %q %s, want 503 ServiceUnavailable with Retry-After", code, h.Get("Retry-After"), b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("write during the outage took %v to answer", d)
	}

	pg("resume")
	back := time.Now()
	for {
		rc, _, _ := status(http.MethodGet, "/readyz", "")
		wc, _, _ := put(2)
		if rc == 200 && (wc == 200 || wc == 201) {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("5 s after PostgreSQL came back: /readyz %d, write %d", rc, wc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %v after PostgreSQL came back", time.Since(back).Round(time.Millisecond))
}

// TestPostgresRestartUnderLoad: PostgreSQL restarts while clients run
// exchanges and writes on two replicas; both serve again within 5 s of its
// return, without a restart of their own.
func TestPostgresRestartUnderLoad(t *testing.T) {
	dsn, pg := ownPostgres(t)
	a, b := replicasOn(t, dsn, "")
	var stop atomic.Bool
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		w := []*wifProc{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				code, _, err := retrying(w.HTTP, func() *http.Request {
					form := url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
						"client_secret": {w.Boot.ClientSecret}, "scope": {"https://management.azure.com/.default"}}
					req, _ := http.NewRequest(http.MethodPost, w.URL+"/"+w.Boot.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					return req
				})
				sent.Add(1)
				if err != nil || code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	pg("restart")
	back := time.Now()
	for i, w := range []*wifProc{a, b} {
		token := armToken(t, w)
		for n := 0; ; n++ {
			req, _ := http.NewRequest(http.MethodPut, w.URL+"/subscriptions/"+w.Boot.SubscriptionID+fmt.Sprintf("/resourceGroups/after-%d-%d?api-version=2021-04-01", i, n),
				strings.NewReader(`{"location":"eastus"}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := w.HTTP.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 || resp.StatusCode == 201 {
					break
				}
			}
			if time.Since(back) > 5*time.Second {
				t.Fatalf("replica %d cannot write 5 s after PostgreSQL restarted: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("both replicas write again %v after PostgreSQL restarted", time.Since(back).Round(time.Millisecond))
	stop.Store(true)
	wg.Wait()
	t.Logf("%d exchanges during the restart, %d failed after retries", sent.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d exchanges failed after retries across the restart", failed.Load(), sent.Load())
	}
}

// TestSeedGuideThroughBalancer runs the seed guide, with the real azidentity
// and azsecrets (and Node) workloads, against two replicas behind HAProxy:
// every request goes through the balancer to either replica.
func TestSeedGuideThroughBalancer(t *testing.T) {
	kvEnsureHosts(t, "kvseed")
	lbPort := freePort(t)
	a, b := replicasAt(t, lbPort)
	haproxy(t, lbPort, strings.TrimPrefix(a.URL, "https://localhost:"), strings.TrimPrefix(b.URL, "https://localhost:"))
	lb := *a
	lb.URL = "https://localhost:" + lbPort
	waitReady(t, a.HTTP, lb.URL)
	lb.cli(t, "login", "--bootstrap", filepath.Join(a.DataDir, "bootstrap.json"))
	seedGuide(t, &lb)
}

// TestReplicasServeOneJWKS: both replicas publish the same tenant and
// cluster-issuer key sets, and a cluster key rotation through A adds
// exactly one key, which B publishes too within a second.
func TestReplicasServeOneJWKS(t *testing.T) {
	a, b := replicas(t)
	a.cli(t, "group", "create", "-n", "rg", "-l", "eastus", "-o", "none")
	a.cli(t, "aks", "create", "-g", "rg", "-n", "c1", "-o", "none")
	a.cli(t, "aks", "update", "-g", "rg", "-n", "c1", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	issuer := strings.TrimSpace(a.cli(t, "aks", "show", "-n", "c1", "-g", "rg", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	path := strings.TrimPrefix(issuer, "https://localhost:"+strings.TrimPrefix(a.URL, "https://localhost:"))
	keys := func(w *wifProc, p string) (string, int) {
		t.Helper()
		code, body := getBody(t, w.HTTP, w.URL+p, "")
		if code != 200 {
			t.Fatalf("GET %s on %s: %d %s", p, w.URL, code, body)
		}
		var set struct{ Keys []struct{ Kid string } }
		json.Unmarshal(body, &set)
		return string(body), len(set.Keys)
	}
	for _, p := range []string{"/" + a.Boot.TenantID + "/discovery/v2.0/keys", path + "openid/v1/jwks"} {
		ja, _ := keys(a, p)
		jb, _ := keys(b, p)
		if ja != jb {
			t.Errorf("%s differs between the replicas:\nA %s\nB %s", p, ja, jb)
		}
	}
	_, before := keys(a, path+"openid/v1/jwks")
	a.cli(t, "aks", "oidc-issuer", "rotate-signing-keys", "-g", "rg", "-n", "c1", "--yes")
	ja, after := keys(a, path+"openid/v1/jwks")
	if after != before+1 {
		t.Errorf("a rotation took the cluster's key set from %d to %d keys, want one more", before, after)
	}
	start := time.Now()
	for {
		jb, _ := keys(b, path+"openid/v1/jwks")
		if jb == ja {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica B still publishes another cluster key set 1 s after the rotation:\nA %s\nB %s", ja, jb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("replica B published the rotated key set %v after A", time.Since(start).Round(time.Millisecond))
}

// TestReplicaWithAnotherKEKRefusesToStart: a replica whose kek.bin is not
// the one the shared PostgreSQL store was sealed with exits with a clear
// message, and the other replica keeps serving the same keys.
func TestReplicaWithAnotherKEKRefusesToStart(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, _ := replicasOn(t, dsn, "")
	jwks := a.URL + "/" + a.Boot.TenantID + "/discovery/v2.0/keys"
	_, before := getBody(t, a.HTTP, jwks, "")
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		data, _ := os.ReadFile(filepath.Join(a.DataDir, f))
		os.WriteFile(filepath.Join(dir, f), data, 0o600)
	}
	cmd := exec.Command(filepath.Join(binDir, "wif"), "serve", "--data-dir", dir, "--listen", "127.0.0.1:"+freePort(t), "--store", dsn)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "different key-encryption key") {
		t.Fatalf("a replica with another kek.bin: %v\n%s", err, tail(string(out), 2000))
	}
	if _, after := getBody(t, a.HTTP, jwks, ""); !bytes.Equal(before, after) {
		t.Error("the refused replica changed what the others serve")
	}
}

// TestReplicasRevokeRoleAtOnce: a Key Vault role assignment deleted through
// replica A makes replica B, whose grant cache is warm, refuse the
// identity's secret reads within a second.
func TestReplicasRevokeRoleAtOnce(t *testing.T) {
	iss := newIssuer(t)
	a, b := replicas(t, "--extra-ca-file", iss.CAFile)
	publicPort := strings.TrimPrefix(a.URL, "https://localhost:")
	e := &kvEnv{w: a, iss: iss, tenant: a.Boot.TenantID, sub: a.Boot.SubscriptionID, port: publicPort, rg: "kvRG"}
	a.cli(t, "group", "create", "-n", e.rg, "-l", "eastus", "-o", "none")
	e.createVault(t, e.rg, "kvrevoke")
	p := e.identity(t, "reader")
	adminOID := strings.TrimSpace(a.cli(t, "role", "assignment", "list", "--role", "Owner", "--query", "[0].principalId", "-o", "tsv"))
	e.assign(t, adminOID, kvRoleSecretsOfficer, e.vaultScope(e.rg, "kvrevoke"))
	var ra struct{ ID string }
	json.Unmarshal([]byte(a.cli(t, "role", "assignment", "create", "--assignee-object-id", p.objectID,
		"--assignee-principal-type", "ServicePrincipal", "--role", kvRoleSecretsUser, "--scope", e.vaultScope(e.rg, "kvrevoke"))), &ra)
	e.raw = kvLoopbackClient(t, a.Boot.CAFile, publicPort) // replica A
	adminTok, _ := e.adminToken(t, e.resource()+"/.default")
	if r := e.do(t, e.vaultHost("kvrevoke"), adminTok, http.MethodPut, "/secrets/s?api-version=7.6", []byte(`{"value":"v"}`)); r.Status != 200 {
		t.Fatalf("set secret on A: %d %s", r.Status, kvShort(r.Body))
	}
	tok := e.token(t, p, e.resource()+"/.default")
	e.raw = kvLoopbackClient(t, b.Boot.CAFile, strings.TrimPrefix(b.URL, "https://localhost:")) // replica B
	read := func() int {
		return e.do(t, e.vaultHost("kvrevoke"), tok, http.MethodGet, "/secrets/s?api-version=7.6", nil).Status
	}
	if code := read(); code != 200 {
		t.Fatalf("the identity's read on B before the revocation: %d", code)
	}
	a.cli(t, "role", "assignment", "delete", "--ids", ra.ID)
	start := time.Now()
	for read() != 403 {
		if time.Since(start) > time.Second {
			t.Fatal("replica B still lets the identity read 1 s after its role assignment was deleted through A")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("replica B refused the revoked identity %v after the deletion on A", time.Since(start).Round(time.Millisecond/10))
}
