package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/store"
)

// ErrUnknownKey: no published key of the tenant has the requested kid.
var ErrUnknownKey = errors.New("token: unknown signing key")

// KeyStore is the storage the keyring needs.
type KeyStore interface {
	ListSigningKeys(ctx context.Context, tenantID string) ([]store.SigningKey, error)
	InsertSigningKey(ctx context.Context, k store.SigningKey) error
	DeleteSigningKey(ctx context.Context, tenantID, kid string) error
	// Exclusive runs fn under a lock shared by every process on the
	// store, so that of replicas rotating at once one adds the new key.
	Exclusive(ctx context.Context, fn func() error) error
}

// Keyring holds every tenant's signing keys in memory, loaded from and
// rotated through the store.
type Keyring struct {
	store   KeyStore
	policy  Policy
	now     func() time.Time
	refresh time.Duration

	mu       sync.RWMutex
	tenants  map[string]*tenantKeys
	lastMiss map[string]time.Time // last reload for an unknown kid, per tenant
	loadMu   sync.Mutex           // serialises loads and rotations
}

type tenantKeys struct {
	signer    *signingKey
	public    map[string]crypto.PublicKey
	jwks      []byte
	refreshAt time.Time
}

type signingKey struct {
	kid    string
	alg    string
	key    crypto.Signer
	header string // base64url of the JOSE header, with the trailing "."
}

// NewKeyring returns a keyring that re-reads the store every refresh (for
// keys rotated by other replicas) and rotates keys according to policy.
func NewKeyring(ks KeyStore, policy Policy, refresh time.Duration, now func() time.Time) *Keyring {
	return &Keyring{store: ks, policy: policy, now: now, refresh: refresh, tenants: map[string]*tenantKeys{}, lastMiss: map[string]time.Time{}}
}

// get returns the tenant's keys, loading them when absent or due. Callers
// on the verification path must only pass tenants known to exist (see
// Verifier): loading may create a tenant's first key.
func (k *Keyring) get(ctx context.Context, tenantID string) (*tenantKeys, error) {
	id := strings.ToLower(tenantID)
	k.mu.RLock()
	t := k.tenants[id]
	k.mu.RUnlock()
	if t != nil && k.now().Before(t.refreshAt) {
		return t, nil
	}
	// One load at a time; whoever waited behind it uses its result.
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	k.mu.RLock()
	if cur := k.tenants[id]; cur != nil && k.now().Before(cur.refreshAt) {
		k.mu.RUnlock()
		return cur, nil
	}
	k.mu.RUnlock()
	if err := k.load(ctx, id); err != nil {
		if t != nil {
			// Keep serving the last good keys, and retry after a while
			// rather than on every call.
			k.mu.Lock()
			t.refreshAt = k.now().Add(k.refresh)
			k.mu.Unlock()
			return t, nil
		}
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.tenants[id], nil
}

// Load reads the tenant's keys from the store, rotates them if due, and
// replaces the in-memory copy.
func (k *Keyring) Load(ctx context.Context, tenantID string) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	return k.load(ctx, strings.ToLower(tenantID))
}

