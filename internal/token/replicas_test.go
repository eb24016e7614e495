package token

import (
	"context"
	"github.com/wifproject/wif/internal/testkit"
	"sync"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/store/storetest"
)

// TestReplicasRotateOnce is issue 15's singleton check: keyrings of
// replicas sharing one PostgreSQL store that load a new tenant at once,
// and later rotate at once, add exactly one key each time, and all publish
// the same JWKS.
func TestReplicasRotateOnce(t *testing.T) {
	db := storetest.OpenPostgres(t)
	ctx := context.Background()
	const tenant = "7f0c6e5e-1111-4a4a-8a8a-0000000000aa"
	if err := db.CreateTenant(ctx, store.Tenant{ID: tenant}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := testkit.NewClock(t0)
	const n = 6
	rings := make([]*Keyring, n)
	for i := range rings {
		rings[i] = NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	}
	loadAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		for _, kr := range rings {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := kr.Load(ctx, tenant); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	count := func() int {
		keys, err := db.ListSigningKeys(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	loadAll()
	if got := count(); got != 1 {
		t.Fatalf("%d replicas loading a new tenant at once stored %d keys, want 1", n, got)
	}
	// Past the point where a successor is due.
	p := DefaultPolicy()
	clk.Set(t0.Add(p.RotationPeriod - p.PrePublish + time.Minute))
	loadAll()
	if got := count(); got != 2 {
		t.Fatalf("after a rotation by %d replicas at once: %d keys, want 2", n, got)
	}
	first, err := rings[0].JWKS(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	for i, kr := range rings[1:] {
		jwks, err := kr.JWKS(ctx, tenant)
		if err != nil || string(jwks) != string(first) {
			t.Errorf("replica %d publishes another JWKS: %s (%v)", i+1, jwks, err)
		}
	}
}
