package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/wifproject/wif/internal/testkit"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/store"
)

// countingKeys counts the keyring's store calls.
type countingKeys struct {
	KeyStore
	lists, inserts atomic.Int64
}

func (c *countingKeys) ListSigningKeys(ctx context.Context, tenantID string) ([]store.SigningKey, error) {
	c.lists.Add(1)
	return c.KeyStore.ListSigningKeys(ctx, tenantID)
}

func (c *countingKeys) InsertSigningKey(ctx context.Context, k store.SigningKey) error {
	c.inserts.Add(1)
	return c.KeyStore.InsertSigningKey(ctx, k)
}

// unsigned returns a token with claims c, a plausible header and a junk
// signature, as an attacker without keys would send.
func unsigned(tb testing.TB, kid string, c Claims) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	p, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString([]byte("AAAA"))
}

// TestVerifyForgedTenantDoesNoKeyWork: a forged token naming a tenant that
// does not exist, or a case variant of one that does, never makes the
// keyring read, generate or cache keys (issue 13: an unsigned token with a
// random tid made the server generate an RSA key per request).
func TestVerifyForgedTenantDoesNoKeyWork(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	ks := &countingKeys{KeyStore: db}
	kr := NewKeyring(ks, DefaultPolicy(), time.Minute, clk.Now)
	ctx := context.Background()
	good := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour)) // loads tenant A
	kid := mustKID(t, good)
	lists, inserts := ks.lists.Load(), ks.inserts.Load()
	cached := len(kr.tenants)

	v := NewVerifier(kr, db, issuerFor, clk.Now)
	upper := strings.ToUpper(tenantA)
	mixed := strings.ToUpper(tenantA[:8]) + tenantA[8:]
	cases := []struct {
		name string
		tid  string
		want error
	}{
		{"random tenant", uuid.NewString(), ErrIssuer},
		{"another random tenant", uuid.NewString(), ErrIssuer},
		{"upper-case variant of a real tenant", upper, ErrSignature},
		{"mixed-case variant of a real tenant", mixed, ErrSignature},
		{"not a GUID", "common", ErrIssuer},
		{"GUID with braces", "{" + tenantA + "}", ErrIssuer},
		{"long tid", strings.Repeat("a", 4000), ErrIssuer},
	}
	for _, tc := range cases {
		for i := 0; i < 20; i++ {
			c := claimsAt(tc.tid, t0, time.Hour)
			_, err := v.Verify(ctx, unsigned(t, kid, c), aud)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: Verify = %v, want %v", tc.name, err, tc.want)
			}
		}
	}
	if n := ks.lists.Load() - lists; n != 0 {
		t.Errorf("forged tokens made %d signing-key reads, want 0", n)
	}
	if n := ks.inserts.Load() - inserts; n != 0 {
		t.Errorf("forged tokens made %d signing keys, want 0", n)
	}
	if len(kr.tenants) != cached {
		t.Errorf("keyring caches %d tenants after forged tokens, want %d", len(kr.tenants), cached)
	}
	// The real token still verifies.
	if _, err := v.Verify(ctx, good, aud); err != nil {
		t.Fatalf("real token: %v", err)
	}
}

// TestVerifyStoreFailureIsUnavailable: a store failure is not reported as a
// bad token, and its text is kept apart from the sentinel (callers render
// the sentinel only).
func TestVerifyStoreFailureIsUnavailable(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	raw := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))
	failing := tenantsFunc(func(context.Context, string) (bool, error) { return false, errors.New("database is locked") })
	_, err := NewVerifier(kr, failing, issuerFor, clk.Now).Verify(context.Background(), raw, aud)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify = %v, want ErrUnavailable", err)
	}
}

type tenantsFunc func(context.Context, string) (bool, error)

func (f tenantsFunc) TenantExists(ctx context.Context, id string) (bool, error) { return f(ctx, id) }

func TestCanonicalTenantID(t *testing.T) {
	for in, want := range map[string]string{
		tenantA:                                tenantA,
		strings.ToUpper(tenantA):               tenantA,
		"":                                     "",
		"common":                               "",
		tenantA + " ":                          "",
		"72f988bf_86f1-41af-91ab-2d7cd011db47": "",
		"72f988bg-86f1-41af-91ab-2d7cd011db47": "",
		"72F988BF-86F1-41AF-91AB-2D7CD011DB4\u0130": "",
	} {
		got, ok := CanonicalTenantID(in)
		if got != want || ok != (want != "") {
			t.Errorf("CanonicalTenantID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzCanonicalTenantID(f *testing.F) {
	f.Add(tenantA)
	f.Add(strings.ToUpper(tenantA))
	f.Add("common")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := CanonicalTenantID(s)
		_, err := uuid.Parse(s)
		if ok != (len(s) == 36 && err == nil) {
			t.Fatalf("CanonicalTenantID(%q) ok = %v, uuid.Parse err = %v", s, ok, err)
		}
		if ok && (got != strings.ToLower(s) || got != uuid.MustParse(s).String()) {
			t.Fatalf("CanonicalTenantID(%q) = %q", s, got)
		}
	})
}

// BenchmarkVerifyForged is the verifier's cost for an unsigned token naming
// a tenant that does not exist: all of it is unauthenticated work.
func BenchmarkVerifyForged(b *testing.B) {
	db := openStore(b)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	none := tenantsFunc(func(context.Context, string) (bool, error) { return false, nil }) // a cached negative answer
	v := NewVerifier(kr, none, issuerFor, clk.Now)
	raw := unsigned(b, "forged", claimsAt(uuid.NewString(), t0, time.Hour))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw, aud); !errors.Is(err, ErrIssuer) {
			b.Fatal(err)
		}
	}
}
