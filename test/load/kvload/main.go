// Command kvload benchmarks wif's Key Vault data plane over HTTPS on
// loopback: an authenticated GET of the latest version of one secret
// (GET https://{vault}.vault.localhost:PORT/secrets/{name}/, what
// azsecrets' GetSecret sends), with a bearer token for a principal that
// holds Key Vault Secrets User on the vault.
//
//	kvload -wif /tmp/wif [-server-cpus 0] [-generator-cpus 1] [-concurrency 16]
//	       [-duration 10s] [-rate 5000] [-json out.json]
//	kvload report -json out.json [-target-rps 5000] [-target-p99-ms 5]
//
// It starts "taskset -c SERVER_CPUS wif serve" on a fresh data directory,
// creates a resource group, a vault, a role assignment and a secret
// through the ARM API and the data plane, pins itself to GENERATOR_CPUS,
// and runs two phases over HTTP/1.1 keep-alive connections:
//
//   - closed loop: -concurrency workers back to back for -duration (the
//     maximum rate);
//   - open loop: requests sent at -rate per second whatever the answers
//     take, latency counted from each request's scheduled time (so a
//     stalled server is not hidden by a stalled generator).
//
// Each phase reports requests/s, p50/p90/p99/max latency and the CPU the
// server and the generator used. Every request must answer 200 with the
// secret's value. No name resolution is needed: connections go to
// 127.0.0.1 and TLS verifies the vault host name against wif's CA.
// See scripts/bench-keyvault.sh and docs/keyvault.md.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/wifproject/wif/test/load/loadkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kvload: %v\n", err)
		os.Exit(1)
	}
}

// Phase is one timed phase's outcome.
type Phase struct {
	Mode        string  `json:"mode"` // closed or open
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"requestsPerSec"`
	// PerCPUSec is requests per second of CPU time the server got: what
	// one whole core would do, discounting other processes on it.
	PerCPUSec    float64  `json:"requestsPerServerCpuSec"`
	P50ms        float64  `json:"p50ms"`
	P90ms        float64  `json:"p90ms"`
	P99ms        float64  `json:"p99ms"`
	MaxMs        float64  `json:"maxms"`
	ServerCPU    float64  `json:"serverCpu"`    // share of one core
	GeneratorCPU float64  `json:"generatorCpu"` // share of one core
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

// Result is the JSON output.
type Result struct {
	Start      string   `json:"start"`
	WifArgs    []string `json:"wifArgs"`
	ServerCPUs string   `json:"serverCpus"`
	GenCPUs    string   `json:"generatorCpus"`
	URL        string   `json:"url"`
	Closed     *Phase   `json:"closed,omitempty"`
	Open       *Phase   `json:"open,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("kvload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		bin        = fs.String("wif", "", "path of the wif binary (required)")
		wifArgs    = fs.String("wif-args", "", "extra flags for wif serve, space-separated")
		serverCPUs = fs.String("server-cpus", "0", "taskset CPU list for wif (empty: no pinning)")
		genCPUs    = fs.String("generator-cpus", "1", "CPU list this process pins itself to (empty: no pinning)")
		conc       = fs.Int("concurrency", 16, "closed-loop in-flight requests (one connection each)")
		duration   = fs.Duration("duration", 10*time.Second, "length of each timed phase")
		warmup     = fs.Duration("warmup", 2*time.Second, "untimed closed-loop warm-up")
		rate       = fs.Float64("rate", 5000, "open-loop rate in requests/s (0: no open-loop phase)")
		workers    = fs.Int("open-workers", 64, "open-loop workers (in-flight bound, one connection each)")
		valueSize  = fs.Int("value-size", 64, "secret value size in bytes")
		jsonOut    = fs.String("json", "", "write the result as JSON to this file")
		pidFile    = fs.String("pid-file", "", "write wif's pid here")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("-wif is required")
	}
	res := Result{Start: time.Now().UTC().Format(time.RFC3339), WifArgs: strings.Fields(*wifArgs), ServerCPUs: *serverCPUs, GenCPUs: *genCPUs}

	work, err := os.MkdirTemp("", "wif-kvload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	w, err := loadkit.StartWif(ctx, *bin, *serverCPUs, filepath.Join(work, "data"), filepath.Join(work, "wif.log"), res.WifArgs)
	if err != nil {
		return err
	}
	defer w.Stop()
	if *pidFile != "" {
		os.WriteFile(*pidFile, []byte(fmt.Sprintln(w.Pid)), 0o644)
		defer os.Remove(*pidFile)
	}
	fmt.Fprintf(stderr, "wif pid %d on port %s (logs %s)\n", w.Pid, w.Port, filepath.Join(work, "wif.log"))

	hc, err := loadkit.TrustingClient(w.Boot.CAFile, loadkit.ClientOptions{Proto: "h1", Conns: max(*conc, *workers) + 4, DialAddr: "127.0.0.1:" + w.Port})
	if err != nil {
		return err
	}
	secretURL, token, err := setup(ctx, hc, w, *valueSize)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	res.URL = secretURL
	fmt.Fprintf(stderr, "target: GET %s\n", secretURL)

	if *genCPUs != "" {
		if err := loadkit.Pin(os.Getpid(), *genCPUs); err != nil {
			return err
		}
	}
	lg := &loadGen{hc: hc, url: secretURL, auth: "Bearer " + token, t: loadkit.Target{Pid: w.Pid}}
	if *warmup > 0 {
		if p := lg.closed(ctx, *conc, *warmup); p.Errors > 0 {
			return fmt.Errorf("warm-up: %d of %d requests failed, e.g. %v", p.Errors, p.Requests, p.ErrorSamples)
		}
	}
	if *conc > 0 && ctx.Err() == nil {
		p := lg.closed(ctx, *conc, *duration)
		res.Closed = &p
		printPhase(stdout, p)
	}
	if *rate > 0 && ctx.Err() == nil {
		p := lg.open(ctx, *rate, *workers, *duration)
		res.Open = &p
		printPhase(stdout, p)
	}
	if err := loadkit.WriteJSON(*jsonOut, res); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, p := range []*Phase{res.Closed, res.Open} {
		if p != nil && p.Errors > 0 {
			return fmt.Errorf("%d of %d requests failed (%s loop), e.g. %v", p.Errors, p.Requests, p.Mode, p.ErrorSamples)
		}
	}
	return nil
}

