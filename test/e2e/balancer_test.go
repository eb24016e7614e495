package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

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
