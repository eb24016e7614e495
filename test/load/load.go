package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// Phase is the outcome of one timed load phase.
type Phase struct {
	Mode        string  `json:"mode"` // closed or open
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"exchangesPerSec"`
	// PerCPUSec is exchanges per second of CPU time the server received:
	// what one whole core would do, discounting other processes on it.
	PerCPUSec float64 `json:"exchangesPerServerCpuSec"`
	P50ms     float64 `json:"p50ms"`
	P90ms     float64 `json:"p90ms"`
	P99ms     float64 `json:"p99ms"`
	MaxMs     float64 `json:"maxms"`
	// ServerCPU is the server's CPU time over the phase as a share of one
	// core; CoreBusy is how busy its core was in all (other processes
	// included); GeneratorCPU is this process's share of one core.
	ServerCPU    float64  `json:"serverCpu"`
	CoreBusy     float64  `json:"serverCoreBusy"`
	GeneratorCPU float64  `json:"generatorCpu"`
	PoolOut      bool     `json:"poolExhausted,omitempty"`
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

// RunResult is the outcome of "load run".
type RunResult struct {
	Kind       string   `json:"kind"` // "exchange"
	Name       string   `json:"name"`
	Start      string   `json:"start"`
	WifArgs    []string `json:"wifArgs"`
	ServerCPUs string   `json:"serverCpus"`
	GenCPUs    string   `json:"generatorCpus"`
	Proto      string   `json:"proto"`
	Identities int      `json:"identities"`
	FICs       int      `json:"fics"`
	Clients    int      `json:"clients"`
	Issuers    int      `json:"issuers"`
	SetupSecs  float64  `json:"setupSeconds"`
	MintSecs   float64  `json:"mintSeconds"`
	MemSetup   memStat  `json:"memAfterSetup"`
	MemLoad    memStat  `json:"memAfterLoad"`
	Closed     *Phase   `json:"closed,omitempty"`
	Open       *Phase   `json:"open,omitempty"`
	JWKSFetch  int64    `json:"jwksFetches"`
}

func runExchange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		bin        = fs.String("wif", "", "path of the wif binary (required)")
		wifArgs    = fs.String("wif-args", "", "extra flags for wif serve, space-separated, e.g. \"--token-signing-alg ES256 --token-reuse\"")
		serverCPUs = fs.String("server-cpus", "0", "taskset CPU list for wif (empty: no pinning)")
		genCPUs    = fs.String("generator-cpus", "1", "CPU list this process pins itself to after minting (empty: no pinning)")
		identities = fs.Int("identities", 1, "identities to create")
		fics       = fs.Int("fics", 10, "federated identity credentials to create in total (at most 20 per identity)")
		clients    = fs.Int("clients", 1, "identities the assertions are spread over (round-robin)")
		issuers    = fs.Int("issuers", 1, "issuers the non-target credentials are spread over (1: all on the test issuer)")
		setupConc  = fs.Int("setup-concurrency", 16, "concurrent ARM requests during setup")
		nAssert    = fs.Int("assertions", 20000, "fresh assertions to pre-mint for the closed-loop phase (bounds it: it stops early if they run out)")
		conc       = fs.Int("concurrency", 32, "closed-loop concurrency (in-flight requests)")
		duration   = fs.Duration("duration", 10*time.Second, "length of each timed phase")
		warmup     = fs.Int("warmup", 1000, "untimed requests before the closed-loop phase")
		proto      = fs.String("proto", "h1", "h1 (HTTP/1.1 keep-alive, one connection per in-flight request) or h2 (one multiplexed connection)")
		openRate   = fs.Float64("rate", 0, "open-loop phase at this fixed rate in exchanges/s (0: none)")
		openFrac   = fs.Float64("rate-fraction", 0, "open-loop phase at this fraction of the closed-loop maximum (exchanges per server CPU-second), e.g. 0.5 (0: none)")
		skipClosed = fs.Bool("no-closed", false, "skip the closed-loop phase (use with -rate)")
		openConns  = fs.Int("open-workers", 64, "open-loop workers (in-flight bound)")
		dataDir    = fs.String("data-dir", "", "wif data directory (default: a new temporary one, removed afterwards)")
		pidFile    = fs.String("pid-file", "", "write wif's pid here (for the caller's cleanup trap)")
		jsonOut    = fs.String("json", "", "write the result as JSON to this file")
		name       = fs.String("name", "exchange", "scenario label")
		perfOut    = fs.String("perf", "", "record the server with \"perf record -g\" during the closed-loop phase into this file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("-wif is required")
	}
	if *skipClosed && *openRate <= 0 {
		return errors.New("-no-closed needs -rate")
	}
	res := RunResult{Kind: "exchange", Name: *name, Start: time.Now().UTC().Format(time.RFC3339), WifArgs: strings.Fields(*wifArgs),
		ServerCPUs: *serverCPUs, GenCPUs: *genCPUs, Proto: *proto, Identities: *identities, FICs: *fics, Clients: *clients, Issuers: *issuers}

	work, err := os.MkdirTemp("", "wif-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dd := *dataDir
	if dd == "" {
		dd = filepath.Join(work, "data")
	}
	caFile := filepath.Join(work, "issuer-ca.pem")
	is, err := newIssuer(caFile)
	if err != nil {
		return err
	}
	defer is.Close()

	extra := append([]string{"--extra-ca-file", caFile, "--log-format", "json"}, res.WifArgs...)
	logPath := filepath.Join(work, "wif.log")
	if *dataDir != "" {
		logPath = filepath.Join(*dataDir, "wif.log")
	}
	w, err := loadkit.StartWif(ctx, *bin, *serverCPUs, dd, logPath, extra)
	if err != nil {
		return err
	}
	defer w.Stop()
	if *pidFile != "" {
		os.WriteFile(*pidFile, []byte(fmt.Sprintln(w.Pid)), 0o644)
		defer os.Remove(*pidFile)
	}
	fmt.Fprintf(stderr, "[%s] wif pid %d at %s (args %v)\n", *name, w.Pid, w.Base, res.WifArgs)

	setupHC, err := loadkit.TrustingClient(w.Boot.CAFile, loadkit.ClientOptions{Proto: "h1", Conns: *setupConc, ServerName: "localhost"})
	if err != nil {
		return err
	}
	a, err := newARM(ctx, setupHC, w.Base, w.Boot)
	if err != nil {
		return err
	}
	t0 := time.Now()
	targets, err := a.setup(ctx, setupSpec{Identities: *identities, FICs: *fics, Clients: *clients, Concurrency: *setupConc, IssuerURL: is.URL, Issuers: *issuers}, stderr)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	res.SetupSecs = time.Since(t0).Seconds()
	setupHC.CloseIdleConnections()
	fmt.Fprintf(stderr, "[%s] setup: %d identities, %d FICs in %.1fs\n", *name, *identities, *fics, res.SetupSecs)

	tokenURL := w.Base + "/" + w.Boot.TenantID + "/oauth2/v2.0/token"
	scope := "https://vault.localhost/.default"
	t0 = time.Now()
	total := *warmup
	if !*skipClosed {
		total += *nAssert
	}
	bodies := is.mintBodies(total, targets, scope, time.Now())
	res.MintSecs = time.Since(t0).Seconds()
	fmt.Fprintf(stderr, "[%s] minted %d fresh assertions in %.1fs\n", *name, total, res.MintSecs)

	// Let the server settle (GC after setup) before measuring memory.
	time.Sleep(2 * time.Second)
	if res.MemSetup, err = readMem(w.Pid); err != nil {
		return err
	}
	if *genCPUs != "" {
		if err := loadkit.Pin(os.Getpid(), *genCPUs); err != nil {
			return err
		}
	}
	conns := max(*conc, *openConns)
	hc, err := loadkit.TrustingClient(w.Boot.CAFile, loadkit.ClientOptions{Proto: *proto, Conns: conns, ServerName: "localhost"})
	if err != nil {
		return fmt.Errorf("-proto: %w", err)
	}
	lg := &loadGen{hc: hc, url: tokenURL, t: loadkit.Target{Pid: w.Pid, Core: loadkit.FirstCPU(*serverCPUs)}}

	// Warm-up: TLS handshakes, JWKS fetch, directory cache.
	if *warmup > 0 {
		p := lg.closed(ctx, bodies[:*warmup], *conc, time.Hour)
		if p.Errors > 0 {
			return fmt.Errorf("warm-up: %d of %d requests failed, e.g. %v", p.Errors, p.Requests, p.ErrorSamples)
		}
	}
	bodies = bodies[*warmup:]
	if !*skipClosed {
		stopPerf := func() {}
		if *perfOut != "" {
			if stopPerf, err = loadkit.StartPerf(*perfOut, w.Pid); err != nil {
				return err
			}
		}
		p := lg.closed(ctx, bodies, *conc, *duration)
		stopPerf()
		res.Closed = &p
		bodies = nil
		printPhase(stdout, *name, p)
	}
	rate := *openRate
	if *openFrac > 0 && res.Closed != nil {
		// The maximum is what the server's core does when it has all of
		// it: exchanges per server CPU-second (the wall-clock rate is lower
		// when other processes share the core).
		rate = *openFrac * max(res.Closed.PerSec, res.Closed.PerCPUSec)
	}
	if rate > 0 && ctx.Err() == nil {
		n := int(rate*duration.Seconds()) + 1
		t0 := time.Now()
		ob := is.mintBodies(n, targets, scope, time.Now())
		fmt.Fprintf(stderr, "[%s] minted %d more fresh assertions in %.1fs for %.0f/s open loop\n", *name, n, time.Since(t0).Seconds(), rate)
		p := lg.open(ctx, ob, rate, *openConns)
		res.Open = &p
		printPhase(stdout, *name, p)
	}
	if res.MemLoad, err = readMem(w.Pid); err != nil {
		return err
	}
	res.JWKSFetch = is.fetches.Load()
	fmt.Fprintf(stdout, "%s: server RSS after setup %.1f MiB, after load %.1f MiB (peak %.1f MiB); setup %.1fs\n",
		*name, loadkit.MiB(res.MemSetup.RSSKiB), loadkit.MiB(res.MemLoad.RSSKiB), loadkit.MiB(res.MemLoad.HWMKiB), res.SetupSecs)
	if err := loadkit.WriteJSON(*jsonOut, res); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, p := range []*Phase{res.Closed, res.Open} {
		if p != nil && p.Errors > 0 {
			return fmt.Errorf("%d of %d exchanges failed (%s loop), e.g. %v", p.Errors, p.Requests, p.Mode, p.ErrorSamples)
		}
	}
	return nil
}

func printPhase(w io.Writer, name string, p Phase) {
	fmt.Fprintf(w, "%s (%s): %.0f exchanges/s (%.0f per server CPU-second), p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %d requests, %d errors in %.2fs; server CPU %.0f%% (core busy %.0f%%), generator CPU %.0f%%\n",
		name, loadkit.Label(p.Mode, p.Concurrency, p.TargetRate), p.PerSec, p.PerCPUSec, p.P50ms, p.P90ms, p.P99ms, p.MaxMs, p.Requests, p.Errors, p.Seconds, 100*p.ServerCPU, 100*p.CoreBusy, 100*p.GeneratorCPU)
	if p.PoolOut {
		fmt.Fprintf(w, "%s: note: the pre-minted assertions ran out before the duration ended (raise -assertions)\n", name)
	}
}

// phaseOf is a phase's JSON form.
func phaseOf(mode string, conc int, rate float64, s loadkit.Stats) Phase {
	return Phase{Mode: mode, Concurrency: conc, TargetRate: rate, Requests: s.Requests, Errors: s.Errors, Seconds: s.Seconds,
		PerSec: s.PerSec, PerCPUSec: s.PerCPUSec, P50ms: s.Latency.P50, P90ms: s.Latency.P90, P99ms: s.Latency.P99, MaxMs: s.Latency.Max,
		ServerCPU: s.ServerCPU, CoreBusy: s.CoreBusy, GeneratorCPU: s.GeneratorCPU, ErrorSamples: s.ErrorSamples}
}

// loadGen sends pre-built token requests.
type loadGen struct {
	hc  *http.Client
	url string
	t   loadkit.Target
}

// do posts body and reports whether the answer is a 200 with an access
// token; buf is reused across calls.
func (lg *loadGen) do(ctx context.Context, body []byte, buf *bytes.Buffer) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lg.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return loadkit.Expect(lg.hc, req, buf, wantToken)
}

var wantToken = []byte(`"access_token":"ey`)

// send posts the k-th body.
func (lg *loadGen) send(bodies [][]byte) loadkit.Do {
	return func(ctx context.Context, k int, buf *bytes.Buffer) string { return lg.do(ctx, bodies[k], buf) }
}

// closed runs conc workers back to back until the duration ends or the
// bodies run out; each body (a fresh assertion) is sent once.
func (lg *loadGen) closed(ctx context.Context, bodies [][]byte, conc int, d time.Duration) Phase {
	s := loadkit.Closed(ctx, lg.t, conc, d, len(bodies), lg.send(bodies), nil)
	p := phaseOf("closed", conc, 0, s)
	p.PoolOut = s.Exhausted
	return p
}

// open sends the bodies at a fixed rate whatever the answers take
// (latency counts from the scheduled send time, so a stalled server is
// not hidden by a stalled generator).
func (lg *loadGen) open(ctx context.Context, bodies [][]byte, rate float64, workers int) Phase {
	return phaseOf("open", 0, rate, loadkit.Open(ctx, lg.t, rate, len(bodies), workers, lg.send(bodies), nil))
}
