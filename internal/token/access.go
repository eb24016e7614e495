package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
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

// appendJSON appends c as the JSON object that encoding/json would produce
// (same member order, same escaping). It is the hot path of every token
// wif issues, where reflection cost more than the rest of the encoding.
func (c *Claims) appendJSON(b []byte) []byte {
	str := func(b []byte, name, v string) []byte {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		return appendJSONString(b, v)
	}
	num := func(b []byte, name string, v int64) []byte {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		return strconv.AppendInt(b, v, 10)
	}
	b = append(b, `{"aud":`...)
	b = appendJSONString(b, c.Audience)
	b = str(b, "iss", c.Issuer)
	b = num(b, "iat", c.IssuedAt)
	b = num(b, "nbf", c.NotBefore)
	b = num(b, "exp", c.Expiry)
	b = str(b, "appid", c.AppID)
	b = str(b, "appidacr", c.AppIDACR)
	b = str(b, "azp", c.AZP)
	b = str(b, "azpacr", c.AZPACR)
	b = str(b, "idp", c.IDP)
	b = str(b, "idtyp", c.IDType)
	b = str(b, "oid", c.OID)
	b = str(b, "sub", c.Subject)
	b = str(b, "tid", c.TenantID)
	b = str(b, "uti", c.UTI)
	b = str(b, "ver", c.Version)
	if c.ManagedIdentityResourceID != "" {
		b = str(b, "xms_mirid", c.ManagedIdentityResourceID)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json does: invalid UTF-8
// becomes U+FFFD, and <, >, & and U+2028/U+2029 are escaped.
func appendJSONString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
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
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(raw) > 16<<10 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err1 := enc.DecodeString(h)
	pb, err2 := enc.DecodeString(p)
	sig, err3 := enc.DecodeString(s)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var header struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var c Claims
	dec := json.NewDecoder(bytes.NewReader(pb))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	// Only cheap, bounded work until the signature verifies: the tenant
	// must be a GUID that exists (a cached answer, negative ones too)
	// before its keys are looked up.
	tid, ok := CanonicalTenantID(c.TenantID)
	if !ok || c.Issuer != v.issuerFor(c.TenantID) {
		return nil, fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	switch exists, err := v.tenants.TenantExists(ctx, tid); {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !exists:
		return nil, fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	pub, err := v.keys.PublicKey(ctx, tid, header.KID)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, fmt.Errorf("%w: no key with kid %q", ErrSignature, header.KID)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	digest := sha256.Sum256([]byte(raw[:len(h)+1+len(p)]))
	switch key := pub.(type) {
	case *rsa.PublicKey:
		if header.Alg != "RS256" || rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
			return nil, ErrSignature
		}
	case *ecdsa.PublicKey:
		if header.Alg != "ES256" || len(sig) != 64 ||
			!ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil, ErrSignature
		}
	default:
		return nil, ErrSignature
	}
	return &c, nil
}
