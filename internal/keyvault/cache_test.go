package keyvault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/keyvault"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// countingStore counts vault lookups and runs after, once, after the next
// one (to simulate a write committing while a lookup is in flight).
type countingStore struct {
	keyvault.Store
	mu     sync.Mutex
	vaults int
	after  func()
}

func (s *countingStore) GetVaultByName(ctx context.Context, name string) (store.Vault, error) {
	v, err := s.Store.GetVaultByName(ctx, name)
	s.mu.Lock()
	s.vaults++
	f := s.after
	s.after = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return v, err
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vaults
}

type countingRoles struct {
	keyvault.RoleAssignments
	mu    sync.Mutex
	lists int
	after func()
}

func (r *countingRoles) ListRoleAssignments(ctx context.Context, f store.RoleAssignmentFilter) ([]store.RoleAssignment, error) {
	as, err := r.RoleAssignments.ListRoleAssignments(ctx, f)
	r.mu.Lock()
	r.lists++
	fn := r.after
	r.after = nil
	r.mu.Unlock()
	if fn != nil {
		fn()
	}
	return as, err
}

func (r *countingRoles) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lists
}

// unwired is a second data plane over e's store whose caches are NOT wired
// to the store's change notifications, as on another replica.
func (e *env) unwired(ttl time.Duration) (*keyvault.Handler, *countingStore, *countingRoles) {
	e.t.Helper()
	st := &countingStore{Store: e.db}
	ro := &countingRoles{RoleAssignments: e.db}
	h := keyvault.NewHandler(keyvault.Config{DNSSuffix: suffix, PublicURL: publicURL, Port: "8443"}, keyvault.Deps{
		Store: st, Roles: ro, Tokens: token.NewVerifier(e.kr, e.db, issuerFor, e.clock.Now), Sealer: e.kek, Now: e.clock.Now,
		CacheTTL: ttl,
	})
	return h, st, ro
}

// serve GETs the latest version of secret name through h without the
// network and returns the status and the Key Vault error code.
func serve(h http.Handler, tok, name string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, vaultURL+"/secrets/"+name+"/"+apiQuery, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, response{status: rec.Code, body: rec.Body.Bytes()}.code()
}

// assign grants roleID at scope to oid and returns the assignment id.
func (e *env) assign(oid, roleID, scope string) string {
	e.t.Helper()
	id := uuid.NewString()
	_, _, err := e.db.PutRoleAssignment(context.Background(), store.RoleAssignment{
		ID: id, Scope: scope, PrincipalID: oid, PrincipalType: "ServicePrincipal",
		RoleDefinitionID: "/subscriptions/" + subA + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) revoke(id string) {
	e.t.Helper()
	if err := e.db.DeleteRoleAssignment(context.Background(), id); err != nil {
		e.t.Fatal(err)
	}
}

// TestCacheLocalWritesApplyAtOnce: with Invalidate wired to the store (as
// the server does), the clock never moving, a revoked or new role
// assignment and a deleted vault apply to the very next request.
func TestCacheLocalWritesApplyAtOnce(t *testing.T) {
	e := newEnv(t)
	e.set(e.officer(), "s1", "v1")
	oid := uuid.NewString()
	tok := e.token(tenantA, oid, resource)

	var id string
	steps := []struct {
		name       string
		act        func()
		wantStatus int
		wantCode   string
	}{
		{"no assignment", func() {}, http.StatusForbidden, keyvault.CodeForbidden},
		{"still none (cached denial)", func() {}, http.StatusForbidden, keyvault.CodeForbidden},
		{"granted", func() { id = e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope) }, http.StatusOK, ""},
		{"granted again (cached)", func() {}, http.StatusOK, ""},
		{"revoked", func() { e.revoke(id) }, http.StatusForbidden, keyvault.CodeForbidden},
		{"vault deleted", func() {
			if err := e.db.DeleteVault(context.Background(), subA, "rg1", vaultName); err != nil {
				t.Fatal(err)
			}
		}, http.StatusNotFound, keyvault.CodeVaultNotFound},
	}
	for _, s := range steps {
		s.act()
		status, code := serve(e.h, tok, "s1")
		if status != s.wantStatus || code != s.wantCode {
			t.Fatalf("%s: got %d %q, want %d %q", s.name, status, code, s.wantStatus, s.wantCode)
		}
	}
}

// TestCacheTTL: on a replica that hears of no writes, cached vaults and
// role assignments live exactly CacheTTL by the injected clock, and
// Invalidate drops them.
func TestCacheTTL(t *testing.T) {
	const ttl = 5 * time.Second
	e := newEnv(t)
	e.set(e.officer(), "s1", "v1")
	oid := uuid.NewString()
	id := e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope)
	tok := e.token(tenantA, oid, resource)
	h, st, ro := e.unwired(ttl)

	for _, s := range []struct {
		name              string
		act               func()
		wantStatus        int
		wantVaults, wantR int // store lookups so far
	}{
		{"first", func() {}, http.StatusOK, 1, 1},
		{"cached", func() {}, http.StatusOK, 1, 1},
		{"revoked elsewhere: still cached", func() { e.revoke(id) }, http.StatusOK, 1, 1},
		{"just before expiry", func() { e.clock.Advance(ttl - time.Nanosecond) }, http.StatusOK, 1, 1},
		{"expired: reloaded", func() { e.clock.Advance(time.Nanosecond) }, http.StatusForbidden, 2, 2},
		{"denial cached", func() { id = e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope) }, http.StatusForbidden, 2, 2},
		{"invalidated: reloaded", h.Invalidate, http.StatusOK, 3, 3},
		{"cached after reload", func() { e.clock.Advance(time.Second) }, http.StatusOK, 3, 3},
	} {
		s.act()
		status, code := serve(h, tok, "s1")
		if status != s.wantStatus || st.count() != s.wantVaults || ro.count() != s.wantR {
			t.Fatalf("%s: got %d %q with %d vault and %d role lookups, want %d with %d and %d",
				s.name, status, code, st.count(), ro.count(), s.wantStatus, s.wantVaults, s.wantR)
		}
	}
}

