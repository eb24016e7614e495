package sts

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"github.com/wifproject/wif/internal/testkit"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

const (
	testPublicURL = "https://wif.localhost:8443"
	testTenant    = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	otherTenant   = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"
	testObjectID  = "5c7e1c3a-2f4d-4e8b-9a6c-1d2e3f4a5b6c"
	otherClientID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	otherObjectID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	testSecret    = "s3cret~value"
	extIssuer     = "https://oidc.cluster.test/abc"
	extSubject    = "system:serviceaccount:default:app"
	extKID        = "ext-key-1"
	failIssuer    = "https://unreachable.test"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The test keys, shared by the whole test binary (testkit).
func extRSAKey() *rsa.PrivateKey { return testkit.RSAKey(0) }

func strayRSAKey() *rsa.PrivateKey { return testkit.RSAKey(1) }

func extECKey() *ecdsa.PrivateKey { return testkit.ECKey(elliptic.P256()) }

// clock is the shared test clock.
type clock = testkit.Clock

// fakeIssuerKeys is an in-memory IssuerKeys: issuer → kid → key.
type fakeIssuerKeys struct {
	mu      sync.Mutex
	keys    map[string]map[string]crypto.PublicKey
	calls   int
	issuers []string // looked up, in order
}

// failDetail is what a failed fetch of failIssuer reports; none of it may
// reach the caller.
const failDetail = `HTTP status 500; invalid JSON: unexpected end of input; issuer "https://fetched.example" does not match`

func (f *fakeIssuerKeys) Key(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.issuers = append(f.issuers, issuer)
	if issuer == failIssuer {
		return nil, fmt.Errorf("%w: %s", oidc.ErrFetch, failDetail)
	}
	k, ok := f.keys[issuer][kid]
	if !ok {
		return nil, fmt.Errorf("%w: issuer %s kid %s", oidc.ErrKeyNotFound, issuer, kid)
	}
	return k, nil
}

func (f *fakeIssuerKeys) Issuers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issuers...)
}

func (f *fakeIssuerKeys) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fixture is a token service over a real SQLite store and keyring, with one
// tenant holding one service principal (testClientID) that has a client
// secret and a federated credential for extIssuer/extSubject.
type fixture struct {
	db       *store.DB
	clock    *clock
	keyring  *token.Keyring
	dir      *Directory
	svc      *Service
	keys     *fakeIssuerKeys
	verifier *token.Verifier
}

type fixtureOpts struct {
	alg    string // wif's signing algorithm; default RS256
	cfg    func(*Config)
	dirTTL time.Duration // default 1 minute
}

func newFixture(tb testing.TB, o fixtureOpts) *fixture {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "wif.db"))
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })

	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(db.CreateTenant(ctx, store.Tenant{ID: testTenant, CreatedAt: t0}))
	must(db.CreateTenant(ctx, store.Tenant{ID: otherTenant, CreatedAt: t0}))
	must(db.CreatePrincipal(ctx, store.Principal{ObjectID: testObjectID, ClientID: testClientID, TenantID: testTenant, DisplayName: "app", CreatedAt: t0}))
	must(db.CreatePrincipal(ctx, store.Principal{ObjectID: otherObjectID, ClientID: otherClientID, TenantID: otherTenant, DisplayName: "other", CreatedAt: t0}))
	must(db.AddClientSecret(ctx, store.ClientSecret{PrincipalID: testObjectID, KeyID: "k1", Hash: HashSecret(testSecret), CreatedAt: t0}))
	must(db.AddClientSecret(ctx, store.ClientSecret{PrincipalID: testObjectID, KeyID: "k-expired", Hash: HashSecret("expired-secret"), CreatedAt: t0, ExpiresAt: t0.Add(-time.Hour)}))
	addFIC(tb, db, "k8s-app", extIssuer, extSubject, "")
	addFIC(tb, db, "k8s-custom-aud", extIssuer, "system:serviceaccount:default:custom", "api://custom")

	alg := o.alg
	if alg == "" {
		alg = "RS256"
	}
	ttl := o.dirTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	clk := testkit.NewClock(t0)
	pol := token.DefaultPolicy()
	pol.Alg = alg
	kr := token.NewKeyring(db, pol, time.Minute, clk.Now)
	dir := NewDirectory(db, ttl, clk.Now)
	keys := &fakeIssuerKeys{keys: map[string]map[string]crypto.PublicKey{
		extIssuer: {extKID: &extRSAKey().PublicKey, "ec": extECKey().Public()},
		// A failing issuer still needs a credential to get as far as keys.
	}}
	addFIC(tb, db, "unreachable", failIssuer, extSubject, "")
	cfg := DefaultConfig(testPublicURL + "/")
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	svc := NewService(cfg, dir, keys, kr, clk.Now)
	return &fixture{db: db, clock: clk, keyring: kr, dir: dir, svc: svc, keys: keys,
		verifier: token.NewVerifier(kr, dir, svc.Issuer, clk.Now)}
}

func addFIC(tb testing.TB, db *store.DB, name, issuer, subject, audience string) {
	tb.Helper()
	if audience == "" {
		audience = "api://AzureADTokenExchange"
	}
	_, _, err := db.PutFederatedCredential(context.Background(), store.FederatedCredential{
		PrincipalID: testObjectID, Name: name, Issuer: issuer, Subject: subject, Audience: audience, CreatedAt: t0,
	}, 20)
	if err != nil {
		tb.Fatalf("PutFederatedCredential %s: %v", name, err)
	}
}

// assertion describes a client assertion to mint.
type assertion struct {
	alg    jose.SignatureAlgorithm // default RS256
	key    crypto.Signer           // default extRSAKey
	kid    string                  // default extKID
	claims map[string]any          // merged over the defaults; nil values delete
}

// mint signs an assertion valid at now: iss extIssuer, sub extSubject, aud
// api://AzureADTokenExchange, iat now, exp now+1h, a random jti.
func mint(tb testing.TB, now time.Time, a assertion) string {
	tb.Helper()
	s, err := mintErr(now, a)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mintErr(now time.Time, a assertion) (string, error) {
	if a.alg == "" {
		a.alg = jose.RS256
	}
	if a.key == nil {
		a.key = extRSAKey()
	}
	if a.kid == "" {
		a.kid = extKID
	}
	claims := map[string]any{
		"iss": extIssuer,
		"sub": extSubject,
		"aud": "api://AzureADTokenExchange",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(),
	}
	for k, v := range a.claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", a.kid))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func secretRequest(audience string) Request {
	return Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: testSecret, Audience: audience}
}

func assertionRequest(raw, audience string) Request {
	return Request{Grant: GrantClientCredentials, ClientID: testClientID, Assertion: raw, Audience: audience}
}
