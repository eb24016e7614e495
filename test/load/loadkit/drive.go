package loadkit

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the server process a phase measures.
type Target struct {
	Pid int
	// Core is the server's core ("0"); when set, Stats.CoreBusy says how
	// busy it was in all, other processes included.
	Core string
	// SampleRSS samples the server's VmRSS every 100 ms into
	// Stats.MaxRSSKiB.
	SampleRSS bool
}

// Do sends request k (0, 1, … in the order they are claimed) and returns
// "" on success or what went wrong. buf is the calling worker's scratch
// buffer, reused across its calls.
type Do func(ctx context.Context, k int, buf *bytes.Buffer) string

// Verify, if not nil, checks the answer to request k that Do left in buf
// and returns "" or what is wrong with it. It runs after the latency has
// been taken: checking an answer is the generator's work, not the
// server's, and must not count against the server's percentiles.
type Verify func(k int, buf *bytes.Buffer) string

// Stats is what one timed phase measured.
type Stats struct {
	Requests     int
	Errors       int
	ErrorSamples []string // the first three errors
	Seconds      float64
	PerSec       float64 // successful requests per wall-clock second
	// PerCPUSec is successful requests per second of CPU time the server
	// received: what one whole core would do, discounting other processes
	// on it (0 if it used none).
	PerCPUSec float64
	Latency   Latency // of the successful requests
	// StartLag (Open only) is how late the generator sent each request
	// after its scheduled time: the part of Latency that is the
	// generator's own delay (its timer, its scheduling), not the server's.
	StartLag Latency
	// ServerCPU and GeneratorCPU are the server's and this process's CPU
	// time over the phase as a share of one core; CoreBusy is how busy the
	// server's core was in all (0 without Target.Core).
	ServerCPU    float64
	GeneratorCPU float64
	CoreBusy     float64
	MaxRSSKiB    int64 // largest sampled VmRSS (0 without Target.SampleRSS)
	// Exhausted is set by Closed when the requests ran out (limit) before
	// the duration ended.
	Exhausted bool
}

// Latency summarises latencies, in milliseconds (microsecond resolution);
// percentile q is the ceil(q·n)-th smallest, rounded to the nearest rank.
type Latency struct {
	P50, P90, P99, P999, Max float64
}

// Summarize returns the percentiles of lats, which it sorts; all are 0
// when lats is empty.
func Summarize(lats []time.Duration) Latency {
	slices.Sort(lats)
	pct := func(q float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := int(q*float64(len(lats))+0.5) - 1
		i = min(max(i, 0), len(lats)-1)
		return float64(lats[i].Microseconds()) / 1000
	}
	return Latency{P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), P999: pct(0.999), Max: pct(1)}
}

// Label describes a phase as the tools print it: "closed loop,
// concurrency 32" or "open loop at 5000/s".
func Label(mode string, concurrency int, rate float64) string {
	if mode == "open" {
		return fmt.Sprintf("open loop at %.0f/s", rate)
	}
	return fmt.Sprintf("closed loop, concurrency %d", concurrency)
}

// outcome is one request's latency, start lag (Open) and error ("" on
// success).
type outcome struct {
	lat, lag time.Duration
	err      string
}

// Closed runs conc workers back to back, each sending its next request as
// soon as the previous one answered, until d has passed, limit requests
// were claimed or ctx is done. Latency counts from each send.
func Closed(ctx context.Context, t Target, conc int, d time.Duration, limit int, do Do, verify Verify) Stats {
	var next atomic.Int64
	var stop atomic.Bool
	outs := make([][]outcome, conc)
	var wg sync.WaitGroup
	m := begin(t)
	deadline := m.start.Add(d)
	for wi := range conc {
		wg.Go(func() {
			var buf bytes.Buffer
			o := make([]outcome, 0, min(limit/conc, 1<<14)+16)
			for !stop.Load() && ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= limit {
					stop.Store(true)
					break
				}
				start := time.Now()
				if start.After(deadline) {
					stop.Store(true)
					break
				}
				e := do(ctx, k, &buf)
				lat := time.Since(start)
				if e == "" && verify != nil {
					e = verify(k, &buf)
				}
				o = append(o, outcome{lat: lat, err: e})
			}
			outs[wi] = o
		})
	}
	wg.Wait()
	s := m.end(outs)
	s.Exhausted = int(next.Load()) >= limit && time.Now().Before(deadline)
	return s
}

