// Command whload benchmarks wif's admission webhook on loopback, calling
// it as kube-apiserver does: AdmissionReview v1 over HTTP/2 (one TLS
// connection, requests multiplexed), trusting the webhook's CA.
//
//	whload -wif /tmp/wif [-kubeconfig K] [-service-accounts 10000] [-concurrency 8] [-duration 10s] [-rate 5000]
//
// Unless given a cluster (-kubeconfig), it starts etcd and kube-apiserver
// (the binaries scripts/kube-apiserver.sh builds), creates the service
// accounts (annotated with azure.workload.identity/client-id, spread over
// namespaces) with client-go, starts "taskset -c 0 wif webhook", waits for
// /readyz and for wif_webhook_cached_service_accounts to reach the count,
// pins itself (and the API server and etcd) to core 1, and drives
// POST /mutate-v1-pod closed-loop at the given concurrency for the given
// duration, optionally followed by an open-loop phase at a fixed rate.
// Every answer must be HTTP/2, 200, allowed, for the request's uid, with a
// JSONPatch injecting the service account's client id; anything else is
// an error. It prints reviews/s (wall clock and per CPU-second the webhook
// received), p50/p90/p99, errors, the webhook's RSS, and PASS/FAIL against
// the targets; it exits non-zero when a target fails.
//
// See docs/benchmarks.md ("Webhook") and scripts/bench-webhook.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

// Targets from issue 14 (standard serving stack).
const (
	targetRate     = 10000 // reviews per webhook CPU-second, concurrency 8
	targetP99ms    = 5.0   // at that concurrency
	targetRSSBytes = 60e6  // with 10k cached service accounts
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "whload: %v\n", err)
		os.Exit(1)
	}
}

// Result is what one run measured.
type Result struct {
	Start           string      `json:"start"`
	LoadAvgStart    string      `json:"loadAvgStart"`
	LoadAvgEnd      string      `json:"loadAvgEnd"`
	ServerCPUs      string      `json:"serverCpus"`
	GenCPUs         string      `json:"generatorCpus"`
	WebhookArgs     []string    `json:"webhookArgs,omitempty"`
	WebhookEnv      []string    `json:"webhookEnv,omitempty"`
	ServiceAccounts int         `json:"serviceAccounts"`
	Namespaces      int         `json:"namespaces"`
	Cached          int         `json:"cachedServiceAccounts"`
	SetupSecs       float64     `json:"setupSeconds"`
	WarmSecs        float64     `json:"cacheWarmSeconds"` // webhook start to cache full
	ReviewBytes     int         `json:"reviewBytes"`      // mean AdmissionReview body size
	MemWarm         loadkit.Mem `json:"memAfterCacheWarm"`
	MemLoad         loadkit.Mem `json:"memAfterLoad"`
	Closed          *Phase      `json:"closed,omitempty"`
	H2load          *Phase      `json:"h2load,omitempty"`
	Open            *Phase      `json:"open,omitempty"`
	// PatchedCounted is the rise of wif_webhook_admission_requests_total{outcome="patched"}
	// over the run (warm-up included), a cross-check of the generator's count.
	PatchedCounted float64 `json:"patchedCountedByWebhook"`
	SentOK         int     `json:"sentOK"`
	// Go runtime figures from the webhook's /metrics, after the cache is
	// warm and after the load, to tell live heap from GC headroom and
	// memory not yet returned to the OS; GCCycles is the number of GC
	// cycles during the timed phases.
	GoWarm   goMem   `json:"goAfterCacheWarm"`
	GoLoad   goMem   `json:"goAfterLoad"`
	GCCycles float64 `json:"gcCyclesDuringLoad"`
}

// goMem is a few of the Go collector's gauges, in bytes.
type goMem struct {
	HeapAlloc    float64 `json:"heapAlloc"`
	HeapInuse    float64 `json:"heapInuse"`
	HeapIdle     float64 `json:"heapIdle"`
	HeapReleased float64 `json:"heapReleased"`
	StackInuse   float64 `json:"stackInuse"`
	Sys          float64 `json:"sys"`
	Goroutines   float64 `json:"goroutines"`
}

