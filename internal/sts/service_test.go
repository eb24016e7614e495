package sts

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

const vaultAud = "https://vault.localhost:8443"

// checkToken verifies an issued token with wif's own verifier and checks
// the claims the Azure SDKs and resource providers read.
func (f *fixture) checkToken(t *testing.T, iss Issued, audience, acr string) *token.Claims {
	t.Helper()
	c, err := f.verifier.Verify(context.Background(), iss.AccessToken, audience)
	if err != nil {
		t.Fatalf("issued token does not verify for %q: %v", audience, err)
	}
	if c.TenantID != testTenant || iss.TenantID != testTenant {
		t.Errorf("tid = %q, Issued.TenantID = %q, want %q", c.TenantID, iss.TenantID, testTenant)
	}
	if want := testPublicURL + "/" + testTenant + "/v2.0"; c.Issuer != want {
		t.Errorf("iss = %q, want %q", c.Issuer, want)
	}
	if c.AppID != testClientID || c.AZP != testClientID || c.OID != testObjectID || c.Subject != testObjectID {
		t.Errorf("appid/azp/oid/sub = %q/%q/%q/%q", c.AppID, c.AZP, c.OID, c.Subject)
	}
	if c.AppIDACR != acr || c.AZPACR != acr {
		t.Errorf("appidacr/azpacr = %q/%q, want %q", c.AppIDACR, c.AZPACR, acr)
	}
	now := f.clock.Now()
	if !iss.IssuedAt.Equal(now.Truncate(time.Second)) || !iss.ExpiresAt.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("IssuedAt %v ExpiresAt %v, want %v + 1h", iss.IssuedAt, iss.ExpiresAt, now)
	}
	if c.IDType != "app" || c.Version != "2.0" || c.UTI == "" {
		t.Errorf("idtyp/ver/uti = %q/%q/%q", c.IDType, c.Version, c.UTI)
	}
	return c
}

func TestExchangeSecret(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	iss, err := f.svc.Exchange(context.Background(), testTenant, secretRequest(vaultAud))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	f.checkToken(t, iss, vaultAud, "1")
	if n := f.keys.Calls(); n != 0 {
		t.Errorf("secret authentication fetched issuer keys %d times", n)
	}
}

