package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testLeases(t *testing.T, db *DB) {
	ctx := context.Background()
	ttl := time.Minute
	ok, err := db.AcquireLease(ctx, "rotate", "a", ttl, t0)
	must(t, err)
	if !ok {
		t.Fatal("a free lease was not acquired")
	}
	if ok, _ := db.AcquireLease(ctx, "rotate", "b", ttl, t0.Add(30*time.Second)); ok {
		t.Error("b took a's running lease")
	}
	if ok, _ := db.AcquireLease(ctx, "rotate", "a", ttl, t0.Add(50*time.Second)); !ok {
		t.Error("a could not renew its lease")
	}
	if ok, _ := db.AcquireLease(ctx, "rotate", "b", ttl, t0.Add(100*time.Second)); ok {
		t.Error("b took a's renewed lease before it ran out")
	}
	if ok, _ := db.AcquireLease(ctx, "rotate", "b", ttl, t0.Add(111*time.Second)); !ok {
		t.Error("b could not take over a's expired lease")
	}
	if ok, _ := db.AcquireLease(ctx, "purge", "a", ttl, t0); !ok {
		t.Error("leases with other names are independent")
	}

	// Replicas racing for a free lease: exactly one gets it.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.AcquireLease(ctx, "race", fmt.Sprint("r", i), ttl, t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d replicas got a free lease at once, want 1", wins.Load())
	}
}
