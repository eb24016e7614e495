package keyvault

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/store"
)

// DefaultCacheTTL is how long vaults and role assignments stay cached when
// Deps.CacheTTL is zero.
const DefaultCacheTTL = 5 * time.Second

// maxCached bounds each cache map; past it the map starts afresh.
const maxCached = 50_000

// authCache caches what every request looks up before touching a secret:
// the vault by name and, per principal and vault, the role assignments
// that can apply to the vault or a secret in it. Local writes drop it at
// once (Handler.Invalidate, wired to the store's change notifications);
// writes by other replicas are seen within the TTL. Secret values are
// never cached. Missing vaults and errors are not cached.
type authCache struct {
	ttl time.Duration // <= 0: no caching
	now func() time.Time

	mu     sync.RWMutex
	gen    uint64 // bumped by invalidate; a load started before it is not kept
	vaults map[string]vaultEntry
	grants map[grantKey]*grants
}

type vaultEntry struct {
	vault store.Vault
	at    time.Time
}

// grantKey is a lower-case principal object id and vault name key.
type grantKey struct{ principal, vault string }

// grants are a principal's role assignments that can apply to one vault or
// a secret in it, with a memo of the decisions already taken on them.
type grants struct {
	list []rbac.Assignment // read-only
	at   time.Time

	mu   sync.RWMutex
	memo map[decisionKey]bool
}

// decisionKey is a data action on a secret ("" for the vault itself) as
// named in the request.
type decisionKey struct{ action, secret string }

// maxMemo bounds the decisions remembered per principal and vault.
const maxMemo = 1024

// decided returns the remembered decision on action at secret, if any.
func (g *grants) decided(action, secret string) (allowed, ok bool) {
	g.mu.RLock()
	allowed, ok = g.memo[decisionKey{action, secret}]
	g.mu.RUnlock()
	return allowed, ok
}

// remember records a decision taken by rbac.Authorize on g.list, which is
// pure: the same request on the same assignments decides the same.
func (g *grants) remember(action, secret string, allowed bool) {
	g.mu.Lock()
	if g.memo == nil {
		g.memo = map[decisionKey]bool{}
	}
	if len(g.memo) < maxMemo {
		g.memo[decisionKey{action, secret}] = allowed
	}
	g.mu.Unlock()
}

func newAuthCache(ttl time.Duration, now func() time.Time) *authCache {
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	return &authCache{ttl: ttl, now: now, vaults: map[string]vaultEntry{}, grants: map[grantKey]*grants{}}
}

func (c *authCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.vaults)
	clear(c.grants)
	c.mu.Unlock()
}

// fresh reports whether an entry stored at "at" is still valid at now.
func (c *authCache) fresh(at, now time.Time) bool {
	d := now.Sub(at)
	return d >= 0 && d < c.ttl
}

// vault returns the vault whose lower-case name key is name, from the cache
// or from load.
func (c *authCache) vault(ctx context.Context, name string, load func(context.Context, string) (store.Vault, error)) (store.Vault, error) {
	if c.ttl <= 0 {
		return load(ctx, name)
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.vaults[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok && c.fresh(e.at, now) {
		return e.vault, nil
	}
	v, err := load(ctx, name)
	if err != nil {
		return store.Vault{}, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.vaults) >= maxCached {
			clear(c.vaults)
		}
		c.vaults[name] = vaultEntry{vault: v, at: now}
	}
	c.mu.Unlock()
	return v, nil
}

// assignments returns the role assignments of principal oid whose scope
// contains the vault or lies inside it, from the cache or from load (which
// returns all of the principal's assignments).
func (c *authCache) assignments(ctx context.Context, oid string, v store.Vault,
	load func(context.Context, store.RoleAssignmentFilter) ([]store.RoleAssignment, error)) (*grants, error) {
	k := grantKey{principal: strings.ToLower(oid), vault: strings.ToLower(v.Name)}
	now := c.now()
	var gen uint64
	if c.ttl > 0 {
		c.mu.RLock()
		g, ok := c.grants[k]
		gen = c.gen
		c.mu.RUnlock()
		if ok && c.fresh(g.at, now) {
			return g, nil
		}
	}
	as, err := load(ctx, store.RoleAssignmentFilter{PrincipalID: oid})
	if err != nil {
		return nil, err
	}
	scope := vaultScope(v)
	g := &grants{list: make([]rbac.Assignment, 0, len(as)), at: now}
	for _, a := range as {
		if !rbac.ScopeContains(a.Scope, scope) && !rbac.ScopeContains(scope, a.Scope) {
			continue
		}
		g.list = append(g.list, rbac.Assignment{Scope: a.Scope, RoleDefinitionID: a.RoleDefinitionID, PrincipalID: a.PrincipalID})
	}
	if c.ttl <= 0 {
		return g, nil
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.grants) >= maxCached {
			clear(c.grants)
		}
		c.grants[k] = g
	}
	c.mu.Unlock()
	return g, nil
}

// Invalidate drops every cached vault and role assignment, so that the next
// request reads them from the store. Wire it to the store's change
// notifications (store.DB.OnChange) so that local writes, such as a revoked
// role assignment, apply at once.
func (h *Handler) Invalidate() { h.cache.invalidate() }