// load is Load for a lower-cased tenant id, with loadMu held.
func (k *Keyring) load(ctx context.Context, tenantID string) error {
	now := k.now()
	keys, err := k.store.ListSigningKeys(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("token: load keys of %s: %w", tenantID, err)
	}
	plan := PlanKeys(keys, now, k.policy)
	if !plan.CreateAt.IsZero() || len(plan.Delete) > 0 {
		// Plan again under the store's lock, from what is stored then: a
		// replica that rotated first leaves nothing to do.
		err := k.store.Exclusive(ctx, func() error {
			if keys, err = k.store.ListSigningKeys(ctx, tenantID); err != nil {
				return fmt.Errorf("token: load keys of %s: %w", tenantID, err)
			}
			plan = PlanKeys(keys, now, k.policy)
			if !plan.CreateAt.IsZero() {
				nk, err := newKey(tenantID, k.policy.Alg, now, plan.CreateAt)
				if err != nil {
					return err
				}
				if err := k.store.InsertSigningKey(ctx, nk); err != nil {
					return fmt.Errorf("token: store new key: %w", err)
				}
				keys = append(keys, nk)
				plan = PlanKeys(keys, now, k.policy)
			}
			for _, i := range plan.Delete {
				if err := k.store.DeleteSigningKey(ctx, tenantID, keys[i].KID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("token: delete retired key: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if plan.Signer < 0 {
		return fmt.Errorf("token: tenant %s has no active signing key", tenantID)
	}

	t := &tenantKeys{public: map[string]crypto.PublicKey{}, refreshAt: now.Add(k.refresh)}
	var set jose.JSONWebKeySet
	for _, i := range plan.Published {
		sk, err := parseKey(keys[i])
		if err != nil {
			return err
		}
		pub := sk.key.Public()
		t.public[sk.kid] = pub
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: sk.kid, Algorithm: sk.alg, Use: "sig"})
		if i == plan.Signer {
			t.signer = sk
		}
	}
	if t.jwks, err = json.Marshal(set); err != nil {
		return fmt.Errorf("token: marshal JWKS: %w", err)
	}
	k.mu.Lock()
	k.tenants[tenantID] = t
	k.mu.Unlock()
	return nil
}

// JWKS returns the tenant's published keys as a JSON Web Key Set.
func (k *Keyring) JWKS(ctx context.Context, tenantID string) ([]byte, error) {
	t, err := k.get(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return t.jwks, nil
}

// PublicKey returns the tenant's published key with kid. An unknown kid
// forces one reload, in case another replica rotated.
func (k *Keyring) PublicKey(ctx context.Context, tenantID, kid string) (crypto.PublicKey, error) {
	t, err := k.get(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if pub, ok := t.public[kid]; ok {
		return pub, nil
	}
	// Another replica may have rotated: reload, at most once per
	// unknownKIDInterval per tenant, since callers pass untrusted kids.
	id := strings.ToLower(tenantID)
	now := k.now()
	k.mu.Lock()
	due := now.Sub(k.lastMiss[id]) >= unknownKIDInterval
	if due {
		k.lastMiss[id] = now
	}
	k.mu.Unlock()
	if due && k.Load(ctx, id) == nil {
		k.mu.RLock()
		pub, ok := k.tenants[id].public[kid]
		k.mu.RUnlock()
		if ok {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// unknownKIDInterval bounds reloads caused by unknown key ids.
const unknownKIDInterval = 10 * time.Second

// Sign serialises claims and signs them with the tenant's active key,
// returning a compact JWS. It serialises by hand rather than through a
// jose.Signer, and signs ECDSA deterministically (RFC 6979), because that
// is at least 10% of an ES256 exchange (docs/benchmarks.md).
func (k *Keyring) Sign(ctx context.Context, tenantID string, claims Claims) (string, error) {
	t, err := k.get(ctx, tenantID)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token: marshal claims: %w", err)
	}
	s := t.signer
	input := s.header + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := s.key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	if key, ok := s.key.(*ecdsa.PrivateKey); ok {
		if sig, err = rawECDSA(sig, (key.Curve.Params().BitSize+7)/8); err != nil {
			return "", fmt.Errorf("token: sign: %w", err)
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// rawECDSA turns an ASN.1 ECDSA signature into JWS's form (RFC 7518
// 3.4): r and s as size-byte big-endian integers, concatenated.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("malformed ECDSA signature")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, errors.New("ECDSA signature out of range")
	}
	sig := make([]byte, 2*size)
	rs.R.FillBytes(sig[:size])
	rs.S.FillBytes(sig[size:])
	return sig, nil
}

func newKey(tenantID, alg string, now, activateAt time.Time) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.SigningKey{}, fmt.Errorf("token: unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: marshal key: %w", err)
	}
	kid, err := KeyID(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{TenantID: tenantID, KID: kid, Alg: alg, PrivateKey: der, CreatedAt: now, ActivateAt: activateAt}, nil
}

// KeyID derives a key id the way kube-apiserver does:
// base64url(sha256(DER of the PKIX public key)).
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("token: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func parseKey(k store.SigningKey) (*signingKey, error) {
	priv, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("token: parse key %s: %w", k.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("token: key %s is not a signer", k.KID)
	}
	if rk, ok := signer.(*rsa.PrivateKey); ok {
		rk.Precompute()
	}
	switch k.Alg {
	case "RS256":
		_, ok = signer.(*rsa.PrivateKey)
	case "ES256":
		ec, isEC := signer.(*ecdsa.PrivateKey)
		ok = isEC && ec.Curve == elliptic.P256()
	default:
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("token: key %s does not fit alg %s", k.KID, k.Alg)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{k.Alg, k.KID, "JWT"})
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: k.KID, alg: k.Alg, key: signer, header: base64.RawURLEncoding.EncodeToString(header) + "."}, nil
}
