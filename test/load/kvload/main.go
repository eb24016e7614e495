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
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
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
	w, err := startWif(ctx, *bin, *serverCPUs, work, res.WifArgs)
	if err != nil {
		return err
	}
	defer w.stop()
	if *pidFile != "" {
		os.WriteFile(*pidFile, []byte(fmt.Sprintln(w.pid)), 0o644)
		defer os.Remove(*pidFile)
	}
	fmt.Fprintf(stderr, "wif pid %d on port %s (logs %s)\n", w.pid, w.port, filepath.Join(work, "wif.log"))

	hc, err := loopbackClient(w.boot.CAFile, w.port, max(*conc, *workers)+4)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		_, status, err := send(ctx, hc, http.MethodGet, "https://localhost:"+w.port+"/healthz", "", "", nil)
		if err == nil && status == 200 {
			break
		}
		if i == 600 || ctx.Err() != nil {
			return fmt.Errorf("wif not healthy: %d %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	secretURL, token, err := setup(ctx, hc, w, *valueSize)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	res.URL = secretURL
	fmt.Fprintf(stderr, "target: GET %s\n", secretURL)

	if *genCPUs != "" {
		out, err := exec.Command("taskset", "-a", "-p", "-c", *genCPUs, strconv.Itoa(os.Getpid())).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset -a -p -c %s: %v: %s", *genCPUs, err, out)
		}
	}
	lg := &loadGen{hc: hc, url: secretURL, auth: "Bearer " + token, pid: w.pid}
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
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
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
	what := fmt.Sprintf("closed loop, concurrency %d", p.Concurrency)
	if p.Mode == "open" {
		what = fmt.Sprintf("open loop at %.0f/s", p.TargetRate)
	}
	fmt.Fprintf(w, "keyvault GET (%s): %.0f req/s (%.0f per server CPU-second), p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %d requests, %d errors in %.2fs; server CPU %.0f%%, generator CPU %.0f%%\n",
		what, p.PerSec, p.PerCPUSec, p.P50ms, p.P90ms, p.P99ms, p.MaxMs, p.Requests, p.Errors, p.Seconds, 100*p.ServerCPU, 100*p.GeneratorCPU)
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

// bootstrap is what wif writes to bootstrap.json.
type bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	ARMEndpoint    string `json:"armEndpoint"`
	CAFile         string `json:"caFile"`
}

type wifProc struct {
	cmd  *exec.Cmd
	pid  int
	port string
	boot bootstrap
	log  *os.File
}

