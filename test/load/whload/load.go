package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const pathMutate = "/mutate-v1-pod"

// Phase is the outcome of one timed load phase.
type Phase struct {
	Mode        string  `json:"mode"` // closed or open
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	NotH2       int     `json:"notHTTP2"` // answers not over HTTP/2 (counted as errors too)
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"reviewsPerSec"`
	// PerCPUSec is reviews per second of CPU time the webhook received:
	// what one whole core would do, discounting other processes on it.
	PerCPUSec float64 `json:"reviewsPerServerCpuSec"`
	P50ms     float64 `json:"p50ms"`
	P90ms     float64 `json:"p90ms"`
	P99ms     float64 `json:"p99ms"`
	P999ms    float64 `json:"p999ms"`
	MaxMs     float64 `json:"maxms"`
	// ServerCPU is the webhook's CPU time over the phase as a share of one
	// core; CoreBusy is how busy its core was in all (other processes
	// included); GeneratorCPU is this process's share of one core.
	ServerCPU    float64  `json:"serverCpu"`
	CoreBusy     float64  `json:"serverCoreBusy"`
	GeneratorCPU float64  `json:"generatorCpu"`
	MaxRSSKiB    int64    `json:"maxRssKiB"` // largest VmRSS sampled every 100 ms during the phase
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

// loadGen posts pre-built AdmissionReviews to the webhook.
type loadGen struct {
	hc   *http.Client
	url  string
	pid  int
	core string
}

type outcome struct {
	lat time.Duration
	err string // "" on success
}

// do posts rv as kube-apiserver does and checks the answer; buf is reused.
func (lg *loadGen) do(ctx context.Context, rv review, buf *bytes.Buffer) (err string, h2 bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lg.url, bytes.NewReader(rv.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	resp, e := lg.hc.Do(req)
	if e != nil {
		return e.Error(), false
	}
	buf.Reset()
	_, e = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	h2 = resp.ProtoMajor == 2
	switch {
	case e != nil:
		return e.Error(), h2
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes()), h2
	case !h2:
		return "answered over " + resp.Proto + ", not HTTP/2", h2
	}
	if e := rv.check(buf.Bytes()); e != nil {
		return e.Error(), h2
	}
	return "", h2
}

// meter samples CPU counters and memory around a phase.
type meter struct {
	start            time.Time
	srv, gen         time.Duration
	coreBusy, coreTo int64
	maxRSS           atomic.Int64
	stop             chan struct{}
	done             chan struct{}
}

func (lg *loadGen) begin() *meter {
	b, t := coreBusy(lg.core)
	m := &meter{start: time.Now(), srv: cpuTime(lg.pid), gen: cpuTime(0), coreBusy: b, coreTo: t,
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if ms, err := readMem(lg.pid); err == nil && ms.RSSKiB > m.maxRSS.Load() {
				m.maxRSS.Store(ms.RSSKiB)
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (lg *loadGen) end(m *meter, p *Phase, outs [][]outcome) {
	el := time.Since(m.start)
	srvCPU := (cpuTime(lg.pid) - m.srv).Seconds()
	p.GeneratorCPU = (cpuTime(0) - m.gen).Seconds() / el.Seconds()
	b, t := coreBusy(lg.core)
	close(m.stop)
	<-m.done
	p.MaxRSSKiB = m.maxRSS.Load()
	p.Seconds = el.Seconds()
	p.ServerCPU = srvCPU / el.Seconds()
	if t > m.coreTo {
		p.CoreBusy = float64(b-m.coreBusy) / float64(t-m.coreTo)
	}
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
	if srvCPU > 0 {
		p.PerCPUSec = float64(p.Requests-p.Errors) / srvCPU
	}
	slices.Sort(lats)
	pct := func(q float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := int(q*float64(len(lats))+0.5) - 1
		i = min(max(i, 0), len(lats)-1)
		return float64(lats[i].Microseconds()) / 1000
	}
	p.P50ms, p.P90ms, p.P99ms, p.P999ms, p.MaxMs = pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1)
}

// closed runs conc workers back to back until d has passed or maxReq
// requests were sent, cycling through the pre-built reviews.
func (lg *loadGen) closed(ctx context.Context, rvs []review, conc int, d time.Duration, maxReq int) Phase {
	p := Phase{Mode: "closed", Concurrency: conc}
	var next atomic.Int64
	var notH2 atomic.Int64
	outs := make([][]outcome, conc)
	var wg sync.WaitGroup
	m := lg.begin()
	deadline := m.start.Add(d)
	for wi := range conc {
		wg.Go(func() {
			var buf bytes.Buffer
			o := make([]outcome, 0, 1<<14)
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= maxReq {
					break
				}
				t := time.Now()
				if t.After(deadline) {
					break
				}
				e, h2 := lg.do(ctx, rvs[k%len(rvs)], &buf)
				if !h2 {
					notH2.Add(1)
				}
				o = append(o, outcome{lat: time.Since(t), err: e})
			}
			outs[wi] = o
		})
	}
	wg.Wait()
	lg.end(m, &p, outs)
	p.NotH2 = int(notH2.Load())
	return p
}

// open sends n reviews at a fixed rate whatever the answers take (latency
// counts from the scheduled send time, so a stalled server is not hidden
// by a stalled generator), with at most workers in flight.
func (lg *loadGen) open(ctx context.Context, rvs []review, rate float64, n, workers int) Phase {
	p := Phase{Mode: "open", TargetRate: rate, Concurrency: workers}
	type job struct {
		k     int
		sched time.Time
	}
	jobs := make(chan job, n)
	outs := make([][]outcome, workers)
	var notH2 atomic.Int64
	var wg sync.WaitGroup
	for wi := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			var o []outcome
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				e, h2 := lg.do(ctx, rvs[j.k%len(rvs)], &buf)
				if !h2 {
					notH2.Add(1)
				}
				o = append(o, outcome{lat: time.Since(j.sched), err: e})
			}
			outs[wi] = o
		})
	}
	runtime.Gosched()
	m := lg.begin()
	interval := time.Duration(float64(time.Second) / rate)
	for k := range n {
		sched := m.start.Add(time.Duration(k) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{k, sched}
	}
	close(jobs)
	wg.Wait()
	lg.end(m, &p, outs)
	p.NotH2 = int(notH2.Load())
	return p
}

// memStat is a process's resident memory, from /proc/PID/status.
type memStat struct {
	RSSKiB int64 `json:"rssKiB"`
	HWMKiB int64 `json:"hwmKiB"` // peak RSS since the process started
	// AnonKiB and FileKiB split RSS into anonymous memory (Go heap, stacks,
	// runtime) and file-backed pages (the binary's text and data).
	AnonKiB int64 `json:"rssAnonKiB"`
	FileKiB int64 `json:"rssFileKiB"`
}

func readMem(pid int) (memStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStat{}, err
	}
	var m memStat
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKiB = n
		case "VmHWM":
			m.HWMKiB = n
		case "RssAnon":
			m.AnonKiB = n
		case "RssFile":
			m.FileKiB = n
		}
	}
	return m, nil
}

// cpuTime is a process's user+system CPU time, from /proc/PID/stat
// (USER_HZ is 100 on Linux); pid 0 is this process.
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
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// coreBusy returns the busy and total jiffies of one core, from /proc/stat,
// to show whether anything else ran on the webhook's core.
func coreBusy(core string) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu"+core {
			continue
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
	}
	return busy, total
}

// pin moves every thread of pid to cpus with taskset.
func pin(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, out)
	}
	return nil
}

// cpuCount is the number of CPUs in a taskset list such as "1", "0,2" or "2-3".
func cpuCount(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		a, b, ok := strings.Cut(part, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		switch {
		case !ok && err1 == nil:
			n++
		case ok && err1 == nil && err2 == nil && hi >= lo:
			n += hi - lo + 1
		}
	}
	return max(n, 1)
}

func firstCPU(list string) string {
	f, _, _ := strings.Cut(list, ",")
	f, _, _ = strings.Cut(f, "-")
	return f
}

// startPerf samples pid's call stacks into out until the returned func is called.
func startPerf(out string, pid int) (func(), error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "999", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}
