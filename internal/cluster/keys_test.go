package cluster

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/store"
)

// memIssuers is an in-memory issuerStore that counts its reads.
type memIssuers struct {
	mu       sync.Mutex
	clusters map[string]store.Cluster
	keys     map[string][]store.ClusterKey
	reads    int
}

func (m *memIssuers) GetClusterByIssuer(_ context.Context, issuerID string) (store.Cluster, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	c, ok := m.clusters[issuerID]
	if !ok {
		return store.Cluster{}, store.ErrNotFound
	}
	return c, nil
}

func (m *memIssuers) ListClusterKeys(_ context.Context, issuerID string) ([]store.ClusterKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return append([]store.ClusterKey(nil), m.keys[issuerID]...), nil
}

func (m *memIssuers) Reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// deniedTransport refuses every request and counts them: an outbound
// fetch policy that allows nothing.
type deniedTransport struct{ n atomic.Int64 }

func (d *deniedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	d.n.Add(1)
	return nil, errors.New("outbound fetches are denied")
}

func publicKey(t *testing.T, k store.ClusterKey) *rsa.PublicKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*rsa.PublicKey)
}

// TestLocalKeys: the keys of a cluster issuer wif hosts come from the store,
// never over HTTP, with the answers the HTTP path would give; every other
// issuer goes to the JWKS cache.
func TestLocalKeys(t *testing.T) {
	const (
		public = "https://wif.localhost:8443"
		tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		id     = "5b1e2b8e-6d6a-4d0e-9f0a-0c7b1f0e6a11"
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, err := NewManagedKey(id, now.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	retired, _ := NewManagedKey(id, now.Add(-72*time.Hour))
	retired.RetireAt = now.Add(-time.Hour)
	st := &memIssuers{
		clusters: map[string]store.Cluster{id: {TenantID: tenant, IssuerID: id, Name: "c"}},
		keys:     map[string][]store.ClusterKey{id: {retired, a}},
	}
	tr := &deniedTransport{}
	cache := oidc.NewKeySets(oidc.KeySetsConfig{Client: &http.Client{Transport: tr}, Now: clock})
	keys := NewLocalKeys(st, public+"/", time.Minute, clock, cache)
	ctx := context.Background()
	issuer := IssuerURL(public, tenant, id)

	tests := []struct {
		name, issuer, kid string
		want              error // nil: a's key
	}{
		{"hosted issuer", issuer, a.KID, nil},
		{"only key, no kid", issuer, "", nil},
		{"unknown kid", issuer, "other", oidc.ErrKeyNotFound},
		{"retired key", issuer, retired.KID, oidc.ErrKeyNotFound},
		{"without the trailing slash", public + "/oidc/" + tenant + "/" + id, a.KID, oidc.ErrFetch},
		{"another tenant", public + "/oidc/33e01921-4d64-4f8c-a055-5bdaffd5e33d/" + id + "/", a.KID, oidc.ErrFetch},
		{"unknown issuer", public + "/oidc/" + tenant + "/00000000-0000-0000-0000-000000000000/", a.KID, oidc.ErrFetch},
		{"deeper path", issuer + "extra/", a.KID, oidc.ErrFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := keys.Key(ctx, tt.issuer, tt.kid)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Key = %v, %v; want %v", key, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pub, ok := key.(*rsa.PublicKey); !ok || !pub.Equal(publicKey(t, a)) {
				t.Fatalf("Key = %T, not the cluster's key", key)
			}
		})
	}
	if n := tr.n.Load(); n != 0 {
		t.Fatalf("%d HTTP requests for issuers wif hosts", n)
	}

	// Cached for the TTL: repeated lookups do not read the store again.
	reads := st.Reads()
	for range 10 {
		keys.Key(ctx, issuer, a.KID)
	}
	if st.Reads() != reads {
		t.Errorf("cached lookups read the store %d times", st.Reads()-reads)
	}

	// A rotation is seen at once after Invalidate (the store's change).
	b, _ := NewManagedKey(id, now)
	st.mu.Lock()
	st.keys[id] = Rotate(st.keys[id], b, now)
	st.mu.Unlock()
	keys.Invalidate()
	if key, err := keys.Key(ctx, issuer, b.KID); err != nil || !key.(*rsa.PublicKey).Equal(publicKey(t, b)) {
		t.Errorf("new key after rotation: %v", err)
	}
	if _, err := keys.Key(ctx, issuer, a.KID); err != nil {
		t.Errorf("previous key during the overlap: %v", err)
	}
	if _, err := keys.Key(ctx, issuer, ""); !errors.Is(err, oidc.ErrKeyNotFound) {
		t.Errorf("no kid with two published keys: %v, want ErrKeyNotFound", err)
	}

	// Other issuers, including wif's host outside /oidc/, go to the cache.
	for _, ext := range []string{"https://oidc.example.test", public + "/other/"} {
		before := tr.n.Load()
		if _, err := keys.Key(ctx, ext, "k"); !errors.Is(err, oidc.ErrFetch) {
			t.Errorf("%s: %v, want the cache's fetch error", ext, err)
		}
		if tr.n.Load() == before {
			t.Errorf("%s was not passed to the JWKS cache", ext)
		}
	}
	if n := tr.n.Load(); n != 2 {
		t.Errorf("%d HTTP requests, want one for each external issuer", n)
	}
}
