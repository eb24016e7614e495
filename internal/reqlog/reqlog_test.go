package reqlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestMiddlewareOneLineWithoutSecrets(t *testing.T) {
	var out lockedBuffer
	h := Middleware(slog.New(slog.NewJSONHandler(&out, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Add(r.Context(), slog.String("tenant", "t1"))
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequest(http.MethodPost, "/t/oauth2/v2.0/token?client_secret=hunter2", strings.NewReader("client_assertion=eyJsecret"))
	req.Header.Set("Authorization", "Bearer eyJtoken")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != float64(418) || m["tenant"] != "t1" || m["request_id"] != rec.Header().Get("x-ms-request-id") {
		t.Errorf("log line = %v", m)
	}
	for _, secret := range []string{"hunter2", "eyJsecret", "eyJtoken"} {
		if strings.Contains(lines[0], secret) {
			t.Errorf("log line contains %q", secret)
		}
	}
}

func TestBufferedWriterFlushes(t *testing.T) {
	var out lockedBuffer
	b := NewBufferedWriter(&out, 20*time.Millisecond)
	b.Write([]byte("a\n"))
	deadline := time.Now().Add(2 * time.Second)
	for out.String() != "a\n" {
		if time.Now().After(deadline) {
			t.Fatal("not flushed by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Write([]byte("b\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nb\n" {
		t.Fatalf("after Close: %q", out.String())
	}
}

// TestRefusedLinesAreRateLimited: a flood of refused requests (issue 13's
// forged tokens) logs at most the burst and then a count, while every
// successful request is still logged.
func TestRefusedLinesAreRateLimited(t *testing.T) {
	var out lockedBuffer
	h := Middleware(slog.New(slog.NewJSONHandler(&out, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	do := func(path string) {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	const flood = 5000
	for i := range flood {
		do("/forged")
		if i%100 == 0 {
			do("/ok")
		}
	}
	count := func(sub string) int { return strings.Count(out.String(), sub) }
	if n := count(`"status":401`); n < refusedBurst || n > refusedBurst+refusedPerSecond {
		t.Errorf("%d refused lines logged for %d refused requests, want about the burst (%d)", n, flood, refusedBurst)
	}
	if n := count(`"status":200`); n != flood/100 {
		t.Errorf("%d successful lines, want %d", n, flood/100)
	}
	// The next refused line that is allowed reports what was suppressed.
	time.Sleep(50 * time.Millisecond) // earns 5 tokens
	do("/forged")
	suppressed := 0
	for l := range strings.SplitSeq(out.String(), "\n") {
		if strings.Contains(l, "request lines suppressed") {
			var m struct{ Count int }
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			suppressed += m.Count
		}
	}
	if logged := count(`"status":401`); suppressed == 0 || suppressed+logged != flood+1 {
		t.Errorf("%d suppressed (in summaries) and %d logged refused lines, want them to add up to %d", suppressed, logged, flood+1)
	}
}
