package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Sentinel errors returned by [KeySets.Key]. They are wrapped with detail
// (URL, HTTP status, kid), so test them with errors.Is.
var (
	// ErrFetch means the issuer's keys could not be obtained: discovery or
	// JWKS unreachable, a non-200 status, a body that is too big or not valid
	// JSON, a discovery document naming another issuer, or a jwks_uri that is
	// not https.
	ErrFetch = errors.New("oidc: fetching issuer keys failed")
	// ErrKeyNotFound means the issuer's key set has no usable key for the kid.
	ErrKeyNotFound = errors.New("oidc: signing key not found")
)

// Defaults for [KeySetsConfig] fields left zero.
const (
	DefaultKeyTTL             = 5 * time.Minute
	DefaultMinKeyTTL          = time.Minute
	DefaultMaxKeyTTL          = 24 * time.Hour
	DefaultUnknownKIDInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxBytes           = 1 << 20
	DefaultMaxKeys            = 100
	DefaultMaxIssuers         = 10000
)

// minRSABits and maxRSABits bound the RSA moduli accepted from a JWKS (the
// upper bound is crypto/rsa's).
const minRSABits, maxRSABits = 2048, 16384

// KeySetsConfig configures [NewKeySets]. Client and Now are required; zero
// durations and sizes take the Default* values.
type KeySetsConfig struct {
	// Client performs discovery and JWKS requests. Callers configure its
	// TLS roots (system pool plus an optional extra CA) and the addresses
	// it may connect to, with [FetchPolicy.DialContext], and must not let
	// it follow redirects.
	Client *http.Client
	// Now is the clock.
	Now func() time.Time
	// DefaultTTL is how long a JWKS is fresh when its response has no usable
	// Cache-Control max-age.
	DefaultTTL time.Duration
	// MinTTL and MaxTTL clamp max-age; no-store and no-cache mean MinTTL.
	MinTTL, MaxTTL time.Duration
	// UnknownKIDInterval is the minimum spacing of fetches for one issuer
	// that are not due to TTL expiry: a refetch triggered by an unknown kid
	// in a fresh key set, and the retry after a failed fetch.
	UnknownKIDInterval time.Duration
	// Timeout bounds each request (discovery and JWKS each).
	Timeout time.Duration
	// MaxBytes bounds each response body.
	MaxBytes int64
	// MaxKeys is how many usable keys of a JWKS are kept (the first ones).
	MaxKeys int
	// MaxIssuers bounds the number of cached issuers; the least recently
	// used one is evicted.
	MaxIssuers int
	// AllowHTTP permits http:// issuers and jwks_uri values. Only for tests
	// and closed networks.
	AllowHTTP bool
}

// KeySets caches the signing keys of many OIDC issuers. It is safe for
// concurrent use.
type KeySets struct {
	cfg   KeySetsConfig
	group singleflight.Group

	mu      sync.RWMutex
	issuers map[string]*issuerEntry

	// testHookBeforeFlight, if set, runs after a lookup decided to fetch and
	// before it joins the single flight.
	testHookBeforeFlight func()
}

// issuerEntry is the cache state of one issuer. All fields except lastUsed
// are guarded by KeySets.mu.
type issuerEntry struct {
	lastUsed atomic.Int64 // Now().UnixNano() of the last lookup, for LRU

	keys        *keySet   // last good keys; nil until a fetch succeeds
	expires     time.Time // keys are fresh before this
	lastAttempt time.Time // start of the last fetch attempt
	// lastKIDRefetch is the start of the last fetch caused by an unknown kid
	// in a fresh key set.
	lastKIDRefetch time.Time
	lastErr        error  // error of the last attempt; nil if it succeeded
	inflight       bool   // a fetch is running
	gen            uint64 // incremented when an attempt completes
	fetches        int
	failures       int
}

// NewKeySets returns an empty cache. It panics if cfg.Client or cfg.Now is
// nil, which is a programming error.
func NewKeySets(cfg KeySetsConfig) *KeySets {
	if cfg.Client == nil || cfg.Now == nil {
		panic("oidc: NewKeySets: Client and Now are required")
	}
	setDefault(&cfg.DefaultTTL, DefaultKeyTTL)
	setDefault(&cfg.MinTTL, DefaultMinKeyTTL)
	setDefault(&cfg.MaxTTL, DefaultMaxKeyTTL)
	setDefault(&cfg.UnknownKIDInterval, DefaultUnknownKIDInterval)
	setDefault(&cfg.Timeout, DefaultFetchTimeout)
	setDefault(&cfg.MaxBytes, DefaultMaxBytes)
	setDefault(&cfg.MaxKeys, DefaultMaxKeys)
	setDefault(&cfg.MaxIssuers, DefaultMaxIssuers)
	if cfg.MaxTTL < cfg.MinTTL {
		cfg.MaxTTL = cfg.MinTTL
	}
	return &KeySets{cfg: cfg, issuers: make(map[string]*issuerEntry)}
}

