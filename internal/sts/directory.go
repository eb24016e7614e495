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
	GetTenant(ctx context.Context, id string) (store.Tenant, error)
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

	mu      sync.RWMutex
	gen     uint64
	tenants map[string]tenantEntry
	clients map[string]clientEntry
}

type tenantEntry struct {
	exists bool
	at     time.Time
}

type clientEntry struct {
	client *Client // nil: not found
	at     time.Time
}

// maxCached bounds the cache; past it the cache starts afresh.
const maxCached = 200_000

// NewDirectory returns a directory over st whose entries live for ttl.
func NewDirectory(st directoryStore, ttl time.Duration, now func() time.Time) *Directory {
	return &Directory{st: st, ttl: ttl, now: now, tenants: map[string]tenantEntry{}, clients: map[string]clientEntry{}}
}

// Invalidate drops every cached entry.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.gen++
	clear(d.tenants)
	clear(d.clients)
	d.mu.Unlock()
}

// TenantExists reports whether the tenant exists. Only GUIDs can name a
// tenant; anything else is refused without a lookup, and answers are cached
// by the canonical (lower-case) id, negative ones too, so that the entries
// an unauthenticated caller can add are bounded in number and size.
func (d *Directory) TenantExists(ctx context.Context, id string) (bool, error) {
	id, ok := token.CanonicalTenantID(id)
	if !ok {
		return false, nil
	}
	now := d.now()
	d.mu.RLock()
	e, ok := d.tenants[id]
	gen := d.gen
	d.mu.RUnlock()
	if ok && now.Sub(e.at) < d.ttl {
		return e.exists, nil
	}
	_, err := d.st.GetTenant(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e = tenantEntry{exists: false, at: now}
	case err != nil:
		return false, fmt.Errorf("sts: tenant %s: %w", id, err)
	default:
		e = tenantEntry{exists: true, at: now}
	}
	d.mu.Lock()
	if d.gen == gen {
		if len(d.tenants) >= maxCachedTenants {
			clear(d.tenants)
		}
		d.tenants[id] = e
	}
	d.mu.Unlock()
	return e.exists, nil
}

// maxCachedTenants bounds the tenant cache, which unknown ids can fill.
const maxCachedTenants = 10_000

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
