package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/wifproject/wif/internal/testkit"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store"
)

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"
	aud     = "https://vault.localhost:8443"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is the shared test clock.
type clock = testkit.Clock

func issuerFor(tenantID string) string { return "https://wif.localhost:8443/" + tenantID + "/v2.0" }

// openStore opens a temporary SQLite store with tenants A and B.
func openStore(tb testing.TB) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "wif.db"))
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	for _, id := range []string{tenantA, tenantB} {
		if err := db.CreateTenant(ctx, store.Tenant{ID: id, CreatedAt: t0}); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// claimsAt returns access token claims for tenant, issued at now with the
// given lifetime.
func claimsAt(tenant string, now time.Time, life time.Duration) Claims {
	return Claims{
		Audience: aud, Issuer: issuerFor(tenant), IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(life).Unix(),
		AppID: "app", AppIDACR: "2", AZP: "app", AZPACR: "2", IDType: "app",
		OID: "oid", Subject: "oid", TenantID: tenant, UTI: "uti", Version: "2.0",
	}
}

func sign(tb testing.TB, kr *Keyring, tenant string, c Claims) string {
	tb.Helper()
	raw, err := kr.Sign(context.Background(), tenant, c)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return raw
}

// header decodes a JWS header.
func header(tb testing.TB, raw string) (alg, kid string) {
	tb.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		tb.Fatalf("header: %v", err)
	}
	var v struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("header: %v", err)
	}
	if v.Typ != "JWT" {
		tb.Errorf("typ = %q, want JWT", v.Typ)
	}
	return v.Alg, v.Kid
}