func setDefault[T time.Duration | int64 | int](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Key returns the public key (*rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey) that issuer publishes under kid. An empty kid selects
// the issuer's only key, if it publishes exactly one.
//
// A fresh cached key is returned without I/O. Otherwise the keys are fetched
// through {issuer}/.well-known/openid-configuration and its jwks_uri, once
// for all concurrent callers. An unknown kid in a fresh key set causes at
// most one refetch per UnknownKIDInterval; a failed refetch keeps the last
// good keys, which are served even after their TTL.
//
// Callers must only pass issuers they trust to be fetched (an issuer that
// has a federated credential), since the issuer names the URL to fetch.
func (k *KeySets) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	now := k.cfg.Now()
	k.mu.RLock()
	e := k.issuers[issuer]
	var (
		key         crypto.PublicKey
		found, fire bool
		unknownKID  bool // the miss is an unknown kid in a fresh key set
		gen         uint64
	)
	if e != nil {
		key, found = e.keys.lookup(kid)
		fresh := now.Before(e.expires)
		if found && fresh {
			e.touch(now)
			k.mu.RUnlock()
			return key, nil
		}
		fire = e.mayFetch(now, fresh, k.cfg.UnknownKIDInterval)
		unknownKID = fresh && e.keys != nil
		gen = e.gen
		e.touch(now)
	}
	k.mu.RUnlock()

	if e == nil {
		if err := checkIssuer(issuer, k.cfg.AllowHTTP); err != nil {
			return nil, fmt.Errorf("%w: issuer: %w", ErrFetch, err)
		}
		e, gen, fire = k.entry(issuer, now)
	}
	if !fire {
		if found { // stale, and a fetch is not due: serve the last good key
			return key, nil
		}
		return nil, k.notFound(e, issuer, kid)
	}

	if k.testHookBeforeFlight != nil {
		k.testHookBeforeFlight()
	}
	ch := k.group.DoChan(issuer, func() (any, error) {
		return nil, k.refresh(ctx, issuer, e, gen, unknownKID)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("oidc: keys for issuer %s: %w", issuer, context.Cause(ctx))
	case <-ch:
	}

	k.mu.RLock()
	key, found = e.keys.lookup(kid)
	k.mu.RUnlock()
	if found {
		return key, nil
	}
	return nil, k.notFound(e, issuer, kid)
}

// notFound builds the error for a kid that the cached keys lack.
func (k *KeySets) notFound(e *issuerEntry, issuer, kid string) error {
	k.mu.RLock()
	keys, lastErr := e.keys, e.lastErr
	k.mu.RUnlock()
	switch {
	case keys == nil && lastErr != nil:
		return lastErr
	case lastErr != nil:
		return fmt.Errorf("%w: kid %q for issuer %s (last refresh failed: %w)", ErrKeyNotFound, kid, issuer, lastErr)
	case kid == "":
		return fmt.Errorf("%w: token has no kid and issuer %s publishes %d keys", ErrKeyNotFound, issuer, keys.size())
	default:
		return fmt.Errorf("%w: kid %q for issuer %s", ErrKeyNotFound, kid, issuer)
	}
}

// touch records a use for LRU eviction. It writes at most once a second so
// that concurrent lookups of a hot issuer do not contend on the cache line.
func (e *issuerEntry) touch(now time.Time) {
	if n := now.UnixNano(); n-e.lastUsed.Load() >= int64(time.Second) {
		e.lastUsed.Store(n)
	}
}

// mayFetch reports whether a lookup that missed (kid unknown, or keys stale)
// may start a fetch. Called with KeySets.mu held.
func (e *issuerEntry) mayFetch(now time.Time, fresh bool, interval time.Duration) bool {
	switch {
	case e.inflight: // join it; refresh's generation check prevents a second fetch
		return true
	case e.lastAttempt.IsZero():
		return true
	case e.lastErr != nil: // back off after a failure
		return now.Sub(e.lastAttempt) >= interval
	case !fresh: // TTL expired
		return true
	default: // unknown kid in a fresh key set: rate-limited
		return e.lastKIDRefetch.IsZero() || now.Sub(e.lastKIDRefetch) >= interval
	}
}

// entry returns the issuer's entry, creating it (and evicting the least
// recently used one if the cache is full) if needed.
func (k *KeySets) entry(issuer string, now time.Time) (e *issuerEntry, gen uint64, fire bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e = k.issuers[issuer]; e != nil { // raced with another creator
		return e, e.gen, e.mayFetch(now, now.Before(e.expires), k.cfg.UnknownKIDInterval)
	}
	if len(k.issuers) >= k.cfg.MaxIssuers {
		var (
			oldest    string
			oldestUse int64
			first     = true
		)
		for iss, c := range k.issuers {
			if u := c.lastUsed.Load(); first || u < oldestUse {
				oldest, oldestUse, first = iss, u, false
			}
		}
		delete(k.issuers, oldest)
	}
	e = &issuerEntry{}
	e.touch(now)
	k.issuers[issuer] = e
	return e, 0, true
}

// refresh runs inside the single flight for issuer. gen is the entry
// generation the caller saw; if an attempt completed since, the caller's
// decision to fetch is outdated and refresh does nothing. unknownKID records
// that the fetch is a rate-limited unknown-kid refetch.
func (k *KeySets) refresh(ctx context.Context, issuer string, e *issuerEntry, gen uint64, unknownKID bool) error {
	k.mu.Lock()
	if e.gen != gen {
		k.mu.Unlock()
		return nil
	}
	e.inflight = true
	e.lastAttempt = k.cfg.Now()
	if unknownKID {
		e.lastKIDRefetch = e.lastAttempt
	}
	k.mu.Unlock()

	// The flight is shared: do not let the first caller's cancellation fail
	// everyone else.
	ctx = context.WithoutCancel(ctx)
	keys, ttl, err := k.fetch(ctx, issuer)

	now := k.cfg.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	e.inflight = false
	e.gen++
	e.fetches++
	if err != nil {
		e.failures++
		e.lastErr = err
		return err
	}
	e.keys, e.expires, e.lastErr = keys, now.Add(ttl), nil
	return nil
}

// fetch performs discovery and reads the JWKS it points to.
func (k *KeySets) fetch(ctx context.Context, issuer string) (*keySet, time.Duration, error) {
	discoveryURL := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := k.get(ctx, discoveryURL)
	if err != nil {
		return nil, 0, err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("%w: discovery %s: invalid JSON: %v", ErrFetch, discoveryURL, err)
	}
	if doc.Issuer != issuer {
		return nil, 0, fmt.Errorf("%w: discovery %s: issuer %q does not match %q", ErrFetch, discoveryURL, doc.Issuer, issuer)
	}
	if err := checkURL(doc.JWKSURI, k.cfg.AllowHTTP); err != nil {
		return nil, 0, fmt.Errorf("%w: discovery %s: jwks_uri: %w", ErrFetch, discoveryURL, err)
	}

	body, header, err := k.get(ctx, doc.JWKSURI)
	if err != nil {
		return nil, 0, err
	}
	keys, err := parseJWKS(body, k.cfg.MaxKeys)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: jwks %s: %w", ErrFetch, doc.JWKSURI, err)
	}
	return keys, cacheTTL(header.Values("Cache-Control"), k.cfg.DefaultTTL, k.cfg.MinTTL, k.cfg.MaxTTL), nil
}

