package cluster

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/store"
)

// IssuerKeys finds an issuer's public key by kid; *oidc.KeySets is one.
type IssuerKeys interface {
	Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error)
}

// LocalKeys answers key lookups for the cluster issuers that wif hosts
// under its public URL from the store, and passes every other issuer to
// the next source (the JWKS cache). A hosted issuer is never fetched over
// HTTPS from wif to itself, so it works whatever the fetch policy.
//
// An issuer under {public-url}/oidc/ is answered here, found or not, with
// the answers the HTTP path would give: the published keys of the cluster
// whose issuer URL it is exactly (the trailing "/" included, as discovery
// would require), else oidc.ErrFetch. Keys are cached for ttl; Invalidate
// (wired to the store's change notifications) drops them at once, so a
// rotation is seen by the next exchange.
type LocalKeys struct {
	st     issuerStore
	prefix string // {public-url}/oidc/
	public string
	ttl    time.Duration
	now    func() time.Time
	next   IssuerKeys

	mu      sync.RWMutex
	gen     uint64
	issuers map[string]localEntry
}

type localEntry struct {
	keys map[string]crypto.PublicKey // by kid; nil: no such issuer
	only crypto.PublicKey            // the key when there is exactly one
	at   time.Time
}

// maxLocalIssuers bounds the cache; past it the cache starts afresh.
const maxLocalIssuers = 10_000

// NewLocalKeys returns the source; publicURL is wif's base URL.
func NewLocalKeys(st issuerStore, publicURL string, ttl time.Duration, now func() time.Time, next IssuerKeys) *LocalKeys {
	publicURL = strings.TrimSuffix(publicURL, "/")
	return &LocalKeys{st: st, prefix: publicURL + "/oidc/", public: publicURL, ttl: ttl, now: now, next: next, issuers: map[string]localEntry{}}
}

// Invalidate drops every cached key set.
func (k *LocalKeys) Invalidate() {
	k.mu.Lock()
	k.gen++
	clear(k.issuers)
	k.mu.Unlock()
}

// Key returns the key issuer publishes under kid; an empty kid selects
// the issuer's only key.
func (k *LocalKeys) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	if !strings.HasPrefix(issuer, k.prefix) {
		return k.next.Key(ctx, issuer, kid)
	}
	now := k.now()
	k.mu.RLock()
	e, ok := k.issuers[issuer]
	gen := k.gen
	k.mu.RUnlock()
	if !ok || now.Sub(e.at) >= k.ttl {
		var err error
		if e, err = k.load(ctx, issuer, now); err != nil {
			return nil, err
		}
		k.mu.Lock()
		if k.gen == gen {
			if len(k.issuers) >= maxLocalIssuers {
				clear(k.issuers)
			}
			k.issuers[issuer] = e
		}
		k.mu.Unlock()
	}
	switch {
	case e.keys == nil:
		return nil, fmt.Errorf("%w: %s is not the issuer of a cluster wif hosts", oidc.ErrFetch, issuer)
	case kid == "" && e.only != nil:
		return e.only, nil
	case kid == "":
		return nil, fmt.Errorf("%w: token has no kid and issuer %s publishes %d keys", oidc.ErrKeyNotFound, issuer, len(e.keys))
	}
	if key, ok := e.keys[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w: kid %q for issuer %s", oidc.ErrKeyNotFound, kid, issuer)
}

// load reads the published keys of the cluster whose issuer URL is issuer.
func (k *LocalKeys) load(ctx context.Context, issuer string, now time.Time) (localEntry, error) {
	e := localEntry{at: now}
	tenant, issuerID, ok := strings.Cut(strings.TrimPrefix(issuer, k.prefix), "/")
	if !ok || issuerID == "" {
		return e, nil
	}
	issuerID = strings.TrimSuffix(issuerID, "/")
	if strings.Contains(issuerID, "/") {
		return e, nil
	}
	c, err := k.st.GetClusterByIssuer(ctx, issuerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return e, nil
	case err != nil:
		return e, fmt.Errorf("cluster: issuer %s: %w", issuer, err)
	case !strings.EqualFold(c.TenantID, tenant) || IssuerURL(k.public, c.TenantID, c.IssuerID) != issuer:
		return e, nil
	}
	stored, err := k.st.ListClusterKeys(ctx, c.IssuerID)
	if err != nil {
		return e, fmt.Errorf("cluster: keys of issuer %s: %w", issuer, err)
	}
	e.keys = map[string]crypto.PublicKey{}
	for _, sk := range Published(stored, now) {
		pub, err := x509.ParsePKIXPublicKey(sk.PublicKey)
		if err != nil {
			continue // as a JWKS entry that does not parse is skipped
		}
		e.keys[sk.KID] = pub
	}
	if len(e.keys) == 1 {
		for _, pub := range e.keys {
			e.only = pub
		}
	}
	return e, nil
}