func goMemOf(m map[string]float64) goMem {
	return goMem{
		HeapAlloc: m["go_memstats_heap_alloc_bytes"], HeapInuse: m["go_memstats_heap_inuse_bytes"],
		HeapIdle: m["go_memstats_heap_idle_bytes"], HeapReleased: m["go_memstats_heap_released_bytes"],
		StackInuse: m["go_memstats_stack_inuse_bytes"], Sys: m["go_memstats_sys_bytes"], Goroutines: m["go_goroutines"],
	}
}

func (g goMem) String() string {
	return fmt.Sprintf("heap alloc %.1f MiB, heap in use %.1f MiB, heap idle %.1f MiB (released %.1f), stacks %.1f MiB, Go sys %.1f MiB, %.0f goroutines",
		g.HeapAlloc/(1<<20), g.HeapInuse/(1<<20), g.HeapIdle/(1<<20), g.HeapReleased/(1<<20), g.StackInuse/(1<<20), g.Sys/(1<<20), g.Goroutines)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("whload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := os.Getenv("WIF_TOOLS_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "wif")
	}
	var (
		bin         = fs.String("wif", "", "path of the wif binary (required)")
		whArgs      = fs.String("webhook-args", "", "extra flags for wif webhook, space-separated")
		whEnv       = fs.String("webhook-env", "", "extra environment for wif webhook, space-separated KEY=VALUE (e.g. \"GOMEMLIMIT=40MiB GOGC=200\"), for experiments")
		kubeconfig  = fs.String("kubeconfig", "", "use this cluster instead of starting etcd and kube-apiserver")
		apiserver   = fs.String("kube-apiserver", filepath.Join(cache, "kube-apiserver"), "kube-apiserver binary (scripts/kube-apiserver.sh build)")
		etcdBin     = fs.String("etcd", "/usr/bin/etcd", "etcd binary")
		workDir     = fs.String("work", "", "directory for state and logs (default: a new one under /dev/shm or $TMPDIR, removed afterwards)")
		keep        = fs.Bool("keep", false, "keep -work's default directory (logs) after the run")
		nSA         = fs.Int("service-accounts", 10000, "service accounts to create and cache")
		nNS         = fs.Int("namespaces", 100, "namespaces they are spread over")
		prefix      = fs.String("namespace-prefix", "whload", "namespace name prefix")
		setupConc   = fs.Int("setup-concurrency", 32, "concurrent creates during setup")
		serverCPUs  = fs.String("server-cpus", "0", "taskset CPU list for the webhook (empty: no pinning)")
		genCPUs     = fs.String("generator-cpus", "1", "CPU list this process (and the API server and etcd it started) moves to before the load (empty: no pinning)")
		conc        = fs.Int("concurrency", 8, "closed-loop concurrency (in-flight reviews)")
		duration    = fs.Duration("duration", 10*time.Second, "length of each timed phase (at most 2m)")
		maxReq      = fs.Int("max-requests", 1_000_000, "bound on the requests of a phase")
		warmup      = fs.Int("warmup", 3000, "untimed reviews before the closed loop")
		poolSize    = fs.Int("reviews", 4096, "distinct pre-built AdmissionReviews (cycled)")
		openRate    = fs.Float64("rate", 0, "open-loop phase at this fixed rate in reviews/s after the closed loop (0: none)")
		openWorkers = fs.Int("open-workers", 64, "open-loop in-flight bound")
		h2loadBin   = fs.String("h2load", "", "also drive the closed loop with this h2load binary (nghttp2-client), a C HTTP/2 generator much cheaper per request than this Go client (empty: skip)")
		perfOut     = fs.String("perf", "", "record the webhook with \"perf record -g\" during the closed loop into this file")
		pidFile     = fs.String("pid-file", "", "write the pids of the processes started here (for the caller's cleanup trap)")
		jsonOut     = fs.String("json", "", "write the result as JSON to this file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *bin == "":
		return errors.New("-wif is required")
	case *duration <= 0 || *duration > 2*time.Minute:
		return errors.New("-duration must be in (0, 2m]")
	case *nSA < 1 || *nNS < 1 || *conc < 1 || *poolSize < 1 || *setupConc < 1:
		return errors.New("-service-accounts, -namespaces, -concurrency, -reviews and -setup-concurrency must be positive")
	}
	res := Result{Start: time.Now().UTC().Format(time.RFC3339), LoadAvgStart: loadAvg(), ServerCPUs: *serverCPUs, GenCPUs: *genCPUs,
		WebhookArgs: strings.Fields(*whArgs), WebhookEnv: strings.Fields(*whEnv), ServiceAccounts: *nSA, Namespaces: *nNS}
	pop := population{Prefix: *prefix, Namespaces: *nNS, Count: *nSA}

	dir := *workDir
	if dir == "" {
		base := os.TempDir()
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm" // etcd's fsyncs are cheap there
		}
		d, err := os.MkdirTemp(base, "whload-")
		if err != nil {
			return err
		}
		dir = d
		if !*keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "whload: work directory %s; load average %s\n", dir, res.LoadAvgStart)
	var pids []int
	writePids := func() {
		if *pidFile != "" {
			var b strings.Builder
			for _, p := range pids {
				fmt.Fprintln(&b, p)
			}
			os.WriteFile(*pidFile, []byte(b.String()), 0o644)
		}
	}
	if *pidFile != "" {
		defer os.Remove(*pidFile)
	}

	kc := *kubeconfig
	var cl *cluster
	if kc == "" {
		t0 := time.Now()
		var err error
		if cl, err = startCluster(ctx, *apiserver, *etcdBin, dir); err != nil {
			return err
		}
		defer cl.Stop()
		pids = append(pids, cl.Pids()...)
		writePids()
		kc = cl.Kubeconfig
		fmt.Fprintf(stderr, "whload: etcd and kube-apiserver at %s ready in %.1fs\n", cl.Server, time.Since(t0).Seconds())
	}
	client, err := kubeClient(kc)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := pop.create(ctx, client, *setupConc, stderr); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	res.SetupSecs = time.Since(t0).Seconds()
	fmt.Fprintf(stderr, "whload: %d service accounts in %d namespaces ready in %.1fs\n", *nSA, *nNS, res.SetupSecs)

	t0 = time.Now()
	wh, err := startWebhook(ctx, *bin, *serverCPUs, dir, kc, "00000000-0000-4000-8000-00000000beef", "https://wif.example:8443/", res.WebhookArgs, res.WebhookEnv)
	if err != nil {
		return err
	}
	defer wh.Stop()
	pids = append(pids, wh.Pid)
	writePids()
	if res.Cached, err = wh.waitWarm(ctx, *nSA, 3*time.Minute); err != nil {
		return err
	}
	res.WarmSecs = time.Since(t0).Seconds()
	fmt.Fprintf(stderr, "whload: webhook pid %d at %s (cpus %q) ready with %d cached service accounts in %.1fs\n",
		wh.Pid, wh.Base, *serverCPUs, res.Cached, res.WarmSecs)

	rvs, err := buildReviews(pop, *poolSize, 1)
	if err != nil {
		return err
	}
	for _, rv := range rvs {
		res.ReviewBytes += len(rv.body)
	}
	res.ReviewBytes /= len(rvs)

	if *genCPUs != "" {
		if cl != nil {
			for _, p := range cl.Pids() {
				if err := loadkit.Pin(p, *genCPUs); err != nil {
					return err
				}
			}
		}
		if err := loadkit.Pin(os.Getpid(), *genCPUs); err != nil {
			return err
		}
		runtime.GOMAXPROCS(loadkit.CPUCount(*genCPUs))
	}
	// Let the webhook settle after the initial list before measuring memory.
	time.Sleep(2 * time.Second)
	if res.MemWarm, err = loadkit.ReadMem(wh.Pid); err != nil {
		return err
	}
	mc, err := httpsClient(wh.CAFile, 1)
	if err != nil {
		return err
	}
	before, err := wh.metrics(ctx, mc)
	if err != nil {
		return err
	}
	res.GoWarm = goMemOf(before)
	hc, err := httpsClient(wh.CAFile, 4)
	if err != nil {
		return err
	}
	// kube-apiserver appends ?timeout= (the webhook's timeoutSeconds).
	lg := &loadGen{hc: hc, url: wh.Base + pathMutate + "?timeout=10s", t: loadkit.Target{Pid: wh.Pid, Core: loadkit.FirstCPU(*serverCPUs), SampleRSS: true}}
	if *warmup > 0 {
		p := lg.closed(ctx, rvs, *conc, time.Minute, *warmup)
		if p.Errors > 0 {
			return fmt.Errorf("warm-up: %d of %d reviews failed, e.g. %v", p.Errors, p.Requests, p.ErrorSamples)
		}
		res.SentOK += p.Requests
	}
	gcBefore := 0.0
	if m, err := wh.metrics(ctx, mc); err == nil {
		gcBefore = m["go_gc_duration_seconds_count"]
	}
	stopPerf := func() {}
	if *perfOut != "" {
		if stopPerf, err = loadkit.StartPerf(*perfOut, wh.Pid); err != nil {
			return err
		}
	}
	m0, _ := wh.metrics(ctx, mc)
	p := lg.closed(ctx, rvs, *conc, *duration, *maxReq)
	stopPerf()
	m1, _ := wh.metrics(ctx, mc) // nil on error: no h2load cross-check
	p.Handler = handlerShares(m0, m1)
	res.Closed = &p
	res.SentOK += p.Requests - p.Errors
	printPhase(stdout, p)
	if *h2loadBin != "" && ctx.Err() == nil {
		p, err := lg.h2loadPhase(ctx, *h2loadBin, dir, rvs[0].body, *conc, *duration)
		if err != nil {
			return err
		}
		m, merr := wh.metrics(ctx, mc)
		p.Handler = handlerShares(m1, m)
		// h2load sees only the status: the webhook's own count of patched
		// reviews must have risen by its successful answers.
		if merr == nil && m1 != nil {
			checkPatched(&p, m[patchedMetric]-m1[patchedMetric])
		}
		m1 = m
		res.H2load = &p
		printPhase(stdout, p)
	}
	if *openRate > 0 && ctx.Err() == nil {
		n := min(int(*openRate*duration.Seconds())+1, *maxReq)
		p := lg.open(ctx, rvs, *openRate, n, *openWorkers)
		m2, _ := wh.metrics(ctx, mc)
		p.Handler = handlerShares(m1, m2)
		res.Open = &p
		res.SentOK += p.Requests - p.Errors
		printPhase(stdout, p)
	}
	if res.MemLoad, err = loadkit.ReadMem(wh.Pid); err != nil {
		return err
	}
	if after, err := wh.metrics(ctx, mc); err == nil {
		res.PatchedCounted = after[patchedMetric] - before[patchedMetric]
		res.GoLoad = goMemOf(after)
		res.GCCycles = after["go_gc_duration_seconds_count"] - gcBefore
	}
	res.LoadAvgEnd = loadAvg()
	fmt.Fprintf(stdout, "webhook RSS: after cache warm %.1f MiB (anon %.1f, file %.1f), after load %.1f MiB (anon %.1f, file %.1f), peak (VmHWM) %.1f MiB; %d cached service accounts; review body %d bytes; webhook counted %.0f patched, generator %d ok\n",
		loadkit.MiB(res.MemWarm.RSSKiB), loadkit.MiB(res.MemWarm.AnonKiB), loadkit.MiB(res.MemWarm.FileKiB), loadkit.MiB(res.MemLoad.RSSKiB), loadkit.MiB(res.MemLoad.AnonKiB), loadkit.MiB(res.MemLoad.FileKiB),
		loadkit.MiB(res.MemLoad.HWMKiB), res.Cached, res.ReviewBytes, res.PatchedCounted, res.SentOK)
	fmt.Fprintf(stdout, "webhook Go runtime after cache warm: %s\nwebhook Go runtime after load: %s; %.0f GC cycles during the timed phases\n", res.GoWarm, res.GoLoad, res.GCCycles)
	fmt.Fprintf(stdout, "load average: %s at start, %s at end\n", res.LoadAvgStart, res.LoadAvgEnd)
	if err := loadkit.WriteJSON(*jsonOut, res); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return report(stdout, res)
}

