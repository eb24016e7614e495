package server

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is how much a collection cycle may allocate at least before the
// next one starts while the live heap is small.
const gcHeadroom = 32 << 20

// tuneGC keeps the garbage collector's target at the live heap plus at least
// gcHeadroom, unless GOGC or GOMEMLIMIT is set. A token exchange makes about
// 12 KB of garbage; with the default GOGC=100 and the 10 MB live heap of a
// small installation, a core serving 10,000 exchanges a second would start a
// collection a dozen times a second, each with its fixed costs. The percentage
// never goes below the default, so a large directory (a big live heap) is
// collected as usual and memory stays in proportion to it.
func tuneGC(ctx context.Context, log *slog.Logger, every time.Duration) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(every)
	defer t.Stop()
	last := 100
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if pct := gcPercent(sample[0].Value.Uint64(), gcHeadroom); pct != last {
				debug.SetGCPercent(pct)
				log.Debug("gc percent set", slog.Int("percent", pct), slog.Uint64("live_heap_bytes", sample[0].Value.Uint64()))
				last = pct
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gcPercent is the GOGC that puts the heap goal at live+headroom, between the
// default 100 and 400 (a heap that grows fast between two samples can reach
// at most five times its live size), rounded down to a multiple of 25 so
// that small changes of the live heap do not change it.
func gcPercent(live, headroom uint64) int {
	if live == 0 {
		return 400
	}
	pct := int(min(headroom*100/live, 400))
	return max(100, pct/25*25)
}
