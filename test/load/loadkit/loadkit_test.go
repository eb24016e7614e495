package loadkit

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCPUCount(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "0,2": 2, "2-3": 2, "0-3,5": 5, "": 1, "x": 1, "3-1": 1} {
		if got := CPUCount(in); got != want {
			t.Errorf("CPUCount(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzCPUCount(f *testing.F) {
	for _, s := range []string{"1", "0,2", "2-3", "0-3,5", "", "-", "9-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		if n := CPUCount(list); n < 1 {
			t.Fatalf("CPUCount(%q) = %d, want >= 1", list, n)
		}
	})
}

func TestFirstCPU(t *testing.T) {
	for in, want := range map[string]string{"1": "1", "0,2": "0", "2-3": "2", "4-5,7": "4", "": ""} {
		if got := FirstCPU(in); got != want {
			t.Errorf("FirstCPU(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	got := parseStatus("Name:\twif\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t 700 kB\nRssFile:\t 300 kB\nThreads:\t7\nbogus\nEmpty:\n")
	want := Mem{RSSKiB: 1024, HWMKiB: 2048, AnonKiB: 700, FileKiB: 300}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseStatus (-want +got):\n%s", diff)
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("VmRSS:\t 1 kB\n")
	f.Add(":\n:x\nVmHWM:")
	f.Fuzz(func(t *testing.T, s string) { parseStatus(s) })
}

func TestReadMemAndCPUTimeOfSelf(t *testing.T) {
	m, err := ReadMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKiB <= 0 || m.HWMKiB < m.RSSKiB {
		t.Errorf("ReadMem(self) = %+v, want RSS > 0 and HWM >= RSS", m)
	}
	if _, err := ReadMem(-1); err == nil {
		t.Error("ReadMem(-1) succeeded")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	if CPUTime(0) <= 0 || CPUTime(os.Getpid()) <= 0 {
		t.Errorf("CPUTime(self) = %v, %v, want > 0", CPUTime(0), CPUTime(os.Getpid()))
	}
	if busy, total := CoreBusy("0"); total <= 0 || busy > total {
		t.Errorf("CoreBusy(0) = %d, %d", busy, total)
	}
}

func TestSummarize(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	var lats []time.Duration
	for i := 100; i >= 1; i-- {
		lats = append(lats, ms(float64(i)))
	}
	tests := []struct {
		name string
		lats []time.Duration
		want Latency
	}{
		{"empty", nil, Latency{}},
		{"one", []time.Duration{ms(1.5)}, Latency{1.5, 1.5, 1.5, 1.5, 1.5}},
		{"1..100 ms", lats, Latency{P50: 50, P90: 90, P99: 99, P999: 100, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Summarize(tt.lats)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLabel(t *testing.T) {
	if got, want := Label("closed", 32, 0), "closed loop, concurrency 32"; got != want {
		t.Errorf("Label = %q, want %q", got, want)
	}
	if got, want := Label("open", 64, 5000), "open loop at 5000/s"; got != want {
		t.Errorf("Label = %q, want %q", got, want)
	}
}

func TestClosedStopsAtLimit(t *testing.T) {
	var seen [100]atomic.Int32
	do := func(_ context.Context, k int, _ *bytes.Buffer) string {
		seen[k].Add(1)
		if k%10 == 0 {
			return "boom"
		}
		return ""
	}
	s := Closed(context.Background(), Target{Pid: os.Getpid(), Core: "0"}, 4, time.Minute, len(seen), do, nil)
	for k := range seen {
		if n := seen[k].Load(); n != 1 {
			t.Fatalf("request %d sent %d times, want once", k, n)
		}
	}
	if s.Requests != 100 || s.Errors != 10 || len(s.ErrorSamples) != 3 || !s.Exhausted {
		t.Errorf("Closed = %d requests, %d errors, samples %q, exhausted %v; want 100, 10, 3 samples, true", s.Requests, s.Errors, s.ErrorSamples, s.Exhausted)
	}
	if s.PerSec <= 0 || s.Seconds <= 0 {
		t.Errorf("Closed rates: %+v", s)
	}
}

// TestVerifyAfterLatency: a slow check of the answer counts as an error
// when it fails, but never as latency.
func TestVerifyAfterLatency(t *testing.T) {
	do := func(context.Context, int, *bytes.Buffer) string { return "" }
	verify := func(k int, _ *bytes.Buffer) string {
		time.Sleep(5 * time.Millisecond)
		if k == 3 {
			return "bad answer"
		}
		return ""
	}
	for name, s := range map[string]Stats{
		"closed": Closed(context.Background(), Target{Pid: os.Getpid()}, 2, time.Minute, 10, do, verify),
		"open":   Open(context.Background(), Target{Pid: os.Getpid()}, 1000, 10, 10, do, verify),
	} {
		if s.Requests != 10 || s.Errors != 1 || s.ErrorSamples[0] != "bad answer" {
			t.Errorf("%s: %d requests, %d errors %q; want 10, 1", name, s.Requests, s.Errors, s.ErrorSamples)
		}
		if s.Latency.Max >= 5 {
			t.Errorf("%s: max latency %.2f ms includes the 5 ms check", name, s.Latency.Max)
		}
	}
}

func TestClosedStopsAtDeadline(t *testing.T) {
	do := func(context.Context, int, *bytes.Buffer) string { time.Sleep(time.Millisecond); return "" }
	start := time.Now()
	s := Closed(context.Background(), Target{Pid: os.Getpid(), SampleRSS: true}, 2, 100*time.Millisecond, 1<<30, do, nil)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Closed took %v for a 100ms phase", el)
	}
	if s.Exhausted || s.Requests == 0 || s.Errors != 0 || s.Latency.P50 < 1 {
		t.Errorf("Closed = %+v, want requests, no errors, not exhausted, p50 >= 1ms", s)
	}
	if s.MaxRSSKiB <= 0 {
		t.Errorf("MaxRSSKiB = %d, want > 0 with SampleRSS", s.MaxRSSKiB)
	}
}

func TestOpenSendsAtRate(t *testing.T) {
	var sent atomic.Int32
	do := func(context.Context, int, *bytes.Buffer) string { sent.Add(1); return "" }
	start := time.Now()
	s := Open(context.Background(), Target{Pid: os.Getpid()}, 200, 40, 4, do, nil)
	el := time.Since(start)
	if sent.Load() != 40 || s.Requests != 40 || s.Errors != 0 {
		t.Errorf("Open sent %d, counted %d (%d errors), want 40", sent.Load(), s.Requests, s.Errors)
	}
	// 40 requests at 200/s are scheduled over 195 ms.
	if el < 190*time.Millisecond || el > 3*time.Second {
		t.Errorf("Open took %v, want about 195ms", el)
	}
}

func TestOpenStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := Open(ctx, Target{Pid: os.Getpid()}, 100, 1000, 2, func(context.Context, int, *bytes.Buffer) string { return "" }, nil)
	if s.Requests == 0 || s.Requests > 20 {
		t.Errorf("Open after cancel counted %d requests, want a few", s.Requests)
	}
}

func TestTrustingClient(t *testing.T) {
	if _, err := TrustingClient(filepath.Join(t.TempDir(), "none.pem"), ClientOptions{Proto: "h1"}); err == nil {
		t.Error("missing CA file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := TrustingClient(bad, ClientOptions{Proto: "h1"}); err == nil {
		t.Error("CA file without certificates accepted")
	}
}

func TestProc(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sleep.log")
	p, err := Start(log, []string{"X=1"}, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("Exited right after Start")
	}
	start := time.Now()
	p.Stop(5 * time.Second)
	if !p.Exited() || time.Since(start) > 4*time.Second {
		t.Errorf("Stop: exited %v after %v", p.Exited(), time.Since(start))
	}
	var nilProc *Proc
	nilProc.Stop(time.Second) // no-op
	if _, err := Start(log, nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Start of a missing binary succeeded")
	}
}

func TestTaskset(t *testing.T) {
	name, args := Taskset("", "wif", []string{"serve"})
	if name != "wif" || !cmp.Equal(args, []string{"serve"}) {
		t.Errorf("Taskset(\"\") = %s %q", name, args)
	}
	name, args = Taskset("0", "wif", []string{"serve"})
	if name != "taskset" || !cmp.Equal(args, []string{"-c", "0", "wif", "serve"}) {
		t.Errorf("Taskset(0) = %s %q", name, args)
	}
}

func TestWriteJSON(t *testing.T) {
	if err := WriteJSON("", 1); err != nil {
		t.Errorf("WriteJSON(\"\") = %v", err)
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := WriteJSON(path, Mem{RSSKiB: 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "{\n  \"rssKiB\": 1,\n  \"hwmKiB\": 0,\n  \"rssAnonKiB\": 0,\n  \"rssFileKiB\": 0\n}\n"
	if string(b) != want {
		t.Errorf("WriteJSON wrote %q, want %q", b, want)
	}
	if err := WriteJSON(path, func() {}); err == nil {
		t.Error("WriteJSON of a func succeeded")
	}
}

func TestTrustingClientTalksTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	tests := []struct {
		o         ClientOptions
		url, want string
	}{
		{ClientOptions{Proto: "h1", Conns: 2}, srv.URL, "HTTP/1.1"},
		{ClientOptions{Proto: "h2", Conns: 2}, srv.URL, "HTTP/2.0"},
		// The test certificate is for example.com and 127.0.0.1: the name
		// is verified, the connection goes to DialAddr.
		{ClientOptions{Proto: "h1", Conns: 2, DialAddr: srv.Listener.Addr().String()}, "https://example.com/", "HTTP/1.1"},
	}
	for _, tt := range tests {
		hc, err := TrustingClient(ca, tt.o)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(tt.url)
		if err != nil {
			t.Fatalf("%+v: %v", tt.o, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("%+v: proto %s, want %s", tt.o, b, tt.want)
		}
		hc.CloseIdleConnections()
	}
	hc, _ := TrustingClient(ca, ClientOptions{Proto: "h1", ServerName: "wrong.example"})
	if _, err := hc.Get(srv.URL); err == nil {
		t.Error("ServerName not verified")
	}
	if _, err := TrustingClient(ca, ClientOptions{Proto: "h3"}); !errors.Is(err, ErrProto) {
		t.Errorf("TrustingClient(h3) = %v, want ErrProto", err)
	}
}

func TestExpect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"value":"s"}`))
		case "/long":
			w.WriteHeader(http.StatusForbidden)
			w.Write(bytes.Repeat([]byte("x"), 1000))
		default:
			w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	want := []byte(`"value":"`)
	tests := []struct{ path, want string }{
		{"/ok", ""},
		{"/other", "200 {}"},
		{"/long", "403 " + string(bytes.Repeat([]byte("x"), 300))},
	}
	var buf bytes.Buffer
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		if got := Expect(srv.Client(), req, &buf, want); got != tt.want {
			t.Errorf("Expect(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	if got := Expect(srv.Client(), req, &buf, want); got == "" {
		t.Error("Expect of a refused connection succeeded")
	}
}