// get fetches rawURL with a per-request timeout and a body size limit.
func (k *KeySets) get(ctx context.Context, rawURL string) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrFetch, rawURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFetch, err) // *url.Error names the URL
	}
	defer resp.Body.Close()
	if err := checkURL(resp.Request.URL.String(), k.cfg.AllowHTTP); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: redirected: %w", ErrFetch, rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%w: %s: HTTP status %d", ErrFetch, rawURL, resp.StatusCode)
	}
	if resp.ContentLength > k.cfg.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %s: body of %d bytes exceeds limit of %d", ErrFetch, rawURL, resp.ContentLength, k.cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.cfg.MaxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: reading body: %w", ErrFetch, rawURL, err)
	}
	if int64(len(body)) > k.cfg.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %s: body exceeds limit of %d bytes", ErrFetch, rawURL, k.cfg.MaxBytes)
	}
	return body, resp.Header, nil
}

// checkURL requires an absolute https URL (or http if allowHTTP) with a host
// and without user info, query or fragment.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q", raw)
	}
	switch {
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		return fmt.Errorf("URL %q is not https", raw)
	case u.Host == "":
		return fmt.Errorf("URL %q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("URL %q has user info", raw)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("URL %q has a fragment", raw)
	}
	return nil
}

// checkIssuer applies checkURL and also rejects a query, which OIDC
// issuers never have and which would corrupt the discovery URL.
func checkIssuer(issuer string, allowHTTP bool) error {
	if err := checkURL(issuer, allowHTTP); err != nil {
		return err
	}
	if strings.Contains(issuer, "?") {
		return fmt.Errorf("URL %q has a query", issuer)
	}
	return nil
}

