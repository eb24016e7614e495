package sts

import (
	"context"
	"errors"
	"github.com/wifproject/wif/internal/testkit"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/store"
)

// countingTenants is a directoryStore holding only tenants, counting the
// queries made of it.
type countingTenants struct {
	mu      sync.Mutex
	tenants []store.Tenant
	lists   atomic.Int64
	fail    error
}

func (c *countingTenants) ListTenants(context.Context) ([]store.Tenant, error) {
	c.lists.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]store.Tenant(nil), c.tenants...), c.fail
}

func (c *countingTenants) add(id string) {
	c.mu.Lock()
	c.tenants = append(c.tenants, store.Tenant{ID: id})
	c.mu.Unlock()
}

func (*countingTenants) GetPrincipalByClientID(context.Context, string) (store.Principal, error) {
	return store.Principal{}, store.ErrNotFound
}
func (*countingTenants) ListClientSecrets(context.Context, string) ([]store.ClientSecret, error) {
	return nil, nil
}
func (*countingTenants) ListFederatedCredentials(context.Context, string) ([]store.FederatedCredential, error) {
	return nil, nil
}

// TestTenantFloodCostsNoQueries: issue 13's forged-token flood sends a new
// random tenant id per request. The directory answers them from its tenant
// set: concurrent unknown ids make one store query per missRefresh, not one
// each, and a tenant created elsewhere is seen after missRefresh.
func TestTenantFloodCostsNoQueries(t *testing.T) {
	ctx := context.Background()
	const real = "7F0C6E5E-1111-4A4A-8A8A-00000000000A"
	st := &countingTenants{tenants: []store.Tenant{{ID: real}}}
	clk := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d := NewDirectory(st, time.Minute, clk.Now)

	if ok, err := d.TenantExists(ctx, "7f0c6e5e-1111-4a4a-8a8a-00000000000a"); err != nil || !ok {
		t.Fatalf("real tenant (lower case): %v, %v", ok, err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if ok, err := d.TenantExists(ctx, uuid.NewString()); err != nil || ok {
					t.Errorf("random tenant: %v, %v", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := st.lists.Load(); n != 1 {
		t.Errorf("8,000 unknown tenants within missRefresh made %d store queries, want 1", n)
	}
	if ok, _ := d.TenantExists(ctx, "not-a-guid"); ok {
		t.Error("a non-GUID tenant exists")
	}

	// A tenant created by another replica: unseen until missRefresh has
	// passed, then seen by one reload however many callers miss at once.
	created := uuid.NewString()
	st.add(created)
	if ok, _ := d.TenantExists(ctx, created); ok {
		t.Error("new tenant seen before missRefresh")
	}
	clk.Advance(missRefresh)
	before := st.lists.Load()
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := d.TenantExists(ctx, created); err != nil || !ok {
				t.Errorf("new tenant after missRefresh: %v, %v", ok, err)
			}
		}()
	}
	wg.Wait()
	if n := st.lists.Load() - before; n != 1 {
		t.Errorf("100 concurrent misses made %d reloads, want 1", n)
	}

	// A store failure is an error, never "does not exist".
	st.fail = errors.New("disk on fire")
	d.Invalidate()
	if _, err := d.TenantExists(ctx, created); err == nil {
		t.Error("store failure answered without an error")
	}
}
