package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