// cacheTTL derives a key set's freshness from its Cache-Control header
// values: max-age clamped to [minTTL, maxTTL], no-store and no-cache mean
// minTTL, anything else def (also clamped).
func cacheTTL(values []string, def, minTTL, maxTTL time.Duration) time.Duration {
	ttl := def
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return minTTL
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(arg), `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				if n > int64(maxTTL/time.Second) {
					ttl = maxTTL
				} else {
					ttl = time.Duration(n) * time.Second
				}
			}
		}
	}
	return min(max(ttl, minTTL), maxTTL)
}

// IssuerStats describes the cache state of one issuer.
type IssuerStats struct {
	Fetches   int       // fetch attempts (discovery + JWKS count as one)
	Failures  int       // failed attempts
	Keys      int       // usable keys cached
	Expires   time.Time // keys are fresh before this; zero if never fetched
	LastError error     // error of the last attempt; nil if it succeeded
}

// Stats reports the cache state of issuer; the zero value if it is not
// cached.
func (k *KeySets) Stats(issuer string) IssuerStats {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e := k.issuers[issuer]
	if e == nil {
		return IssuerStats{}
	}
	return IssuerStats{
		Fetches:   e.fetches,
		Failures:  e.failures,
		Keys:      e.keys.size(),
		Expires:   e.expires,
		LastError: e.lastErr,
	}
}

// keySet is an immutable set of verification keys.
type keySet struct {
	byKID map[string]crypto.PublicKey
	n     int              // usable keys, with or without kid
	only  crypto.PublicKey // the key if n == 1
}

func (s *keySet) lookup(kid string) (crypto.PublicKey, bool) {
	if s == nil {
		return nil, false
	}
	if kid == "" {
		return s.only, s.only != nil
	}
	key, ok := s.byKID[kid]
	return key, ok
}

func (s *keySet) size() int {
	if s == nil {
		return 0
	}
	return s.n
}

// parseJWKS parses a JWK Set. The document must be a JSON object with a
// "keys" array; keys that are not for signatures, not of a supported type or
// size, carry private material, or fail to parse are skipped. At most
// maxKeys keys are kept; for a repeated kid the first wins.
func parseJWKS(body []byte, maxKeys int) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	s := &keySet{byKID: make(map[string]crypto.PublicKey, min(len(doc.Keys), maxKeys))}
	for _, raw := range doc.Keys {
		if s.n >= maxKeys {
			break
		}
		kid, key, ok := parseJWK(raw)
		if !ok {
			continue
		}
		if kid != "" {
			if _, dup := s.byKID[kid]; dup {
				continue
			}
			s.byKID[kid] = key
		}
		s.n++
		if s.n == 1 {
			s.only = key
		} else {
			s.only = nil
		}
	}
	return s, nil
}

// parseJWK returns a usable public signature key from one JWKS entry.
func parseJWK(raw json.RawMessage) (kid string, key crypto.PublicKey, ok bool) {
	var meta struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		// Private parameters of RSA, EC and OKP keys.
		D  json.RawMessage `json:"d"`
		P  json.RawMessage `json:"p"`
		Q  json.RawMessage `json:"q"`
		DP json.RawMessage `json:"dp"`
		DQ json.RawMessage `json:"dq"`
		QI json.RawMessage `json:"qi"`
	}
	if json.Unmarshal(raw, &meta) != nil {
		return "", nil, false
	}
	if meta.Use != "" && meta.Use != "sig" {
		return "", nil, false
	}
	if meta.Kty != "RSA" && meta.Kty != "EC" && meta.Kty != "OKP" {
		return "", nil, false
	}
	if meta.D != nil || meta.P != nil || meta.Q != nil || meta.DP != nil || meta.DQ != nil || meta.QI != nil {
		return "", nil, false // a published private key is a misconfiguration; never use it
	}
	var jwk jose.JSONWebKey
	if jwk.UnmarshalJSON(raw) != nil {
		return "", nil, false
	}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
			return "", nil, false
		}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
			return "", nil, false
		}
	case ed25519.PublicKey:
	default:
		return "", nil, false
	}
	if meta.Alg != "" && !keyFitsAlg(jwk.Key, jose.SignatureAlgorithm(meta.Alg)) {
		return "", nil, false
	}
	return meta.Kid, jwk.Key, true
}
