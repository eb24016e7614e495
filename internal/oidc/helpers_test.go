package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/wifproject/wif/internal/testkit"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The test keys, shared by the whole test binary (testkit).
func rsaKeys() []*rsa.PrivateKey {
	return []*rsa.PrivateKey{testkit.RSAKey(0), testkit.RSAKey(1), testkit.RSAKey(2)}
}
func ecKey() *ecdsa.PrivateKey    { return testkit.ECKey(elliptic.P256()) }
func ec384Key() *ecdsa.PrivateKey { return testkit.ECKey(elliptic.P384()) }

var edKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// clock is the shared test clock.
type clock = testkit.Clock

func newClock() *clock { return testkit.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)) }

// jwk is one entry of a test JWKS.
type jwk struct {
	kid string
	key crypto.PublicKey
	use string
	alg string
}

func jwksJSON(t testing.TB, keys ...jwk) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key, KeyID: k.kid, Use: k.use, Algorithm: k.alg})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeIssuer is an OIDC issuer on a real TLS server. Any path prefix P
// serves P/.well-known/openid-configuration (issuer URL+P, jwks_uri
// URL+P/jwks) and P/jwks.
type fakeIssuer struct {
	srv *httptest.Server

	mu              sync.Mutex
	jwks            []byte
	cacheControl    string
	discoveryStatus int
	jwksStatus      int
	discoveryBody   []byte // replaces the generated document if set
	issuerOverride  string // replaces the "issuer" field if set
	jwksURIOverride string
	gate            chan struct{} // if set, JWKS requests wait for it to close

	discoveryHits, jwksHits atomic.Int64
}

func newFakeIssuer(t testing.TB, jwks []byte) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{jwks: jwks, discoveryStatus: 200, jwksStatus: 200}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) URL() string { return f.srv.URL }

func (f *fakeIssuer) set(fn func(f *fakeIssuer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeIssuer) serve(w http.ResponseWriter, r *http.Request) {
	const wellKnown = "/.well-known/openid-configuration"
	f.mu.Lock()
	jwks, cc, ds, js, db, iss, uri, gate := f.jwks, f.cacheControl, f.discoveryStatus, f.jwksStatus, f.discoveryBody, f.issuerOverride, f.jwksURIOverride, f.gate
	f.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, wellKnown):
		f.discoveryHits.Add(1)
		prefix := strings.TrimSuffix(r.URL.Path, wellKnown)
		if iss == "" {
			iss = f.srv.URL + prefix
		}
		if uri == "" {
			uri = f.srv.URL + prefix + "/jwks"
		}
		if db == nil {
			db, _ = json.Marshal(map[string]string{"issuer": iss, "jwks_uri": uri})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ds)
		w.Write(db)
	case strings.HasSuffix(r.URL.Path, "/jwks"):
		f.jwksHits.Add(1)
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				// Abandoned (the client timed out): end the connection
				// without an answer. Returning would send an empty 200,
				// which can still reach a client whose TLS close_notify
				// went out before its TCP close.
				panic(http.ErrAbortHandler)
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(js)
		w.Write(jwks)
	default:
		http.NotFound(w, r)
	}
}

// signToken signs claims with key under alg, with kid unless empty.
func signToken(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// kubeClaims resembles a projected Kubernetes service-account token.
func kubeClaims(iss string, now time.Time) map[string]any {
	return map[string]any{
		"aud": []string{"api://AzureADTokenExchange"},
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"iss": iss,
		"jti": "7f3c2a0e-6c35-4a8a-9d0f-3f3b1f0c5d11",
		"kubernetes.io": map[string]any{
			"namespace": "default",
			"node":      map[string]any{"name": "node-1", "uid": "1b4c6c1e-7d1a-4b8e-9f1e-2a3b4c5d6e7f"},
			"pod":       map[string]any{"name": "app-5d8f7c9b6-abcde", "uid": "2c5d7d2f-8e2b-4c9f-a02f-3b4c5d6e7f80"},
			"serviceaccount": map[string]any{
				"name": "workload",
				"uid":  "3d6e8e3a-9f3c-4da0-b13a-4c5d6e7f8091",
			},
		},
		"sub": "system:serviceaccount:default:workload",
	}
}

func newTestKeySets(f *fakeIssuer, c *clock, mod func(*KeySetsConfig)) *KeySets {
	cfg := KeySetsConfig{Client: f.srv.Client(), Now: c.Now}
	if mod != nil {
		mod(&cfg)
	}
	return NewKeySets(cfg)
}

func kidN(i int) string { return fmt.Sprintf("k%d", i) }

// jwksEntry marshals one JWK.
func jwksEntry(t testing.TB, k jwk) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k.key, KeyID: k.kid, Use: k.use, Algorithm: k.alg})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// b64n is the base64url modulus of an RSA key.
func b64n(k *rsa.PublicKey) string { return base64.RawURLEncoding.EncodeToString(k.N.Bytes()) }

func newLoopbackListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
