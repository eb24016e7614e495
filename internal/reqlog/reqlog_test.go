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