func startWif(ctx context.Context, bin, cpus, work string, extra []string) (*wifProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	dataDir := filepath.Join(work, "data")
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:" + port}, extra...)
	name := bin
	if cpus != "" {
		args = append([]string{"-c", cpus, bin}, args...)
		name = "taskset"
	}
	logf, err := os.Create(filepath.Join(work, "wif.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	w := &wifProc{cmd: cmd, pid: cmd.Process.Pid, port: port, log: logf}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
		if err == nil && json.Unmarshal(b, &w.boot) == nil && w.boot.ClientSecret != "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.stop()
			return nil, fmt.Errorf("wif did not write bootstrap.json (see %s)", logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w, nil
}

func (w *wifProc) stop() {
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
	w.log.Close()
}

// loopbackClient trusts caFile and connects every request to
// 127.0.0.1:port over HTTP/1.1 keep-alive.
func loopbackClient(caFile, port string, conns int) (*http.Client, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no certificates in " + caFile)
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// setup creates group, vault, role assignment and secret, and returns the
// secret's URL and a data-plane token of the bootstrap admin, who gets
// Key Vault Secrets Officer on the vault.
func setup(ctx context.Context, hc *http.Client, w *wifProc, valueSize int) (string, string, error) {
	b := w.boot
	base := "https://localhost:" + w.port
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
	vaultTok, err := tokenFor("https://vault.localhost:" + w.port + "/.default")
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
	vault := "https://kvbench.vault.localhost:" + w.port
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

type loadGen struct {
	hc   *http.Client
	url  string
	auth string
	pid  int
}

type outcome struct {
	lat time.Duration
	err string
}

var wantValue = []byte(`"value":"`)

func (lg *loadGen) do(ctx context.Context, buf *bytes.Buffer) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lg.url, nil)
	req.Header.Set("Authorization", lg.auth)
	resp, err := lg.hc.Do(req)
	if err != nil {
		return err.Error()
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), wantValue) {
		s := buf.String()
		if len(s) > 300 {
			s = s[:300]
		}
		return fmt.Sprintf("%d %s", resp.StatusCode, s)
	}
	return ""
}

type meter struct {
	start    time.Time
	srv, gen time.Duration
}

func (lg *loadGen) begin() meter {
	return meter{start: time.Now(), srv: cpuTime(lg.pid), gen: cpuTime(0)}
}

func (lg *loadGen) end(m meter, p *Phase, outs [][]outcome) {
	el := time.Since(m.start)
	p.Seconds = el.Seconds()
	srv := (cpuTime(lg.pid) - m.srv).Seconds()
	p.ServerCPU = srv / el.Seconds()
	p.GeneratorCPU = (cpuTime(0) - m.gen).Seconds() / el.Seconds()
	var lats []time.Duration
	for _, o := range outs {
		for _, x := range o {
			p.Requests++
			if x.err != "" {
				p.Errors++
				if len(p.ErrorSamples) < 3 {
					p.ErrorSamples = append(p.ErrorSamples, x.err)
				}
				continue
			}
			lats = append(lats, x.lat)
		}
	}
	p.PerSec = float64(p.Requests-p.Errors) / el.Seconds()
	if srv > 0 {
		p.PerCPUSec = float64(p.Requests-p.Errors) / srv
	}
	slices.Sort(lats)
	pct := func(q float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := min(max(int(q*float64(len(lats))+0.5)-1, 0), len(lats)-1)
		return float64(lats[i].Microseconds()) / 1000
	}
	p.P50ms, p.P90ms, p.P99ms, p.MaxMs = pct(0.50), pct(0.90), pct(0.99), pct(1)
}

// closed runs conc workers back to back for d.
func (lg *loadGen) closed(ctx context.Context, conc int, d time.Duration) Phase {
	p := Phase{Mode: "closed", Concurrency: conc}
	outs := make([][]outcome, conc)
	var wg sync.WaitGroup
	m := lg.begin()
	deadline := m.start.Add(d)
	for wi := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			o := make([]outcome, 0, 1<<14)
			for ctx.Err() == nil {
				t := time.Now()
				if t.After(deadline) {
					break
				}
				e := lg.do(ctx, &buf)
				o = append(o, outcome{lat: time.Since(t), err: e})
			}
			outs[wi] = o
		}()
	}
	wg.Wait()
	lg.end(m, &p, outs)
	return p
}

// open sends requests at rate for d, whatever the answers take.
func (lg *loadGen) open(ctx context.Context, rate float64, workers int, d time.Duration) Phase {
	p := Phase{Mode: "open", TargetRate: rate}
	n := int(rate * d.Seconds())
	jobs := make(chan time.Time, n)
	outs := make([][]outcome, workers)
	var wg sync.WaitGroup
	for wi := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			var o []outcome
			for sched := range jobs {
				if ctx.Err() != nil {
					continue
				}
				e := lg.do(ctx, &buf)
				o = append(o, outcome{lat: time.Since(sched), err: e})
			}
			outs[wi] = o
		}()
	}
	m := lg.begin()
	interval := time.Duration(float64(time.Second) / rate)
	for k := range n {
		sched := m.start.Add(time.Duration(k) * interval)
		if w := time.Until(sched); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- sched
	}
	close(jobs)
	wg.Wait()
	lg.end(m, &p, outs)
	return p
}

// cpuTime is a process's user+system CPU time from /proc (0: this one).
func cpuTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}