// Open sends n requests at a fixed rate whatever the answers take, with
// at most workers in flight, until they are sent or ctx is done. Latency
// counts from each request's scheduled send time, so a stalled server is
// not hidden by a stalled generator.
func Open(ctx context.Context, t Target, rate float64, n, workers int, do Do, verify Verify) Stats {
	type job struct {
		k     int
		sched time.Time
	}
	jobs := make(chan job, n)
	outs := make([][]outcome, workers)
	var wg sync.WaitGroup
	for wi := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			var o []outcome
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				lag := time.Since(j.sched)
				e := do(ctx, j.k, &buf)
				lat := time.Since(j.sched)
				if e == "" && verify != nil {
					e = verify(j.k, &buf)
				}
				o = append(o, outcome{lat: lat, lag: lag, err: e})
			}
			outs[wi] = o
		})
	}
	runtime.Gosched()
	m := begin(t)
	interval := time.Duration(float64(time.Second) / rate)
	for k := range n {
		sched := m.start.Add(time.Duration(k) * interval)
		if w := time.Until(sched); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{k, sched}
	}
	close(jobs)
	wg.Wait()
	return m.end(outs)
}

// meter samples CPU counters (and, optionally, memory) around a phase.
type meter struct {
	t                Target
	start            time.Time
	srv, gen         time.Duration
	coreBusy, coreTo int64
	maxRSS           atomic.Int64
	stop, done       chan struct{}
}

func begin(t Target) *meter {
	m := &meter{t: t}
	if t.Core != "" {
		m.coreBusy, m.coreTo = CoreBusy(t.Core)
	}
	m.start, m.srv, m.gen = time.Now(), CPUTime(t.Pid), CPUTime(0)
	if t.SampleRSS {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(m.done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if ms, err := ReadMem(t.Pid); err == nil && ms.RSSKiB > m.maxRSS.Load() {
					m.maxRSS.Store(ms.RSSKiB)
				}
				select {
				case <-m.stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	return m
}

// External measures a phase driven by another program (e.g. h2load):
// run drives it and returns the latencies of its successful requests and
// its failures, and External adds the CPU and memory figures as Closed and
// Open do.
func External(t Target, run func() (lats []time.Duration, errs []string)) Stats {
	m := begin(t)
	lats, errs := run()
	o := make([]outcome, 0, len(lats)+len(errs))
	for _, l := range lats {
		o = append(o, outcome{lat: l})
	}
	for _, e := range errs {
		o = append(o, outcome{err: e})
	}
	return m.end([][]outcome{o})
}

func (m *meter) end(outs [][]outcome) Stats {
	el := time.Since(m.start)
	var s Stats
	srvCPU := (CPUTime(m.t.Pid) - m.srv).Seconds()
	s.GeneratorCPU = (CPUTime(0) - m.gen).Seconds() / el.Seconds()
	if m.t.Core != "" {
		if b, t := CoreBusy(m.t.Core); t > m.coreTo {
			s.CoreBusy = float64(b-m.coreBusy) / float64(t-m.coreTo)
		}
	}
	if m.stop != nil {
		close(m.stop)
		<-m.done
		s.MaxRSSKiB = m.maxRSS.Load()
	}
	s.Seconds = el.Seconds()
	s.ServerCPU = srvCPU / el.Seconds()
	var lats, lags []time.Duration
	for _, o := range outs {
		for _, x := range o {
			lags = append(lags, x.lag)
			s.Requests++
			if x.err != "" {
				s.Errors++
				if len(s.ErrorSamples) < 3 {
					s.ErrorSamples = append(s.ErrorSamples, x.err)
				}
				continue
			}
			lats = append(lats, x.lat)
		}
	}
	s.PerSec = float64(s.Requests-s.Errors) / el.Seconds()
	if srvCPU > 0 {
		s.PerCPUSec = float64(s.Requests-s.Errors) / srvCPU
	}
	s.Latency = Summarize(lats)
	s.StartLag = Summarize(lags)
	return s
}

// Expect sends req with hc and reads the answer into buf; it returns ""
// when the answer is a 200 whose body contains want, or else the error or
// the status and (at most 300 bytes of) the body.
func Expect(hc *http.Client, req *http.Request, buf *bytes.Buffer, want []byte) string {
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error()
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), want) {
		s := buf.String()
		if len(s) > 300 {
			s = s[:300]
		}
		return fmt.Sprintf("%d %s", resp.StatusCode, s)
	}
	return ""
}
