// Package reqlog writes exactly one structured log line per HTTP request.
// Handlers enrich that line with the context of their outcome (tenant,
// client, issuer, error code) through Add; they never log on their own.
// Query strings, bodies and headers are never logged, so tokens and secrets
// cannot leak into the log.
//
// Lines of refused requests (4xx) are rate-limited: a flood of forged
// tokens must not turn into a flood of log output that backs up the log
// sink and, through it, every request. Past the limit they are counted, and
// the count is logged as one warning when the next line is allowed.
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Refused-request lines: a sustained rate per second and a burst. Every
// 2xx, 3xx and 5xx line is logged.
const (
	refusedPerSecond = 100
	refusedBurst     = 200
)

type ctxKey struct{}

type entry struct {
	id    string
	attrs []slog.Attr
}

// Add attaches attributes to the current request's log line. It is a no-op
// outside Middleware.
func Add(ctx context.Context, attrs ...slog.Attr) {
	if e, ok := ctx.Value(ctxKey{}).(*entry); ok {
		e.attrs = append(e.attrs, attrs...)
	}
}

// ID returns the request id assigned by Middleware, or "".
func ID(ctx context.Context) string {
	if e, ok := ctx.Value(ctxKey{}).(*entry); ok {
		return e.id
	}
	return ""
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Middleware logs one line per request after next returns.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	refused := rate.NewLimiter(refusedPerSecond, refusedBurst)
	var suppressed atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		e := &entry{id: newID(), attrs: make([]slog.Attr, 0, 8)}
		rec := &recorder{ResponseWriter: w}
		rec.Header().Set("x-ms-request-id", e.id)
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, e)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status >= 400:
			if !refused.Allow() {
				suppressed.Add(1)
				return
			}
			if n := suppressed.Swap(0); n > 0 {
				log.LogAttrs(r.Context(), slog.LevelWarn, "request lines suppressed",
					slog.Int64("count", n), slog.String("reason", "more than 100 refused requests a second"))
			}
		}
		attrs := append([]slog.Attr{
			slog.String("request_id", e.id),
			slog.String("method", r.Method),
			slog.String("host", r.Host),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
		}, e.attrs...)
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	// Format as a GUID, like Azure's request ids.
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