// patchedMetric counts the reviews the webhook answered with a patch.
const patchedMetric = `wif_webhook_admission_requests_total{outcome="patched"}`

// checkPatched counts an error in p (an h2load phase, which checks only
// HTTP status) when the webhook patched fewer reviews than the phase had
// successful answers, or more than those and the p.Concurrency that were
// in flight when h2load stopped (it does not wait for them).
func checkPatched(p *Phase, patched float64) {
	ok := p.Requests - p.Errors
	if n := int(patched); n >= ok && n <= ok+p.Concurrency {
		return
	}
	p.Errors += max(ok-int(patched), 1)
	p.ErrorSamples = append(p.ErrorSamples, fmt.Sprintf("the webhook counted %.0f patched reviews for %d successful answers", patched, ok))
}

// report prints PASS/FAIL per target; it fails when one does.
func report(w io.Writer, r Result) error {
	type line struct{ what, measured, target, result string }
	var lines []line
	fail := 0
	add := func(what, measured, target string, pass bool) {
		res := "PASS"
		if !pass {
			res, fail = "FAIL", fail+1
		}
		lines = append(lines, line{what, measured, target, res})
	}
	p := *r.Closed
	// Judged per CPU-second the webhook received (what its whole core
	// does, discounting other processes that shared it), as the token
	// benchmark is; the wall-clock rate is shown next to it.
	rate := p.PerCPUSec
	if rate == 0 {
		rate = p.PerSec
	}
	others := ""
	if o := p.CoreBusy - p.ServerCPU; o > 0.05 {
		others = fmt.Sprintf("; %.0f%% of its core went to other processes", 100*o)
	}
	add(fmt.Sprintf("rate, concurrency %d", p.Concurrency),
		fmt.Sprintf("%.0f reviews/core-s (wall %.0f/s, webhook CPU %.0f%%%s)", rate, p.PerSec, 100*p.ServerCPU, others),
		fmt.Sprintf(">= %d/s", targetRate), rate >= targetRate)
	add(fmt.Sprintf("p99, concurrency %d", p.Concurrency),
		fmt.Sprintf("%.2f ms (p50 %.2f, p90 %.2f, p99.9 %.2f, max %.2f)", p.P99ms, p.P50ms, p.P90ms, p.P999ms, p.MaxMs),
		fmt.Sprintf("< %.0f ms", targetP99ms), p.P99ms < targetP99ms && p.Requests > 0)
	add("errors (HTTP/2, allowed, JSONPatch)", fmt.Sprintf("%d of %d", p.Errors, p.Requests), "0", p.Errors == 0 && p.Requests > 0)
	if h := r.H2load; h != nil {
		add(fmt.Sprintf("p99, concurrency %d, h2load", h.Concurrency),
			fmt.Sprintf("%.2f ms (p50 %.2f, p99.9 %.2f; %.0f reviews/core-s, wall %.0f/s; %d errors)", h.P99ms, h.P50ms, h.P999ms, h.PerCPUSec, h.PerSec, h.Errors),
			fmt.Sprintf("< %.0f ms, 0 errors", targetP99ms), h.P99ms < targetP99ms && h.Errors == 0 && h.Requests > 0)
	}
	if o := r.Open; o != nil {
		// Reported, not judged on latency: the targets are the
		// closed loop's, and this p99 holds the Go generator's own lag
		// (it sleeps between sends and sends late in bursts on this kind
		// of VM). Errors still fail.
		add(fmt.Sprintf("open loop at %.0f/s", o.TargetRate),
			fmt.Sprintf("p99 %.2f ms (p50 %.2f; generator's start lag p99 %.2f), %d errors of %d", o.P99ms, o.P50ms, o.StartLagP99ms, o.Errors, o.Requests),
			"0 errors; latency reported", o.Errors == 0 && o.Requests > 0)
	}
	rss := max(r.MemWarm.RSSKiB, r.MemLoad.RSSKiB, p.MaxRSSKiB)
	if r.Open != nil {
		rss = max(rss, r.Open.MaxRSSKiB)
	}
	if r.H2load != nil {
		rss = max(rss, r.H2load.MaxRSSKiB)
	}
	// Judged on the peak over the webhook's life (VmHWM), startup included:
	// a container's memory limit has to hold that too.
	peak := max(rss, r.MemLoad.HWMKiB)
	add(fmt.Sprintf("RSS, %dk cached service accounts", r.Cached/1000),
		fmt.Sprintf("%.1f MB peak, VmHWM (max sampled %.1f, warm %.1f, after load %.1f)", kb(peak), kb(rss), kb(r.MemWarm.RSSKiB), kb(r.MemLoad.RSSKiB)),
		fmt.Sprintf("< %.0f MB", targetRSSBytes/1e6), float64(peak)*1024 < targetRSSBytes && r.Cached >= r.ServiceAccounts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tMEASURED\tWANT\tRESULT")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.what, l.measured, l.target, l.result)
	}
	tw.Flush()
	if fail > 0 {
		return fmt.Errorf("%d of %d targets failed", fail, len(lines))
	}
	return nil
}

