package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// webhookProc is a running "wif webhook".
type webhookProc struct {
	*loadkit.Proc
	Base   string // https://127.0.0.1:PORT
	CAFile string
	log    string
}

// webhookCerts has "wif webhook install --url … --cert-dir dir" (render
// only, nothing applied) generate the CA and the serving key pair for
// localhost/127.0.0.1/::1.
func webhookCerts(ctx context.Context, bin, dir, url, tenant, authority string) error {
	cmd := exec.CommandContext(ctx, bin, "webhook", "install", "--url", url, "--cert-dir", dir,
		"--tenant-id", tenant, "--authority-host", authority)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("wif webhook install: %v: %s", err, stderr.Bytes())
	}
	return nil
}

// startWebhook runs "wif webhook" (under "taskset -c cpus" when cpus is
// set, so the pid is wif's) and waits for /healthz.
func startWebhook(ctx context.Context, bin, cpus, dir, kubeconfig, tenant, authority string, extra, env []string) (*webhookProc, error) {
	port, err := loadkit.FreePort()
	if err != nil {
		return nil, err
	}
	w := &webhookProc{Base: "https://127.0.0.1:" + port, CAFile: filepath.Join(dir, "ca.crt"), log: filepath.Join(dir, "webhook.log")}
	if err := webhookCerts(ctx, bin, dir, w.Base+pathMutate, tenant, authority); err != nil {
		return nil, err
	}
	name, args := loadkit.Taskset(cpus, bin, append([]string{"webhook", "--listen", "127.0.0.1:" + port,
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-private-key-file", filepath.Join(dir, "tls.key"),
		"--tenant-id", tenant, "--authority-host", authority, "--kubeconfig", kubeconfig}, extra...))
	if w.Proc, err = loadkit.Start(w.log, env, name, args...); err != nil {
		return nil, err
	}
	hc, err := httpsClient(w.CAFile, 1)
	if err != nil {
		w.Stop()
		return nil, err
	}
	defer hc.CloseIdleConnections()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, _, err := get(ctx, hc, w.Base+"/healthz"); err == nil && code == http.StatusOK {
			return w, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil || w.Exited() {
			w.Stop()
			b, _ := os.ReadFile(w.log)
			return nil, fmt.Errorf("webhook not healthy:\n%s", tail(string(b), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitWarm waits until /readyz answers 200 (the informer has synced) and
// the wif_webhook_cached_service_accounts gauge reaches want.
func (w *webhookProc) waitWarm(ctx context.Context, want int, limit time.Duration) (cached int, err error) {
	hc, err := httpsClient(w.CAFile, 1)
	if err != nil {
		return 0, err
	}
	defer hc.CloseIdleConnections()
	ready := false
	for deadline := time.Now().Add(limit); ; time.Sleep(200 * time.Millisecond) {
		if !ready {
			code, _, err := get(ctx, hc, w.Base+"/readyz")
			ready = err == nil && code == http.StatusOK
		}
		if ready {
			m, err := w.metrics(ctx, hc)
			if err == nil {
				cached = int(m["wif_webhook_cached_service_accounts"])
				if cached >= want {
					return cached, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil || w.Exited() {
			return cached, fmt.Errorf("webhook cache not warm after %s: ready %v, %d of %d service accounts cached", limit, ready, cached, want)
		}
	}
}

// metrics scrapes /metrics into sample name (with labels, as printed) → value.
func (w *webhookProc) metrics(ctx context.Context, hc *http.Client) (map[string]float64, error) {
	code, body, err := get(ctx, hc, w.Base+"/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", code)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// Stop interrupts the webhook and kills it after 10s.
func (w *webhookProc) Stop() { w.Proc.Stop(10 * time.Second) }

func get(ctx context.Context, hc *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, b, err
}

// httpsClient trusts only caFile and speaks HTTP/2 over TLS, as
// kube-apiserver does when it calls a webhook: one connection, requests
// multiplexed on it. conns bounds idle connections kept.
func httpsClient(caFile string, conns int) (*http.Client, error) {
	return loadkit.TrustingClient(caFile, loadkit.ClientOptions{Proto: "h2", Conns: conns, Timeout: 30 * time.Second})
}