// jwksKIDs returns the kids of a tenant's JWKS, checking each key's shape.
func jwksKIDs(tb testing.TB, kr *Keyring, tenant string) []string {
	tb.Helper()
	set := jwks(tb, kr, tenant)
	var kids []string
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.Algorithm == "" || !k.Valid() {
			tb.Errorf("JWKS key %q: public %v use %q alg %q valid %v", k.KeyID, k.IsPublic(), k.Use, k.Algorithm, k.Valid())
		}
		if want, _ := KeyID(k.Key); want != k.KeyID {
			tb.Errorf("kid %q is not the key's thumbprint %q", k.KeyID, want)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

func jwks(tb testing.TB, kr *Keyring, tenant string) jose.JSONWebKeySet {
	tb.Helper()
	b, err := kr.JWKS(context.Background(), tenant)
	if err != nil {
		tb.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		tb.Fatalf("JWKS %s: %v", b, err)
	}
	return set
}

func storedKIDs(tb testing.TB, db *store.DB, tenant string) []string {
	tb.Helper()
	keys, err := db.ListSigningKeys(context.Background(), tenant)
	if err != nil {
		tb.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func TestKeyringFirstLoad(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	ctx := context.Background()
	if err := kr.Load(ctx, tenantA); err != nil {
		t.Fatalf("Load: %v", err)
	}
	keys, err := db.ListSigningKeys(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d keys stored, want 1", len(keys))
	}
	k := keys[0]
	if k.Alg != "RS256" || !k.ActivateAt.Equal(t0) || !k.CreatedAt.Equal(t0) || k.TenantID != tenantA || len(k.PrivateKey) == 0 {
		t.Errorf("stored key = %+v", k)
	}
	if diff := cmp.Diff([]string{k.KID}, jwksKIDs(t, kr, tenantA)); diff != "" {
		t.Errorf("JWKS kids (-want +got):\n%s", diff)
	}
	if _, err := kr.PublicKey(ctx, tenantA, k.KID); err != nil {
		t.Errorf("PublicKey: %v", err)
	}
	if _, err := kr.PublicKey(ctx, tenantA, "nope"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("PublicKey(unknown) = %v, want ErrUnknownKey", err)
	}

	// A second load (or a second replica) reuses the stored key.
	kr2 := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	if err := kr2.Load(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{k.KID}, storedKIDs(t, db, tenantA)); diff != "" {
		t.Errorf("stored kids after second load (-want +got):\n%s", diff)
	}
	if alg, kid := header(t, sign(t, kr2, tenantA, claimsAt(tenantA, t0, time.Hour))); alg != "RS256" || kid != k.KID {
		t.Errorf("second keyring signs with %s %s, want RS256 %s", alg, kid, k.KID)
	}

	// Tenants have their own keys.
	if alg, kid := header(t, sign(t, kr, tenantB, claimsAt(tenantB, t0, time.Hour))); alg != "RS256" || kid == k.KID {
		t.Errorf("tenant B signs with %s %s", alg, kid)
	}
}

func TestKeyringUnknownTenant(t *testing.T) {
	db := openStore(t)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, (testkit.NewClock(t0)).Now)
	if _, err := kr.Sign(context.Background(), "no-such-tenant", Claims{}); !errors.Is(err, store.ErrParentNotFound) {
		t.Errorf("Sign for a missing tenant = %v, want store.ErrParentNotFound", err)
	}
	if _, err := kr.JWKS(context.Background(), "no-such-tenant"); err == nil {
		t.Errorf("JWKS for a missing tenant succeeded")
	}
}

func TestKeyringBadPolicy(t *testing.T) {
	db := openStore(t)
	kr := NewKeyring(db, Policy{Alg: "HS256"}, time.Minute, (testkit.NewClock(t0)).Now)
	if err := kr.Load(context.Background(), tenantA); err == nil {
		t.Errorf("Load with alg HS256 succeeded")
	}
}

func TestVerify(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	ctx := context.Background()
	good := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))
	tamper := func(raw string, part int, f func(string) string) string {
		p := strings.Split(raw, ".")
		p[part] = f(p[part])
		return strings.Join(p, ".")
	}
	enc := base64.RawURLEncoding
	withClaims := func(c Claims) string {
		// Correctly signed by tenant A's key, whatever the claims say.
		return sign(t, kr, tenantA, c)
	}
	swapPayload := func(c Claims) string {
		b, _ := json.Marshal(c)
		return tamper(good, 1, func(string) string { return enc.EncodeToString(b) })
	}
	flipMiddle := func(s string) string {
		i := len(s) / 2
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	otherTenantSigned := sign(t, kr, tenantB, claimsAt(tenantB, t0, time.Hour))
	wrongIss := claimsAt(tenantA, t0, time.Hour)
	wrongIss.Issuer = issuerFor(tenantB)
	noTID := claimsAt(tenantA, t0, time.Hour)
	noTID.TenantID = ""
	future := claimsAt(tenantA, t0.Add(10*time.Minute), time.Hour)
	almostFuture := claimsAt(tenantA, t0.Add(5*time.Minute), time.Hour)
	slashAud := claimsAt(tenantA, t0, time.Hour)
	slashAud.Audience = aud + "/"

	tests := []struct {
		name      string
		raw       string
		audiences []string
		at        time.Duration // after t0
		want      error         // nil: accepted
	}{
		{"accepted", good, []string{aud}, 0, nil},
		{"accepted among several audiences", good, []string{"api://x", aud}, 0, nil},
		{"accepted with trailing slash", good, []string{aud + "/"}, 0, nil},
		{"token with trailing slash accepted without", withClaims(slashAud), []string{aud}, 0, nil},
		{"only one trailing slash ignored", good, []string{aud + "//"}, 0, ErrAudience},
		{"wrong audience", good, []string{"https://management.localhost"}, 0, ErrAudience},
		{"audience differs in case", good, []string{strings.ToUpper(aud)}, 0, ErrAudience},
		{"no audience accepted", good, nil, 0, ErrAudience},
		{"just before expiry", good, []string{aud}, time.Hour - time.Second, nil},
		{"at expiry", good, []string{aud}, time.Hour, ErrExpired},
		{"after expiry", good, []string{aud}, 2 * time.Hour, ErrExpired},
		{"not yet valid beyond leeway", withClaims(future), []string{aud}, 0, ErrExpired},
		{"not yet valid within leeway", withClaims(almostFuture), []string{aud}, 0, nil},
		{"tampered signature", tamper(good, 2, flipMiddle), []string{aud}, 0, ErrSignature},
		{"signature of another token", tamper(good, 2, func(string) string { return strings.Split(otherTenantSigned, ".")[2] }), []string{aud}, 0, ErrSignature},
		{"tampered claims", swapPayload(slashAud), []string{aud}, 0, ErrSignature},
		{"empty signature", tamper(good, 2, func(string) string { return "" }), []string{aud}, 0, ErrSignature},
		{"alg none", tamper(good, 0, func(string) string {
			return enc.EncodeToString([]byte(`{"alg":"none","kid":"` + mustKID(t, good) + `"}`))
		}), []string{aud}, 0, ErrSignature},
		{"alg ES256 with an RSA key", tamper(good, 0, func(string) string {
			return enc.EncodeToString([]byte(`{"alg":"ES256","kid":"` + mustKID(t, good) + `"}`))
		}), []string{aud}, 0, ErrSignature},
		{"unknown kid", tamper(good, 0, func(string) string { return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"nope"}`)) }), []string{aud}, 0, ErrSignature},
		{"issuer of another tenant", withClaims(wrongIss), []string{aud}, 0, ErrIssuer},
		{"tenant B token claiming tenant A", swapPayloadOf(t, otherTenantSigned, claimsAt(tenantA, t0, time.Hour)), []string{aud}, 0, ErrSignature},
		{"no tenant", withClaims(noTID), []string{aud}, 0, ErrIssuer},
		{"two parts", "a.b", []string{aud}, 0, ErrMalformed},
		{"four parts", good + ".x", []string{aud}, 0, ErrMalformed},
		{"bad base64", tamper(good, 1, func(s string) string { return s + "!" }), []string{aud}, 0, ErrMalformed},
		{"padded base64", tamper(good, 2, func(s string) string { return s + "==" }), []string{aud}, 0, ErrMalformed},
		{"claims not JSON", tamper(good, 1, func(string) string { return enc.EncodeToString([]byte("nope")) }), []string{aud}, 0, ErrMalformed},
		{"header not JSON", tamper(good, 0, func(string) string { return enc.EncodeToString([]byte("nope")) }), []string{aud}, 0, ErrMalformed},
		{"too long", good[:len(good)-1] + strings.Repeat("A", 16<<10), []string{aud}, 0, ErrMalformed},
		{"empty", "", []string{aud}, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(tt.at))
			// A fresh verifier per case, so the result cache does not mask
			// anything; then a second call through the cache must agree.
			v := NewVerifier(kr, db, issuerFor, clk.Now)
			for _, pass := range []string{"fresh", "cached"} {
				c, err := v.Verify(ctx, tt.raw, tt.audiences...)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("%s: Verify: %v", pass, err)
					}
					if c.TenantID != tenantA || c.AppID != "app" {
						t.Errorf("%s: claims = %+v", pass, c)
					}
					continue
				}
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: Verify = %v, want %v", pass, err, tt.want)
				}
				if c != nil {
					t.Errorf("%s: claims returned with an error", pass)
				}
			}
		})
	}
}

func mustKID(tb testing.TB, raw string) string {
	_, kid := header(tb, raw)
	return kid
}

// swapPayloadOf replaces raw's claims with c, keeping header and signature.
func swapPayloadOf(tb testing.TB, raw string, c Claims) string {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	p := strings.Split(raw, ".")
	p[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(p, ".")
}

// TestVerifyCacheKeepsExpiry: a cached verification is still subject to
// expiry and audience on every call.
func TestVerifyCacheKeepsExpiry(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	v := NewVerifier(kr, db, issuerFor, clk.Now)
	ctx := context.Background()
	raw := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))
	if _, err := v.Verify(ctx, raw, aud); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, raw, "https://other"); !errors.Is(err, ErrAudience) {
		t.Errorf("cached token, other audience: %v, want ErrAudience", err)
	}
	clk.Set(t0.Add(time.Hour))
	if _, err := v.Verify(ctx, raw, aud); !errors.Is(err, ErrExpired) {
		t.Errorf("cached token after expiry: %v, want ErrExpired", err)
	}
}

// TestVerifyNonCanonicalSignature: only one encoding of a token verifies;
// otherwise anything keyed by the token's hash (the verifier's own cache, a
// deny list) can be sidestepped by re-encoding the signature.
func TestVerifyNonCanonicalSignature(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	kr := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	raw := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))
	// A 256-byte signature is 342 base64url characters whose last one
	// carries 4 unused bits; setting one of them keeps the decoded bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	variant := raw[:len(raw)-1] + string(alphabet[last|1])
	if variant == raw {
		variant = raw[:len(raw)-1] + string(alphabet[last|2])
	}
	_, err := NewVerifier(kr, db, issuerFor, clk.Now).Verify(context.Background(), variant, aud)
	if err == nil {
		t.Fatal("a token whose signature is re-encoded with non-zero padding bits verifies; decode with base64.RawURLEncoding.Strict()")
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
		t.Errorf("Verify = %v, want ErrMalformed or ErrSignature", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	pol := Policy{Alg: "RS256", RotationPeriod: 30 * 24 * time.Hour, PrePublish: 24 * time.Hour, RetainAfter: 2 * time.Hour}
	kr := NewKeyring(db, pol, time.Minute, clk.Now)
	ctx := context.Background()
	day := 24 * time.Hour
	activation := t0.Add(30 * day)

	at := func(d time.Time) { t.Helper(); clk.Set(d) }
	signer := func() (string, string) {
		t.Helper()
		raw := sign(t, kr, tenantA, claimsAt(tenantA, clk.Now(), time.Hour))
		_, kid := header(t, raw)
		return kid, raw
	}

	at(t0)
	keyA, _ := signer()

	// Before the pre-publication window: one key.
	at(activation.Add(-day - time.Minute))
	if kid, _ := signer(); kid != keyA {
		t.Fatalf("signer changed early: %s", kid)
	}
	if diff := cmp.Diff([]string{keyA}, jwksKIDs(t, kr, tenantA)); diff != "" {
		t.Fatalf("JWKS before pre-publication (-want +got):\n%s", diff)
	}

	// Inside the window: the successor is published but A still signs.
	at(activation.Add(-day + time.Minute))
	kid, rawA := signer()
	if kid != keyA {
		t.Fatalf("successor signs before activation")
	}
	kids := jwksKIDs(t, kr, tenantA)
	if len(kids) != 2 || kids[0] != keyA {
		t.Fatalf("JWKS during pre-publication = %v, want [A, successor]", kids)
	}
	keyB := kids[1]
	stored, err := db.ListSigningKeys(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || stored[1].KID != keyB || !stored[1].ActivateAt.Equal(activation) {
		t.Fatalf("stored keys = %+v, want the successor activating at %v", stored, activation)
	}
	// A token A signs now, long-lived enough to outlive A's retention.
	longA := sign(t, kr, tenantA, claimsAt(tenantA, clk.Now(), 2*day))

	// Just before activation A still signs.
	at(activation.Add(-time.Second))
	if kid, _ := signer(); kid != keyA {
		t.Fatalf("B signs before activation")
	}
	lastA := sign(t, kr, tenantA, claimsAt(tenantA, clk.Now(), time.Hour))

	// After activation B signs, A stays published and verifies its tokens.
	at(activation.Add(time.Minute))
	kid, rawB := signer()
	if kid != keyB {
		t.Fatalf("signer after activation = %s, want successor %s", kid, keyB)
	}
	if diff := cmp.Diff([]string{keyA, keyB}, jwksKIDs(t, kr, tenantA)); diff != "" {
		t.Errorf("JWKS after activation (-want +got):\n%s", diff)
	}
	v := NewVerifier(kr, db, issuerFor, clk.Now)
	for name, raw := range map[string]string{"last A": lastA, "long A": longA, "B": rawB} {
		if _, err := v.Verify(ctx, raw, aud); err != nil {
			t.Errorf("token %s does not verify after activation: %v", name, err)
		}
	}
	_ = rawA

	// Just inside RetainAfter A is still there.
	at(activation.Add(pol.RetainAfter - time.Second))
	if _, err := NewVerifier(kr, db, issuerFor, clk.Now).Verify(ctx, longA, aud); err != nil {
		t.Errorf("A's token fails inside RetainAfter: %v", err)
	}

	// After RetainAfter A is withdrawn and deleted.
	at(activation.Add(pol.RetainAfter + time.Minute))
	if kid, _ := signer(); kid != keyB {
		t.Fatalf("signer after retention = %s", kid)
	}
	if diff := cmp.Diff([]string{keyB}, jwksKIDs(t, kr, tenantA)); diff != "" {
		t.Errorf("JWKS after retention (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{keyB}, storedKIDs(t, db, tenantA)); diff != "" {
		t.Errorf("stored keys after retention (-want +got):\n%s", diff)
	}
	if _, err := NewVerifier(kr, db, issuerFor, clk.Now).Verify(ctx, longA, aud); !errors.Is(err, ErrSignature) {
		t.Errorf("A's token after retention: %v, want ErrSignature", err)
	}
	if _, err := kr.PublicKey(ctx, tenantA, keyA); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("PublicKey(A) after retention = %v, want ErrUnknownKey", err)
	}

	// Tenant B was never touched by A's rotation.
	if kids := storedKIDs(t, db, tenantB); len(kids) != 0 {
		t.Errorf("tenant B has keys %v", kids)
	}
}

// TestKeyringRefresh: a keyring sees keys another replica wrote once its
// refresh period has passed, and keeps serving when the store fails.
func TestKeyringRefresh(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	ctx := context.Background()
	kr1 := NewKeyring(db, DefaultPolicy(), time.Minute, clk.Now)
	if err := kr1.Load(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	// Another replica switches to ES256: it creates an ES256 key active now.
	es := DefaultPolicy()
	es.Alg = "ES256"
	kr2 := NewKeyring(db, es, time.Minute, clk.Now)
	raw := sign(t, kr2, tenantA, claimsAt(tenantA, t0, time.Hour))
	if alg, _ := header(t, raw); alg != "ES256" {
		t.Fatalf("replica 2 signs with %s", alg)
	}
	if n := len(jwksKIDs(t, kr2, tenantA)); n != 2 {
		t.Errorf("replica 2 publishes %d keys, want the old RS256 and the new ES256", n)
	}
	clk.Set(t0.Add(time.Minute))
	if _, err := NewVerifier(kr1, db, issuerFor, clk.Now).Verify(ctx, raw, aud); err != nil {
		t.Errorf("replica 1 does not verify replica 2's token after refresh: %v", err)
	}
	if n := len(jwksKIDs(t, kr1, tenantA)); n != 2 {
		t.Errorf("replica 1 publishes %d keys after refresh, want 2", n)
	}

	// With the store gone, the last good keys keep serving.
	db.Close()
	clk.Set(t0.Add(10 * time.Minute))
	if _, err := kr1.Sign(ctx, tenantA, claimsAt(tenantA, clk.Now(), time.Hour)); err != nil {
		t.Errorf("Sign with the store down: %v", err)
	}
	if err := kr1.Load(ctx, tenantA); err == nil {
		t.Errorf("Load with the store down succeeded")
	}
}

// TestKeyringUnknownKIDReloads: PublicKey documents that an unknown kid
// forces one reload, so a key another replica just created verifies before
// the refresh period is over.
func TestKeyringUnknownKIDReloads(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	ctx := context.Background()
	kr1 := NewKeyring(db, DefaultPolicy(), time.Hour, clk.Now)
	if err := kr1.Load(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	es := DefaultPolicy()
	es.Alg = "ES256"
	kr2 := NewKeyring(db, es, time.Hour, clk.Now)
	raw := sign(t, kr2, tenantA, claimsAt(tenantA, t0, time.Hour))
	_, kid := header(t, raw)
	if _, err := kr1.PublicKey(ctx, tenantA, kid); err != nil {
		if errors.Is(err, ErrUnknownKey) {
			t.Fatalf("PublicKey does not reload on an unknown kid as documented: %v", err)
		}
		t.Fatal(err)
	}
}

func TestKeyringES256(t *testing.T) {
	db := openStore(t)
	clk := testkit.NewClock(t0)
	pol := DefaultPolicy()
	pol.Alg = "ES256"
	kr := NewKeyring(db, pol, time.Minute, clk.Now)
	ctx := context.Background()
	raw := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))

	// Verify with go-jose through the published JWKS, as a relying party.
	set := jwks(t, kr, tenantA)
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("JWKS = %+v, want one ES256 key", set.Keys)
	}
	pub, ok := set.Keys[0].Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("JWKS key is %T, want a P-256 *ecdsa.PublicKey", set.Keys[0].Key)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("go-jose cannot parse the token: %v", err)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != set.Keys[0].KeyID {
		t.Errorf("token kid %q, JWKS kid %q", kid, set.Keys[0].KeyID)
	}
	payload, err := jws.Verify(set.Keys[0])
	if err != nil {
		t.Fatalf("go-jose does not verify the token with the JWKS: %v", err)
	}
	var got Claims
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(claimsAt(tenantA, t0, time.Hour), got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if _, err := NewVerifier(kr, db, issuerFor, clk.Now).Verify(ctx, raw, aud); err != nil {
		t.Errorf("Verifier: %v", err)
	}
	// Signatures are fixed-size r||s, 64 bytes, whatever the leading zeros.
	for range 50 {
		raw := sign(t, kr, tenantA, claimsAt(tenantA, t0, time.Hour))
		sig, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature is %d bytes (%v), want 64", len(sig), err)
		}
	}
}

// fixedECKey is a deterministic P-256 signing key, so that fuzz workers
// (separate processes) agree on which tokens are valid.
func fixedECKey(tb testing.TB) store.SigningKey {
	tb.Helper()
	d := make([]byte, 32)
	d[31] = 7
	d[0] = 0x42
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	kid, err := KeyID(priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return store.SigningKey{TenantID: tenantA, KID: kid, Alg: "ES256", PrivateKey: der, CreatedAt: t0, ActivateAt: t0}
}

func FuzzVerify(f *testing.F) {
	db := openStore(f)
	if err := db.InsertSigningKey(context.Background(), fixedECKey(f)); err != nil {
		f.Fatal(err)
	}
	clk := testkit.NewClock(t0)
	pol := DefaultPolicy()
	pol.Alg = "ES256"
	kr := NewKeyring(db, pol, 24*time.Hour, clk.Now)
	signed := map[string]bool{} // signing inputs: header.payload
	for _, c := range []Claims{claimsAt(tenantA, t0, time.Hour), claimsAt(tenantA, t0.Add(-time.Minute), 2*time.Hour)} {
		raw := sign(f, kr, tenantA, c)
		signed[raw[:strings.LastIndexByte(raw, '.')]] = true
		f.Add(raw)
		f.Add(raw[:len(raw)-2])
		f.Add(strings.Replace(raw, ".", "..", 1))
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.")
	f.Fuzz(func(t *testing.T, raw string) {
		v := NewVerifier(kr, db, issuerFor, clk.Now)
		c, err := v.Verify(context.Background(), raw, aud)
		if err != nil {
			if c != nil {
				t.Fatalf("claims with error %v", err)
			}
			for _, s := range []error{ErrMalformed, ErrSignature, ErrExpired, ErrAudience, ErrIssuer} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		// Only content we signed may verify (with any valid signature: the
		// signatures of ECDSA are randomised, so fuzz workers, which are
		// separate processes, sign the same content differently).
		if signed[raw[:strings.LastIndexByte(raw, '.')]] {
			return
		}
		t.Fatalf("forged token %q verifies: %+v", raw, c)
	})
}
