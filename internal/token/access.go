package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/oidc"
)

// Claims are the claims of an access token wif issues, shaped like Entra
// ID's v2.0 app-only tokens.
type Claims struct {
	Audience  string `json:"aud"`
	Issuer    string `json:"iss"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	// AppID and AZP are the client id; AppIDACR/AZPACR say how the client
	// authenticated: "1" secret, "2" assertion.
	AppID    string `json:"appid"`
	AppIDACR string `json:"appidacr"`
	AZP      string `json:"azp"`
	AZPACR   string `json:"azpacr"`
	IDP      string `json:"idp"`
	IDType   string `json:"idtyp"`
	OID      string `json:"oid"`
	Subject  string `json:"sub"`
	TenantID string `json:"tid"`
	UTI      string `json:"uti"`
	Version  string `json:"ver"`
	// ManagedIdentityResourceID is the ARM id of a managed identity
	// (Entra's xms_mirid).
	ManagedIdentityResourceID string `json:"xms_mirid,omitempty"`
}

// Sentinel verification errors.
var (
	ErrMalformed = errors.New("token: malformed token")
	ErrSignature = errors.New("token: signature verification failed")
	ErrExpired   = errors.New("token: token expired")
	ErrAudience  = errors.New("token: audience not accepted")
	ErrIssuer    = errors.New("token: issuer not accepted")
	// ErrUnavailable: the token could not be checked for an internal
	// reason (the store failed); callers answer 503 and log the cause.
	ErrUnavailable = errors.New("token: verification unavailable")
)

// Tenants tells which tenants exist. It is asked before any key is looked
// up, so it must be cheap for unknown ids too (a cache that holds negative
// answers, bounded in size).
type Tenants interface {
	TenantExists(ctx context.Context, id string) (bool, error)
}

// CanonicalTenantID returns a tenant id in its one stored form: a GUID in
// lower case. ok is false for anything that is not a GUID.
func CanonicalTenantID(id string) (string, bool) {
	if len(id) != 36 {
		return "", false
	}
	b := []byte(id)
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + 'a' - 'A'
		default:
			return "", false
		}
	}
	return string(b), true
}

// Verifier checks bearer tokens that wif issued. Successful verifications
// are cached by token hash until the token expires, so the hot path does no
// public-key work per request.
type Verifier struct {
	keys      *Keyring
	tenants   Tenants
	issuerFor func(tenantID string) string
	now       func() time.Time
	leeway    time.Duration
	maxCache  int

	mu    sync.RWMutex
	cache map[[32]byte]*Claims
}

// NewVerifier returns a verifier. issuerFor gives the expected iss of a
// tenant's tokens; tenants says which tenants exist, so that a forged token
// naming an unknown tenant costs no key lookup.
func NewVerifier(keys *Keyring, tenants Tenants, issuerFor func(tenantID string) string, now func() time.Time) *Verifier {
	return &Verifier{keys: keys, tenants: tenants, issuerFor: issuerFor, now: now, leeway: 5 * time.Minute, maxCache: 100_000, cache: map[[32]byte]*Claims{}}
}

// Verify checks raw and that its audience is one of audiences (compared
// ignoring one trailing slash, as Azure treats "https://x" and "https://x/"
// as the same resource). The returned claims must not be modified.
func (v *Verifier) Verify(ctx context.Context, raw string, audiences ...string) (*Claims, error) {
	sum := sha256.Sum256([]byte(raw))
	v.mu.RLock()
	c := v.cache[sum]
	v.mu.RUnlock()
	now := v.now()
	if c == nil {
		var err error
		if c, err = v.verify(ctx, raw); err != nil {
			return nil, err
		}
		v.mu.Lock()
		if len(v.cache) >= v.maxCache {
			clear(v.cache)
		}
		v.cache[sum] = c
		v.mu.Unlock()
	}
	if now.Unix() >= c.Expiry {
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	}
	if now.Add(v.leeway).Unix() < c.NotBefore {
		return nil, fmt.Errorf("%w: not valid before %s", ErrExpired, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	if !audienceAccepted(c.Audience, audiences) {
		return nil, fmt.Errorf("%w: %q", ErrAudience, c.Audience)
	}
	return c, nil
}

func audienceAccepted(aud string, accepted []string) bool {
	a := strings.TrimSuffix(aud, "/")
	for _, want := range accepted {
		if a == strings.TrimSuffix(want, "/") {
			return true
		}
	}
	return false
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	// oidc.Parse bounds the size, decodes strictly and allows only
	// asymmetric algorithms; the key decides which one below.
	a, err := oidc.Parse(raw)
	switch {
	case errors.Is(err, oidc.ErrAlgorithm):
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// Only cheap, bounded work until the signature verifies: the tenant
	// must be a GUID that exists (a cached answer, negative ones too)
	// before its keys are looked up, and the claims are decoded into the
	// typed struct only after.
	iss := a.Claims.Issuer
	claimed, _ := a.Claims.Claim("tid")
	tid, ok := CanonicalTenantID(claimed)
	if !ok || iss != v.issuerFor(claimed) {
		return nil, fmt.Errorf("%w: %q", ErrIssuer, iss)
	}
	switch exists, err := v.tenants.TenantExists(ctx, tid); {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !exists:
		return nil, fmt.Errorf("%w: %q", ErrIssuer, iss)
	}
	pub, err := v.keys.PublicKey(ctx, tid, a.Header.KID)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, fmt.Errorf("%w: no key with kid %q", ErrSignature, a.Header.KID)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// wif signs RS256 with its RSA keys and ES256 with its P-256 keys.
	want := "RS256"
	if _, isEC := pub.(*ecdsa.PublicKey); isEC {
		want = "ES256"
	}
	if a.Header.Alg != want || a.Verify(pub) != nil {
		return nil, ErrSignature
	}
	var c Claims
	if err := a.UnmarshalClaims(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &c, nil
}