func TestExchangeAssertion(t *testing.T) {
	tests := []struct {
		name string
		a    assertion
	}{
		{"RS256", assertion{}},
		{"ES256", assertion{alg: jose.ES256, key: extECKey(), kid: "ec"}},
		{"audience among several", assertion{claims: map[string]any{"aud": []string{"x", "api://AzureADTokenExchange"}}}},
		{"no nbf", assertion{claims: map[string]any{"nbf": nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			raw := mint(t, f.clock.Now(), tt.a)
			iss, err := f.svc.Exchange(context.Background(), testTenant, assertionRequest(raw, vaultAud))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			f.checkToken(t, iss, vaultAud, "2")
		})
	}
}

func TestExchangeTokenExchangeGrant(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	req := Request{Grant: GrantTokenExchange, ClientID: testClientID, Assertion: mint(t, f.clock.Now(), assertion{}), Audience: "api://x"}
	iss, err := f.svc.Exchange(context.Background(), testTenant, req)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	f.checkToken(t, iss, "api://x", "2")
}

func TestExchangeErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := f.clock.Now()
	a := func(a assertion) string { return mint(t, now, a) }
	hs256 := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign([]byte(`{"iss":"` + extIssuer + `","sub":"` + extSubject + `","aud":"api://AzureADTokenExchange","exp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := jws.CompactSerialize()
		return raw
	}
	tests := []struct {
		name   string
		tenant string
		req    Request
		code   int
		oauth  string
		descIn string
	}{
		{"unknown tenant", "00000000-0000-0000-0000-000000000000", secretRequest(vaultAud), 90002, "invalid_request", "not found"},
		{"unknown client", testTenant, Request{Grant: GrantClientCredentials, ClientID: "nobody", ClientSecret: "x", Audience: vaultAud}, 700016, "unauthorized_client", "'nobody'"},
		{"client of another tenant", otherTenant, secretRequest(vaultAud), 700016, "unauthorized_client", otherTenant},
		{"wrong secret", testTenant, Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "wrong", Audience: vaultAud}, 7000215, "invalid_client", testClientID},
		{"expired secret", testTenant, Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "expired-secret", Audience: vaultAud}, 7000215, "invalid_client", ""},
		{"malformed assertion", testTenant, assertionRequest("a.b.c", vaultAud), 50027, "invalid_request", "malformed"},
		{"not a JWT", testTenant, assertionRequest("garbage", vaultAud), 50027, "invalid_request", ""},
		{"HMAC assertion", testTenant, assertionRequest(hs256(), vaultAud), 700027, "invalid_client", "HS256"},
		{"no issuer", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iss": nil}}), vaultAud), 50027, "invalid_request", "'iss'"},
		{"self-issued", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iss": testPublicURL + "/" + testTenant + "/v2.0"}}), vaultAud), 700222, "invalid_client", "AAD-issued"},
		{"expired", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "nbf": nil, "exp": now.Add(-6 * time.Minute).Unix()}}), vaultAud), 700024, "invalid_client", "valid time range"},
		{"no exp", testTenant, assertionRequest(a(assertion{claims: map[string]any{"exp": nil}}), vaultAud), 700024, "invalid_client", ""},
		{"lifetime over 25h", testTenant, assertionRequest(a(assertion{claims: map[string]any{"exp": now.Add(25*time.Hour + time.Minute).Unix()}}), vaultAud), 70023, "invalid_request", "1.01:00:00"},
		{"issuer unknown", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iss": "https://other.test"}}), vaultAud), 700211, "invalid_client", "'https://other.test'"},
		{"issuer trailing slash", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iss": extIssuer + "/"}}), vaultAud), 700211, "invalid_client", "trailing slash"},
		{"subject mismatch", testTenant, assertionRequest(a(assertion{claims: map[string]any{"sub": "system:serviceaccount:prod:app"}}), vaultAud), 700213, "invalid_client", "namespace is 'prod'"},
		{"subject case mismatch", testTenant, assertionRequest(a(assertion{claims: map[string]any{"sub": strings.ToUpper(extSubject)}}), vaultAud), 7002138, "invalid_client", "case-insensitive"},
		{"audience mismatch", testTenant, assertionRequest(a(assertion{claims: map[string]any{"aud": "api://other"}}), vaultAud), 70021, "invalid_client", "'api://other'"},
		{"unknown kid", testTenant, assertionRequest(a(assertion{kid: "nope"}), vaultAud), 700027, "invalid_client", "'nope'"},
		{"signed by another key", testTenant, assertionRequest(a(assertion{key: strayRSAKey()}), vaultAud), 700027, "invalid_client", "signature"},
		{"ES256 header, RSA key published", testTenant, assertionRequest(a(assertion{alg: jose.ES256, key: extECKey()}), vaultAud), 700027, "invalid_client", ""},
		{"issuer keys unreachable", testTenant, assertionRequest(a(assertion{claims: map[string]any{"iss": failIssuer}}), vaultAud), 90061, "invalid_request", failIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := f.svc.Exchange(context.Background(), tt.tenant, tt.req)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Exchange = %+v, %v; want AADSTS%d", iss, err, tt.code)
			}
			if e.Code != tt.code || e.Err != tt.oauth {
				t.Errorf("got AADSTS%d %s, want AADSTS%d %s (%s)", e.Code, e.Err, tt.code, tt.oauth, e.Desc)
			}
			if !strings.Contains(e.Desc, tt.descIn) {
				t.Errorf("Desc %q does not contain %q", e.Desc, tt.descIn)
			}
			if iss.AccessToken != "" {
				t.Errorf("token issued with an error")
			}
		})
	}
}

// TestExchangeMismatchFetchesNoKeys: an assertion whose issuer no
// credential names, or that fails the cheap checks, is rejected before any
// key lookup (no SSRF or amplification). A mismatch under a configured
// issuer looks up only that configured issuer's keys, to authenticate the
// hint.
func TestExchangeMismatchFetchesNoKeys(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, claims := range []map[string]any{
		{"iss": "https://attacker.test"},
		{"iss": "https://attacker.test/", "sub": "nobody"},
		{"iss": "https://oidc.cluster.test/abcd"},
		{"exp": f.clock.Now().Add(-time.Hour).Unix(), "iat": f.clock.Now().Add(-2 * time.Hour).Unix()},
	} {
		raw := mint(t, f.clock.Now(), assertion{claims: claims})
		if _, err := f.svc.Exchange(context.Background(), testTenant, assertionRequest(raw, vaultAud)); err == nil {
			t.Fatalf("claims %v accepted", claims)
		}
	}
	if n := f.keys.Calls(); n != 0 {
		t.Errorf("rejected assertions caused %d key lookups, want 0", n)
	}
	for _, claims := range []map[string]any{
		{"sub": "nobody"},
		{"aud": "nobody"},
		{"iss": extIssuer + "/"},
		{"iss": strings.ToUpper(extIssuer)},
	} {
		raw := mint(t, f.clock.Now(), assertion{claims: claims})
		if _, err := f.svc.Exchange(context.Background(), testTenant, assertionRequest(raw, vaultAud)); err == nil {
			t.Fatalf("claims %v accepted", claims)
		}
	}
	for _, iss := range f.keys.Issuers() {
		if iss != extIssuer && iss != extIssuer+"/" {
			t.Errorf("looked up keys of %q, which no credential names", iss)
		}
	}
}

// TestExchangeMismatchHint: the closest-credential hint (which names
// configured credentials, subjects and audiences) is given only to an
// assertion whose signature verifies against a configured issuer's keys.
// Everyone else learns the presented values and the code, as from Entra.
func TestExchangeMismatchHint(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	now := f.clock.Now()
	forge := func(a assertion) string {
		parts := strings.Split(mint(t, now, a), ".")
		return parts[0] + "." + parts[1] + ".AAAA"
	}
	// Configured values no unauthenticated caller may read.
	secrets := []string{"k8s-app", "k8s-custom-aud", "unreachable", extSubject, "api://custom", "system:serviceaccount:default:custom", "Closest"}
	tests := []struct {
		name    string
		raw     string
		code    int
		hint    string // "" for none
		present []string
	}{
		{"signed, other namespace", mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:prod:app"}}), 700213, "namespace is 'prod'", nil},
		{"signed, trailing slash", mint(t, now, assertion{claims: map[string]any{"iss": extIssuer + "/"}}), 700211, "trailing slash", nil},
		{"signed, audience", mint(t, now, assertion{claims: map[string]any{"sub": "system:serviceaccount:default:custom", "aud": "api://other"}}), 70021, "expects 'api://custom'", nil},
		{"forged, other namespace", forge(assertion{claims: map[string]any{"sub": "system:serviceaccount:prod:app"}}), 700213, "",
			[]string{extIssuer, "system:serviceaccount:prod:app", "api://AzureADTokenExchange"}},
		{"forged, audience", forge(assertion{claims: map[string]any{"sub": "system:serviceaccount:default:custom", "aud": "api://other"}}), 70021, "",
			[]string{"'api://other'", "system:serviceaccount:default:custom"}},
		{"forged, trailing slash", forge(assertion{claims: map[string]any{"iss": extIssuer + "/", "sub": "x"}}), 700211, "", []string{extIssuer + "/", "'x'"}},
		{"forged, subject case", forge(assertion{claims: map[string]any{"sub": strings.ToUpper(extSubject)}}), 7002138, "", []string{strings.ToUpper(extSubject)}},
		{"other key, right kid", mint(t, now, assertion{key: strayRSAKey(), claims: map[string]any{"sub": "system:serviceaccount:prod:app"}}), 700213, "", nil},
		{"unknown kid", mint(t, now, assertion{kid: "nope", claims: map[string]any{"sub": "system:serviceaccount:prod:app"}}), 700213, "", nil},
		{"unrelated issuer", mint(t, now, assertion{claims: map[string]any{"iss": "https://attacker.test"}}), 700211, "", []string{"https://attacker.test", extSubject}},
		{"keys unreachable", mint(t, now, assertion{claims: map[string]any{"iss": failIssuer, "sub": "x"}}), 700213, "", []string{failIssuer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Exchange(context.Background(), testTenant, assertionRequest(tt.raw, vaultAud))
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want AADSTS%d", err, tt.code)
			}
			for _, p := range tt.present {
				if !strings.Contains(e.Desc, p) {
					t.Errorf("Desc %q does not name the presented %q", e.Desc, p)
				}
			}
			if tt.hint != "" {
				if !strings.Contains(e.Desc, "Closest match: ") || !strings.Contains(e.Desc, tt.hint) {
					t.Errorf("Desc %q lacks the hint %q", e.Desc, tt.hint)
				}
				return
			}
			for _, s := range secrets {
				if strings.Contains(e.Desc, s) && !strings.Contains(strings.Join(tt.present, " "), s) {
					t.Errorf("Desc %q discloses %q", e.Desc, s)
				}
			}
		})
	}
}

// TestExchangeFetchErrorSaysLittle: a failed fetch discloses nothing
// beyond the issuer the caller presented.
func TestExchangeFetchErrorSaysLittle(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	raw := mint(t, f.clock.Now(), assertion{claims: map[string]any{"iss": failIssuer}})
	_, err := f.svc.Exchange(context.Background(), testTenant, assertionRequest(raw, vaultAud))
	var e *Error
	if !errors.As(err, &e) || e.Code != 90061 {
		t.Fatalf("err = %v, want AADSTS90061", err)
	}
	if !strings.Contains(e.Desc, "'"+failIssuer+"'") {
		t.Errorf("Desc %q does not name the issuer", e.Desc)
	}
	for _, s := range []string{"500", "JSON", "fetched.example", "does not match", "oidc:"} {
		if strings.Contains(e.Desc, s) {
			t.Errorf("Desc %q discloses %q", e.Desc, s)
		}
	}
}

func TestExchangeTenantAlias(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, alias := range []string{"adfs", "ADFS", "common", "organizations"} {
		t.Run(alias, func(t *testing.T) {
			iss, err := f.svc.Exchange(context.Background(), alias, secretRequest(vaultAud))
			if err != nil {
				t.Fatalf("Exchange at %s: %v", alias, err)
			}
			f.checkToken(t, iss, vaultAud, "1")
		})
	}
	t.Run("adfs with assertion", func(t *testing.T) {
		raw := mint(t, f.clock.Now(), assertion{})
		iss, err := f.svc.Exchange(context.Background(), "adfs", assertionRequest(raw, vaultAud))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		f.checkToken(t, iss, vaultAud, "2")
	})
	t.Run("adfs, unknown client", func(t *testing.T) {
		_, err := f.svc.Exchange(context.Background(), "adfs", Request{Grant: GrantClientCredentials, ClientID: "nobody", ClientSecret: "x", Audience: vaultAud})
		var e *Error
		if !errors.As(err, &e) || e.Code != 700016 {
			t.Fatalf("err = %v, want AADSTS700016", err)
		}
	})
}

// TestExchangeTenantCase: tenant ids are GUIDs and case-insensitive; a
// client configured with an upper-case tenant id must get a token.
func TestExchangeTenantCase(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	iss, err := f.svc.Exchange(context.Background(), strings.ToUpper(testTenant), secretRequest(vaultAud))
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == 700016 {
			t.Fatalf("upper-case tenant id in the path is rejected: %v", err)
		}
		t.Fatalf("Exchange: %v", err)
	}
	f.checkToken(t, iss, vaultAud, "1")
}

func TestExchangeTokenReuse(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: func(c *Config) { c.TokenReuse = true }})
	ctx := context.Background()
	ex := func(req Request) Issued {
		t.Helper()
		iss, err := f.svc.Exchange(ctx, testTenant, req)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		return iss
	}
	first := ex(secretRequest(vaultAud))
	f.clock.Advance(time.Minute)
	if again := ex(secretRequest(vaultAud)); again != first {
		t.Errorf("within the reuse window a new token was minted")
	}
	if other := ex(secretRequest("https://storage.localhost")); other.AccessToken == first.AccessToken {
		t.Errorf("token reused for another audience")
	}
	if byAssertion := ex(assertionRequest(mint(t, f.clock.Now(), assertion{}), vaultAud)); byAssertion.AccessToken == first.AccessToken {
		t.Errorf("token reused across authentication methods")
	}
	// A wrong secret is still rejected while a token is cached.
	if _, err := f.svc.Exchange(ctx, testTenant, Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "wrong", Audience: vaultAud}); err == nil {
		t.Errorf("cached token handed out for a wrong secret")
	}
	f.clock.Advance(4*time.Minute - time.Second) // 4:59 after the first
	if again := ex(secretRequest(vaultAud)); again != first {
		t.Errorf("token not reused just inside the window")
	}
	f.clock.Advance(time.Second) // 5:00: the window is over
	fresh := ex(secretRequest(vaultAud))
	if fresh.AccessToken == first.AccessToken {
		t.Fatalf("token reused after the window")
	}
	f.checkToken(t, fresh, vaultAud, "1")
	if !fresh.IssuedAt.Equal(f.clock.Now()) {
		t.Errorf("fresh IssuedAt = %v, want %v", fresh.IssuedAt, f.clock.Now())
	}
}

func TestExchangeNoReuseByDefault(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	a, err := f.svc.Exchange(context.Background(), testTenant, secretRequest(vaultAud))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.Exchange(context.Background(), testTenant, secretRequest(vaultAud))
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessToken == b.AccessToken {
		t.Errorf("TokenReuse off, yet the same token was returned twice")
	}
}

func TestDirectoryInvalidation(t *testing.T) {
	f := newFixture(t, fixtureOpts{dirTTL: time.Minute})
	ctx := context.Background()
	exchange := func(sub string) error {
		raw := mint(t, f.clock.Now(), assertion{claims: map[string]any{"sub": sub}})
		_, err := f.svc.Exchange(ctx, testTenant, assertionRequest(raw, vaultAud))
		return err
	}
	wantCode := func(err error, code int) {
		t.Helper()
		var e *Error
		if code == 0 {
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			return
		}
		if !errors.As(err, &e) || e.Code != code {
			t.Fatalf("err = %v, want AADSTS%d", err, code)
		}
	}

	// Without Invalidate the new credential appears after the TTL.
	const subA = "system:serviceaccount:team-a:app"
	wantCode(exchange(subA), 700213)
	addFIC(t, f.db, "team-a", extIssuer, subA, "")
	wantCode(exchange(subA), 700213) // cached
	f.clock.Advance(time.Minute - time.Second)
	wantCode(exchange(subA), 700213) // still cached
	f.clock.Advance(time.Second)
	wantCode(exchange(subA), 0)

	// With Invalidate it appears at once.
	const subB = "system:serviceaccount:team-b:app"
	wantCode(exchange(subB), 700213)
	addFIC(t, f.db, "team-b", extIssuer, subB, "")
	wantCode(exchange(subB), 700213)
	f.dir.Invalidate()
	wantCode(exchange(subB), 0)

	// Deletion is seen the same way.
	if err := f.db.DeleteFederatedCredential(ctx, testObjectID, "team-b"); err != nil {
		t.Fatal(err)
	}
	wantCode(exchange(subB), 0) // cached
	f.dir.Invalidate()
	wantCode(exchange(subB), 700213)

	// Wired to the store's change notifications, writes are seen at once.
	f.db.OnChange(f.dir.Invalidate)
	const subC = "system:serviceaccount:team-c:app"
	wantCode(exchange(subC), 700213)
	addFIC(t, f.db, "team-c", extIssuer, subC, "")
	wantCode(exchange(subC), 0)
}

func TestDirectoryCachesMisses(t *testing.T) {
	f := newFixture(t, fixtureOpts{dirTTL: time.Minute})
	ctx := context.Background()
	const (
		newTenant = "44444444-4444-4444-8444-444444444444"
		newClient = "55555555-5555-4555-8555-555555555555"
	)
	if ok, err := f.dir.TenantExists(ctx, newTenant); err != nil || ok {
		t.Fatalf("TenantExists = %v, %v; want false", ok, err)
	}
	if _, err := f.dir.Client(ctx, newClient); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Client = %v, want ErrNotFound", err)
	}
	if err := f.db.CreateTenant(ctx, store.Tenant{ID: newTenant}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreatePrincipal(ctx, store.Principal{ObjectID: "66666666-6666-4666-8666-666666666666", ClientID: newClient, TenantID: newTenant}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.dir.TenantExists(ctx, newTenant); ok {
		t.Errorf("tenant miss not cached")
	}
	if _, err := f.dir.Client(ctx, newClient); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client miss not cached: %v", err)
	}
	f.clock.Advance(time.Minute)
	if ok, err := f.dir.TenantExists(ctx, newTenant); err != nil || !ok {
		t.Errorf("after TTL TenantExists = %v, %v; want true", ok, err)
	}
	if c, err := f.dir.Client(ctx, newClient); err != nil || c.Principal.TenantID != newTenant {
		t.Errorf("after TTL Client = %+v, %v", c, err)
	}
}

// TestExchangeConcurrent runs exchanges in parallel (run with -race): the
// directory, the reuse cache and the keyring are shared.
func TestExchangeConcurrent(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: func(c *Config) { c.TokenReuse = true }})
	raws := mintMany(t, f.clock.Now(), 16)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for j := range 4 {
				req := secretRequest("https://r" + strconv.Itoa(j%2))
				if j == 3 {
					req = assertionRequest(raws[2*i], vaultAud)
				}
				if _, err := f.svc.Exchange(context.Background(), testTenant, req); err != nil {
					errs <- err
				}
				if j == 1 {
					f.dir.Invalidate()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDirectoryStoredCredentials: credentials are read from the store as
// stored; expression credentials match by claims, credentials stored before
// a rule tightened still match, and an expression that no longer parses
// matches nothing without hiding the others.
func TestDirectoryStoredCredentials(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	put := func(fc store.FederatedCredential) {
		t.Helper()
		fc.PrincipalID, fc.CreatedAt = testObjectID, t0
		if fc.Audience == "" {
			fc.Audience = "api://AzureADTokenExchange"
		}
		if _, _, err := f.db.PutFederatedCredential(ctx, fc, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(store.FederatedCredential{Name: "team-wildcard", Issuer: extIssuer, Expression: "claims['sub'] matches 'system:serviceaccount:team-*:app'"})
	put(store.FederatedCredential{Name: "x", Issuer: extIssuer, Subject: "system:serviceaccount:legacy:app"}) // name too short today
	put(store.FederatedCredential{Name: "broken-expr", Issuer: extIssuer, Expression: "claims['sub'] == 'system:serviceaccount:broken:app'"})
	f.dir.Invalidate()

	tests := []struct {
		sub  string
		code int
	}{
		{"system:serviceaccount:team-blue:app", 0},
		{"system:serviceaccount:legacy:app", 0},
		{extSubject, 0},
		{"system:serviceaccount:broken:app", 700213},
		{"system:serviceaccount:team-blue:web", 700213},
	}
	for _, tt := range tests {
		raw := mint(t, f.clock.Now(), assertion{claims: map[string]any{"sub": tt.sub}})
		_, err := f.svc.Exchange(ctx, testTenant, assertionRequest(raw, vaultAud))
		var e *Error
		switch {
		case tt.code == 0 && err != nil:
			t.Errorf("sub %s: %v", tt.sub, err)
		case tt.code != 0 && (!errors.As(err, &e) || e.Code != tt.code):
			t.Errorf("sub %s: err = %v, want AADSTS%d", tt.sub, err, tt.code)
		}
	}
}
