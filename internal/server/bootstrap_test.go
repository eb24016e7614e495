package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/store/storetest"
)

// TestEnsureSetupOncePerStore: replicas bootstrapping one PostgreSQL store
// at once create one default tenant, subscription and admin between them.
func TestEnsureSetupOncePerStore(t *testing.T) {
	db := storetest.OpenPostgres(t)
	ctx := context.Background()
	const n = 8
	states := make([]setupState, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		cfg := &Config{DataDir: t.TempDir(), PublicURL: "https://localhost:8443"}
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i], errs[i] = ensureSetup(ctx, db, cfg, time.Now())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if states[i] != states[0] {
			t.Errorf("replica %d set up %+v, replica 0 %+v", i, states[i], states[0])
		}
	}
	tenants, err := db.ListTenants(ctx)
	if err != nil || len(tenants) != 1 {
		t.Errorf("tenants after %d concurrent setups: %d, %v", n, len(tenants), err)
	}
}
