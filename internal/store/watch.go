package store

import (
	"context"
	"log/slog"
	"time"
)

// pollInterval is how often Watch compares the store's generation with the
// newest one this process has seen: the backstop that bounds how late a
// change made by another process is seen, whatever happens to the
// announcements.
const pollInterval = time.Second

// Watch makes writes by other processes on the same database reach this
// process's OnChange listeners, until ctx ends. On PostgreSQL each
// announced write is delivered at once through LISTEN on a connection of
// its own, which reconnects by itself and, after a gap, calls the
// listeners once to catch up. On every backend the generation is polled
// every second as the backstop.
func (db *DB) Watch(ctx context.Context, log *slog.Logger) {
	if db.d.listen != nil {
		go db.d.listen(ctx, db.instance, db.notify, log)
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, pollInterval)
		g, err := db.Generation(qctx)
		cancel()
		if err != nil {
			continue // the store is down: readiness reports it
		}
		if db.sawGeneration(g) {
			db.notify()
		}
	}
}

// sawGeneration records g and reports whether it is newer than any
// generation this process had seen.
func (db *DB) sawGeneration(g int64) bool {
	for {
		cur := db.lastGen.Load()
		if g <= cur {
			return false
		}
		if db.lastGen.CompareAndSwap(cur, g) {
			return true
		}
	}
}