func printPhase(w io.Writer, p Phase) {
	label := loadkit.Label(p.Mode, p.Concurrency, p.TargetRate)
	gen := fmt.Sprintf("generator CPU %.0f%%", 100*p.GeneratorCPU)
	if p.Generator != "" {
		// Another program drove the phase; this process's CPU says nothing.
		label += " (" + p.Generator + ")"
		gen = p.Generator + "'s CPU not measured"
	}
	fmt.Fprintf(w, "%s: %.0f reviews/s (%.0f per webhook CPU-second), p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; %d requests, %d errors (%d not HTTP/2) in %.2fs; webhook CPU %.0f%% (its core busy %.0f%%), %s, webhook RSS max %.1f MiB\n",
		label, p.PerSec, p.PerCPUSec, p.P50ms, p.P90ms, p.P99ms, p.P999ms, p.MaxMs, p.Requests, p.Errors, p.NotH2, p.Seconds,
		100*p.ServerCPU, 100*p.CoreBusy, gen, loadkit.MiB(p.MaxRSSKiB))
	if p.Mode == "open" {
		fmt.Fprintf(w, "  generator's own start lag: p99 %.2f ms (included in the latencies above)\n", p.StartLagP99ms)
	}
	if len(p.Handler) > 0 {
		fmt.Fprintf(w, "  inside the webhook's handler (its histogram):")
		for _, b := range p.Handler {
			fmt.Fprintf(w, " %.2f%% within %s ms", 100*b.Share, b.LE)
		}
		fmt.Fprintln(w)
	}
	for _, e := range p.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// handlerShares is the share of reviews the webhook's own duration
// histogram puts within 0.5, 1, 2.5 and 5 ms between two scrapes: the time
// inside its handler, without the HTTP/2 transport and scheduling that the
// generator's percentiles include. Nil if a scrape failed.
func handlerShares(before, after map[string]float64) []Bucket {
	const name = "wif_webhook_admission_duration_seconds"
	total := after[name+"_count"] - before[name+"_count"]
	if before == nil || after == nil || total <= 0 {
		return nil
	}
	var out []Bucket
	for _, le := range []string{"0.0005", "0.001", "0.0025", "0.005"} {
		k := name + `_bucket{le="` + le + `"}`
		ms, _ := strconv.ParseFloat(le, 64)
		out = append(out, Bucket{LE: strconv.FormatFloat(ms*1000, 'f', -1, 64), Share: (after[k] - before[k]) / total})
	}
	return out
}

func kb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
