package sts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// directoryStore is what the directory reads from the store.
type directoryStore interface {
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	GetPrincipalByClientID(ctx context.Context, clientID string) (store.Principal, error)
	ListClientSecrets(ctx context.Context, principalID string) ([]store.ClientSecret, error)
	ListFederatedCredentials(ctx context.Context, principalID string) ([]store.FederatedCredential, error)
}

// Client is everything the token service needs about one client id.
type Client struct {
	Principal   store.Principal
	Secrets     []store.ClientSecret
	Credentials []federation.Credential
}

// Directory caches tenants and clients in memory so that the exchange hot
// path does no storage I/O. Local writes invalidate it at once (wire
// Invalidate to the store's change notifications); writes by other
// replicas are seen within the TTL.
type Directory struct {
	st  directoryStore
	ttl time.Duration
	now func() time.Time

	mu         sync.RWMutex
	gen        uint64
	tenantSet  map[string]struct{} // canonical ids; nil: not loaded
	tenantsAt  time.Time
	tenantLoad sync.Mutex // one tenant-set load at a time
	clients    map[string]clientEntry
}

type clientEntry struct {
	client *Client // nil: not found
	at     time.Time
}

// maxCached bounds the cache; past it the cache starts afresh.
const maxCached = 200_000

// NewDirectory returns a directory over st whose entries live for ttl.
func NewDirectory(st directoryStore, ttl time.Duration, now func() time.Time) *Directory {
	return &Directory{st: st, ttl: ttl, now: now, clients: map[string]clientEntry{}}
}

// Invalidate drops every cached entry.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.gen++
	d.tenantSet = nil
	clear(d.clients)
	d.mu.Unlock()
}

// TenantExists reports whether the tenant exists. Only GUIDs can name a
// tenant; anything else is refused without a lookup. The directory holds
// the whole tenant set (tenants are few), so an id that is not in it costs
// a map lookup, never a store query: the set is reloaded when older than
// the TTL, and on a miss at most once per missRefresh, so a flood of
// unknown ids makes at most one query a second while a tenant created by
// another replica is still seen within a second.
func (d *Directory) TenantExists(ctx context.Context, id string) (bool, error) {
	id, ok := token.CanonicalTenantID(id)
	if !ok {
		return false, nil
	}
	now := d.now()
	d.mu.RLock()
	set, at := d.tenantSet, d.tenantsAt
	d.mu.RUnlock()
	if set != nil && now.Sub(at) < d.ttl {
		if _, ok := set[id]; ok || now.Sub(at) < min(d.ttl, missRefresh) {
			return ok, nil
		}
	}
	set, err := d.loadTenants(ctx, at)
	if err != nil {
		return false, err
	}
	_, ok = set[id]
	return ok, nil
}

// missRefresh is how often a miss may reload the tenant set.
const missRefresh = time.Second

// loadTenants reloads the tenant set unless another caller already did
// since seen (single-flight: concurrent misses wait for one query).
func (d *Directory) loadTenants(ctx context.Context, seen time.Time) (map[string]struct{}, error) {
	d.tenantLoad.Lock()
	defer d.tenantLoad.Unlock()
	d.mu.RLock()
	set, at, gen := d.tenantSet, d.tenantsAt, d.gen
	d.mu.RUnlock()
	if set != nil && at.After(seen) {
		return set, nil
	}
	now := d.now()
	ts, err := d.st.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("sts: tenants: %w", err)
	}
	set = make(map[string]struct{}, len(ts))
	for _, t := range ts {
		if id, ok := token.CanonicalTenantID(t.ID); ok {
			set[id] = struct{}{}
		}
	}
	d.mu.Lock()
	if d.gen == gen {
		d.tenantSet, d.tenantsAt = set, now
	}
	d.mu.Unlock()
	return set, nil
}

// Client returns the client with clientID, or store.ErrNotFound.
func (d *Directory) Client(ctx context.Context, clientID string) (*Client, error) {
	now := d.now()
	d.mu.RLock()
	e, ok := d.clients[clientID]
	gen := d.gen
	d.mu.RUnlock()
	if !ok || now.Sub(e.at) >= d.ttl {
		c, err := d.load(ctx, clientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		e = clientEntry{client: c, at: now}
		d.mu.Lock()
		if d.gen == gen {
			if len(d.clients) >= maxCached {
				clear(d.clients)
			}
			d.clients[clientID] = e
		}
		d.mu.Unlock()
	}
	if e.client == nil {
		return nil, store.ErrNotFound
	}
	return e.client, nil
}

func (d *Directory) load(ctx context.Context, clientID string) (*Client, error) {
	p, err := d.st.GetPrincipalByClientID(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("sts: client %s: %w", clientID, err)
	}
	c := &Client{Principal: p}
	if c.Secrets, err = d.st.ListClientSecrets(ctx, p.ObjectID); err != nil {
		return nil, fmt.Errorf("sts: secrets of %s: %w", clientID, err)
	}
	fics, err := d.st.ListFederatedCredentials(ctx, p.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("sts: credentials of %s: %w", clientID, err)
	}
	for _, f := range fics {
		spec := federation.Spec{Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audiences: []string{f.Audience}, Expression: f.Expression}
		cred, err := federation.Validate(spec)
		if err != nil {
			// Stored before a rule tightened: keep it matchable as stored.
			cred = federation.Credential{Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audience: f.Audience}
			if f.Expression != "" {
				continue // an expression that no longer parses matches nothing
			}
		}
		c.Credentials = append(c.Credentials, cred)
	}
	return c, nil
}
