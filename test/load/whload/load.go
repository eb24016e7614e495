package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wifproject/wif/test/load/loadkit"
)

const pathMutate = "/mutate-v1-pod"

// Phase is the outcome of one timed load phase.
type Phase struct {
	// Generator is "h2load" for the phase h2load drove, else empty (this
	// tool's Go HTTP/2 client).
	Generator string `json:"generator,omitempty"`
	// Handler is the webhook's own view of the phase (see handlerShares).
	Handler     []Bucket `json:"handler,omitempty"`
	Mode        string   `json:"mode"` // closed or open
	Concurrency int      `json:"concurrency,omitempty"`
	TargetRate  float64  `json:"targetRate,omitempty"`
	Requests    int      `json:"requests"`
	Errors      int      `json:"errors"`
	NotH2       int      `json:"notHTTP2"` // answers not over HTTP/2 (counted as errors too)
	Seconds     float64  `json:"seconds"`
	PerSec      float64  `json:"reviewsPerSec"`
	// PerCPUSec is reviews per second of CPU time the webhook received:
	// what one whole core would do, discounting other processes on it.
	PerCPUSec float64 `json:"reviewsPerServerCpuSec"`
	P50ms     float64 `json:"p50ms"`
	P90ms     float64 `json:"p90ms"`
	P99ms     float64 `json:"p99ms"`
	P999ms    float64 `json:"p999ms"`
	MaxMs     float64 `json:"maxms"`
	// StartLagP99ms (open loop) is the 99th percentile of how late the
	// generator itself sent a review: latency that is not the webhook's.
	StartLagP99ms float64 `json:"startLagP99ms,omitempty"`
	// ServerCPU is the webhook's CPU time over the phase as a share of one
	// core; CoreBusy is how busy its core was in all (other processes
	// included); GeneratorCPU is this process's share of one core.
	ServerCPU    float64  `json:"serverCpu"`
	CoreBusy     float64  `json:"serverCoreBusy"`
	GeneratorCPU float64  `json:"generatorCpu"`
	MaxRSSKiB    int64    `json:"maxRssKiB"` // largest VmRSS sampled every 100 ms during the phase
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

// Bucket is the share of reviews the webhook answered within LE ms.
type Bucket struct {
	LE    string  `json:"leMs"`
	Share float64 `json:"share"`
}

// phaseOf is a phase's JSON form.
func phaseOf(mode string, conc int, rate float64, s loadkit.Stats) Phase {
	return Phase{Mode: mode, Concurrency: conc, TargetRate: rate, Requests: s.Requests, Errors: s.Errors, Seconds: s.Seconds,
		PerSec: s.PerSec, PerCPUSec: s.PerCPUSec, P50ms: s.Latency.P50, P90ms: s.Latency.P90, P99ms: s.Latency.P99, P999ms: s.Latency.P999, MaxMs: s.Latency.Max,
		StartLagP99ms: s.StartLag.P99, ServerCPU: s.ServerCPU, CoreBusy: s.CoreBusy, GeneratorCPU: s.GeneratorCPU, MaxRSSKiB: s.MaxRSSKiB, ErrorSamples: s.ErrorSamples}
}

// loadGen posts pre-built AdmissionReviews to the webhook.
type loadGen struct {
	hc  *http.Client
	url string
	t   loadkit.Target
}

// do posts rv as kube-apiserver does and reads the answer into buf, which
// is reused; verify checks it.
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
	return "", h2
}

// send posts review k (cycling through rvs) and counts answers not over
// HTTP/2 in notH2.
func (lg *loadGen) send(rvs []review, notH2 *atomic.Int64) loadkit.Do {
	return func(ctx context.Context, k int, buf *bytes.Buffer) string {
		e, h2 := lg.do(ctx, rvs[k%len(rvs)], buf)
		if !h2 {
			notH2.Add(1)
		}
		return e
	}
}

// verify checks the answer to review k (see review.check).
func verify(rvs []review) loadkit.Verify {
	return func(k int, buf *bytes.Buffer) string {
		if e := rvs[k%len(rvs)].check(buf.Bytes()); e != nil {
			return e.Error()
		}
		return ""
	}
}

// closed runs conc workers back to back until d has passed or maxReq
// requests were sent, cycling through the pre-built reviews.
func (lg *loadGen) closed(ctx context.Context, rvs []review, conc int, d time.Duration, maxReq int) Phase {
	var notH2 atomic.Int64
	p := phaseOf("closed", conc, 0, loadkit.Closed(ctx, lg.t, conc, d, maxReq, lg.send(rvs, &notH2), verify(rvs)))
	p.NotH2 = int(notH2.Load())
	return p
}

// open sends n reviews at a fixed rate whatever the answers take (latency
// counts from the scheduled send time, so a stalled server is not hidden
// by a stalled generator), with at most workers in flight.
func (lg *loadGen) open(ctx context.Context, rvs []review, rate float64, n, workers int) Phase {
	var notH2 atomic.Int64
	p := phaseOf("open", workers, rate, loadkit.Open(ctx, lg.t, rate, n, workers, lg.send(rvs, &notH2), verify(rvs)))
	p.NotH2 = int(notH2.Load())
	return p
}