// TestCacheDisabled: a negative CacheTTL reads the store on every request.
func TestCacheDisabled(t *testing.T) {
	e := newEnv(t)
	e.set(e.officer(), "s1", "v1")
	oid := uuid.NewString()
	id := e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope)
	tok := e.token(tenantA, oid, resource)
	h, st, ro := e.unwired(-1)
	if status, _ := serve(h, tok, "s1"); status != http.StatusOK {
		t.Fatalf("before revocation: %d", status)
	}
	e.revoke(id)
	if status, _ := serve(h, tok, "s1"); status != http.StatusForbidden {
		t.Fatalf("after revocation: %d, want 403", status)
	}
	if st.count() != 2 || ro.count() != 2 {
		t.Fatalf("%d vault and %d role lookups, want 2 and 2", st.count(), ro.count())
	}
}

// TestCacheInvalidateDuringLoad: a write that commits (and invalidates)
// while a lookup is in flight keeps that lookup's possibly stale result
// out of the cache.
func TestCacheInvalidateDuringLoad(t *testing.T) {
	e := newEnv(t)
	e.set(e.officer(), "s1", "v1")
	t.Run("role assignments", func(t *testing.T) {
		oid := uuid.NewString()
		id := e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope)
		tok := e.token(tenantA, oid, resource)
		h, _, ro := e.unwired(time.Hour)
		ro.after = func() { e.revoke(id); h.Invalidate() }
		if status, _ := serve(h, tok, "s1"); status != http.StatusOK {
			t.Fatalf("racing request: %d, want 200 (it read before the revocation)", status)
		}
		if status, _ := serve(h, tok, "s1"); status != http.StatusForbidden {
			t.Fatalf("next request: %d, want 403", status)
		}
	})
	t.Run("vault", func(t *testing.T) {
		tok := e.officer()
		h, st, _ := e.unwired(time.Hour)
		st.after = func() {
			if err := e.db.DeleteVault(context.Background(), subA, "rg1", vaultName); err != nil {
				t.Error(err)
			}
			h.Invalidate()
		}
		serve(h, tok, "s1") // raced the deletion: either outcome
		if status, code := serve(h, tok, "s1"); code != keyvault.CodeVaultNotFound {
			t.Fatalf("next request: %d %q, want %s", status, code, keyvault.CodeVaultNotFound)
		}
	})
}

// TestCacheScopes: the per-principal, per-vault cache keeps assignments at
// secret scope apart and never lets one vault's grants serve another.
func TestCacheScopes(t *testing.T) {
	e := newEnv(t)
	off := e.officer()
	e.set(off, "s1", "v1")
	e.set(off, "s2", "v2")
	other := "/subscriptions/" + subA + "/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/other"
	oid := uuid.NewString()
	e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope+"/secrets/s1")
	e.assign(oid, rbac.KeyVaultSecretsOfficerID, other)
	e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope+"2") // a vault "MyVault2" (not MyVault)
	tok := e.token(tenantA, oid, resource)
	for _, tc := range []struct {
		secret string
		want   int
	}{{"s1", http.StatusOK}, {"s2", http.StatusForbidden}, {"s1", http.StatusOK}, {"s2", http.StatusForbidden}} {
		if status, _ := serve(e.h, tok, tc.secret); status != tc.want {
			t.Fatalf("GET %s: %d, want %d", tc.secret, status, tc.want)
		}
	}
}

// TestCacheConcurrent exercises the caches from many goroutines while they
// are invalidated (run with -race); every answer is a valid one.
func TestCacheConcurrent(t *testing.T) {
	e := newEnv(t)
	e.set(e.officer(), "s1", "v1")
	oid := uuid.NewString()
	e.assign(oid, rbac.KeyVaultSecretsUserID, vaultScope)
	tok := e.token(tenantA, oid, resource)
	h, _, _ := e.unwired(time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 50 {
				if i%10 == 0 {
					h.Invalidate()
				}
				if status, code := serve(h, tok, "s1"); status != http.StatusOK {
					t.Errorf("GET: %d %s", status, code)
					return
				}
			}
		})
	}
	wg.Wait()
}