func printPhase(w io.Writer, p Phase) {
	fmt.Fprintf(w, "keyvault GET (%s): %.0f req/s (%.0f per server CPU-second), p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %d requests, %d errors in %.2fs; server CPU %.0f%%, generator CPU %.0f%%\n",
		loadkit.Label(p.Mode, p.Concurrency, p.TargetRate), p.PerSec, p.PerCPUSec, p.P50ms, p.P90ms, p.P99ms, p.MaxMs, p.Requests, p.Errors, p.Seconds, 100*p.ServerCPU, 100*p.GeneratorCPU)
}

// errTargetMissed is returned by report when a target is missed.
var errTargetMissed = errors.New("a target was missed")

// report prints the result against the targets: the closed loop's rate,
// and the open loop's p99 (at a rate it must have sustained).
func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("json", "", "result of a run (required)")
	rps := fs.Float64("target-rps", 5000, "closed-loop requests/s target")
	p99 := fs.Float64("target-p99-ms", 5, "open-loop p99 target in ms")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	ok := true
	if c := r.Closed; c != nil {
		good := c.PerSec >= *rps
		ok = ok && good
		fmt.Fprintf(stdout, "max rate (closed loop, %d in flight): %.0f req/s, %.0f per server CPU-second (p50 %.2f ms, p99 %.2f ms; server CPU %.0f%%, generator CPU %.0f%%); target >= %.0f req/s: %s\n",
			c.Concurrency, c.PerSec, c.PerCPUSec, c.P50ms, c.P99ms, 100*c.ServerCPU, 100*c.GeneratorCPU, *rps, verdict(good))
	}
	if o := r.Open; o != nil {
		good := o.P99ms < *p99 && o.PerSec >= 0.98*o.TargetRate
		ok = ok && good
		fmt.Fprintf(stdout, "latency at %.0f req/s (open loop): achieved %.0f req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; target p99 < %g ms: %s\n",
			o.TargetRate, o.PerSec, o.P50ms, o.P90ms, o.P99ms, o.MaxMs, *p99, verdict(good))
	}
	if !ok {
		return errTargetMissed
	}
	return nil
}

// setup creates group, vault, role assignment and secret, and returns the
// secret's URL and a data-plane token of the bootstrap admin, who gets
// Key Vault Secrets Officer on the vault.
func setup(ctx context.Context, hc *http.Client, w *loadkit.Wif, valueSize int) (string, string, error) {
	b := w.Boot
	base := "https://localhost:" + w.Port
	tokenFor := func(scope string) (string, error) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.ClientID}, "client_secret": {b.ClientSecret}, "scope": {scope}}
		out, status, err := send(ctx, hc, http.MethodPost, base+"/"+b.TenantID+"/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
		if err != nil {
			return "", err
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if status != 200 || json.Unmarshal(out, &tr) != nil || tr.AccessToken == "" {
			return "", fmt.Errorf("token for %s: %d %s", scope, status, out)
		}
		return tr.AccessToken, nil
	}
	armTok, err := tokenFor(strings.TrimSuffix(b.ARMEndpoint, "/") + "/.default")
	if err != nil {
		return "", "", err
	}
	put := func(path string, body any) ([]byte, error) {
		raw, _ := json.Marshal(body)
		out, status, err := send(ctx, hc, http.MethodPut, base+path, armTok, "application/json", raw)
		if err != nil {
			return nil, err
		}
		if status != 200 && status != 201 && status != 202 {
			return nil, fmt.Errorf("PUT %s: %d %s", path, status, out)
		}
		return out, nil
	}
	rg := "/subscriptions/" + b.SubscriptionID + "/resourceGroups/bench"
	if _, err := put(rg+"?api-version=2021-04-01", map[string]any{"location": "eastus"}); err != nil {
		return "", "", err
	}
	vaultID := rg + "/providers/Microsoft.KeyVault/vaults/kvbench"
	if _, err := put(vaultID+"?api-version=2022-07-01", map[string]any{"location": "eastus", "properties": map[string]any{
		"tenantId": b.TenantID, "sku": map[string]any{"family": "A", "name": "standard"}, "enableRbacAuthorization": true}}); err != nil {
		return "", "", err
	}
	for i := 0; ; i++ {
		out, status, err := send(ctx, hc, http.MethodGet, base+vaultID+"?api-version=2022-07-01", armTok, "", nil)
		if err == nil && status == 200 && bytes.Contains(out, []byte(`"Succeeded"`)) {
			break
		}
		if i == 100 {
			return "", "", fmt.Errorf("vault not provisioned: %d %s %v", status, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	vaultTok, err := tokenFor("https://vault.localhost:" + w.Port + "/.default")
	if err != nil {
		return "", "", err
	}
	oid, err := claim(vaultTok, "oid")
	if err != nil {
		return "", "", err
	}
	// Secrets Officer, to write the secret too; the reads are authorised by
	// its getSecret data action, as a Secrets User's would be.
	if _, err := put(vaultID+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01", map[string]any{
		"properties": map[string]any{"roleDefinitionId": "/subscriptions/" + b.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
			"principalId": oid, "principalType": "ServicePrincipal"}}); err != nil {
		return "", "", err
	}
	vault := "https://kvbench.vault.localhost:" + w.Port
	value := strings.Repeat("s", valueSize)
	raw, _ := json.Marshal(map[string]string{"value": value})
	out, status, err := send(ctx, hc, http.MethodPut, vault+"/secrets/bench?api-version=2026-04-01", vaultTok, "application/json", raw)
	if err != nil || status != 200 {
		return "", "", fmt.Errorf("set secret: %d %s %v", status, out, err)
	}
	return vault + "/secrets/bench/?api-version=2026-04-01", vaultTok, nil
}

func send(ctx context.Context, hc *http.Client, method, u, token, ctype string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return out, resp.StatusCode, err
}

func claim(jwt, name string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	s, _ := m[name].(string)
	if s == "" {
		return "", fmt.Errorf("token has no %s claim", name)
	}
	return s, nil
}

// phaseOf is a phase's JSON form.
func phaseOf(mode string, conc int, rate float64, s loadkit.Stats) Phase {
	return Phase{Mode: mode, Concurrency: conc, TargetRate: rate, Requests: s.Requests, Errors: s.Errors, Seconds: s.Seconds,
		PerSec: s.PerSec, PerCPUSec: s.PerCPUSec, P50ms: s.Latency.P50, P90ms: s.Latency.P90, P99ms: s.Latency.P99, MaxMs: s.Latency.Max,
		ServerCPU: s.ServerCPU, GeneratorCPU: s.GeneratorCPU, ErrorSamples: s.ErrorSamples}
}

// loadGen sends authenticated GETs of the secret.
type loadGen struct {
	hc   *http.Client
	url  string
	auth string
	t    loadkit.Target
}

var wantValue = []byte(`"value":"`)

// do gets the secret and checks the answer carries its value.
func (lg *loadGen) do(ctx context.Context, _ int, buf *bytes.Buffer) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lg.url, nil)
	req.Header.Set("Authorization", lg.auth)
	return loadkit.Expect(lg.hc, req, buf, wantValue)
}

// closed runs conc workers back to back for d.
func (lg *loadGen) closed(ctx context.Context, conc int, d time.Duration) Phase {
	return phaseOf("closed", conc, 0, loadkit.Closed(ctx, lg.t, conc, d, math.MaxInt, lg.do, nil))
}

// open sends requests at rate for d, whatever the answers take.
func (lg *loadGen) open(ctx context.Context, rate float64, workers int, d time.Duration) Phase {
	return phaseOf("open", 0, rate, loadkit.Open(ctx, lg.t, rate, int(rate*d.Seconds()), workers, lg.do, nil))
}
