package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustKey(t *testing.T, ks *KeySets, iss, kid string) crypto.PublicKey {
	t.Helper()
	key, err := ks.Key(context.Background(), iss, kid)
	if err != nil {
		t.Fatalf("Key(%q, %q): %v", iss, kid, err)
	}
	return key
}

func samePub(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func TestKeyCached(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &r[0].PublicKey, use: "sig", alg: "RS256"}, jwk{kid: "b", key: &ecKey().PublicKey}))
	c := newClock()
	ks := newTestKeySets(f, c, nil)

	for range 5 {
		if got := mustKey(t, ks, f.URL(), "a"); !samePub(got, &r[0].PublicKey) {
			t.Fatalf("Key(a) = %T, want the RSA key", got)
		}
		if got := mustKey(t, ks, f.URL(), "b"); !samePub(got, &ecKey().PublicKey) {
			t.Fatalf("Key(b) = %T, want the EC key", got)
		}
		c.Advance(time.Minute) // default TTL is 5m
	}
	if got := f.discoveryHits.Load() + f.jwksHits.Load(); got != 2 {
		t.Errorf("requests = %d, want 2 (one discovery, one JWKS)", got)
	}
	st := ks.Stats(f.URL())
	if st.Fetches != 1 || st.Keys != 2 || st.LastError != nil {
		t.Errorf("Stats = %+v, want 1 fetch, 2 keys, no error", st)
	}
	if got, want := st.Expires, newClock().Now().Add(DefaultKeyTTL); !got.Equal(want) {
		t.Errorf("Expires = %v, want %v", got, want)
	}
}

func TestRotationAfterTTL(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "old", key: &r[0].PublicKey}))
	f.set(func(f *fakeIssuer) { f.cacheControl = "public, max-age=120" })
	c := newClock()
	ks := newTestKeySets(f, c, nil)

	mustKey(t, ks, f.URL(), "old")
	f.set(func(f *fakeIssuer) { f.jwks = jwksJSON(t, jwk{kid: "new", key: &r[1].PublicKey}) })

	c.Advance(119 * time.Second)
	mustKey(t, ks, f.URL(), "old") // still fresh: no fetch
	if got := ks.Stats(f.URL()).Fetches; got != 1 {
		t.Fatalf("fetches within TTL = %d, want 1", got)
	}

	c.Advance(2 * time.Second) // stale: the next lookup refreshes
	if _, err := ks.Key(context.Background(), f.URL(), "old"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Key(old) after rotation: err = %v, want ErrKeyNotFound", err)
	}
	if got := mustKey(t, ks, f.URL(), "new"); !samePub(got, &r[1].PublicKey) {
		t.Fatal("Key(new) returned the wrong key")
	}
	if got := ks.Stats(f.URL()).Fetches; got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

func TestRotationUnknownKID(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "old", key: &r[0].PublicKey}))
	c := newClock()
	ks := newTestKeySets(f, c, nil)

	mustKey(t, ks, f.URL(), "old")
	f.set(func(f *fakeIssuer) {
		f.jwks = jwksJSON(t, jwk{kid: "old", key: &r[0].PublicKey}, jwk{kid: "new", key: &r[1].PublicKey})
	})
	c.Advance(time.Second) // well within the TTL
	if got := mustKey(t, ks, f.URL(), "new"); !samePub(got, &r[1].PublicKey) {
		t.Fatal("Key(new) returned the wrong key")
	}
	if got := ks.Stats(f.URL()).Fetches; got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

func TestUnknownKIDFlood(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &r[0].PublicKey}))
	f.set(func(f *fakeIssuer) { f.cacheControl = "max-age=86400" })
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	mustKey(t, ks, f.URL(), "a")

	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				_, err := ks.Key(context.Background(), f.URL(), kidN(i%7))
				if !errors.Is(err, ErrKeyNotFound) {
					t.Errorf("Key(unknown): err = %v, want ErrKeyNotFound", err)
				}
			})
		}
		wg.Wait()
	}

	steps := []struct {
		advance     time.Duration
		wantFetches int
	}{
		{0, 2},                // the first unknown kid may refetch once
		{10 * time.Second, 2}, // within the interval: none
		{20 * time.Second, 3}, // 30s after the refetch: one more
		{29 * time.Second, 3}, // within the interval again
		{time.Second, 4},      // and one more
		{time.Millisecond, 4}, // …
		{time.Hour, 5},        // long pause: one
		{DefaultUnknownKIDInterval - time.Nanosecond, 5},
	}
	for i, s := range steps {
		c.Advance(s.advance)
		flood()
		if got := ks.Stats(f.URL()).Fetches; got != s.wantFetches {
			t.Fatalf("step %d: fetches = %d, want %d", i, got, s.wantFetches)
		}
	}
	if got := f.jwksHits.Load(); got != 5 {
		t.Errorf("JWKS requests = %d, want 5", got)
	}
	mustKey(t, ks, f.URL(), "a") // known keys are unaffected
}

func TestOutageKeepsKeys(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &r[0].PublicKey}))
	f.set(func(f *fakeIssuer) { f.cacheControl = "max-age=60" })
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	mustKey(t, ks, f.URL(), "a")

	f.set(func(f *fakeIssuer) { f.discoveryStatus = http.StatusServiceUnavailable })
	c.Advance(10 * time.Minute) // far past the TTL

	mustKey(t, ks, f.URL(), "a") // refresh fails, stale key served
	st := ks.Stats(f.URL())
	if st.Fetches != 2 || st.Failures != 1 || !errors.Is(st.LastError, ErrFetch) {
		t.Fatalf("Stats = %+v, want 2 fetches, 1 failure, LastError ErrFetch", st)
	}

	// During the back-off: no network, stale key still served, unknown kids fail with both sentinels.
	mustKey(t, ks, f.URL(), "a")
	_, err := ks.Key(context.Background(), f.URL(), "zzz")
	if !errors.Is(err, ErrKeyNotFound) || !errors.Is(err, ErrFetch) {
		t.Errorf("Key(unknown) during outage: err = %v, want ErrKeyNotFound and ErrFetch", err)
	}
	if got := ks.Stats(f.URL()).Fetches; got != 2 {
		t.Fatalf("fetches during back-off = %d, want 2", got)
	}

	c.Advance(DefaultUnknownKIDInterval)
	mustKey(t, ks, f.URL(), "a") // retried, failed again, still served
	if got := ks.Stats(f.URL()).Fetches; got != 3 {
		t.Fatalf("fetches after back-off = %d, want 3", got)
	}

	f.set(func(f *fakeIssuer) {
		f.discoveryStatus = http.StatusOK
		f.jwks = jwksJSON(t, jwk{kid: "b", key: &r[1].PublicKey})
	})
	c.Advance(DefaultUnknownKIDInterval)
	mustKey(t, ks, f.URL(), "b")
	if st := ks.Stats(f.URL()); st.LastError != nil || st.Fetches != 4 {
		t.Errorf("Stats after recovery = %+v, want 4 fetches and no error", st)
	}
}

func TestFailedFirstFetchIsCached(t *testing.T) {
	f := newFakeIssuer(t, nil)
	f.set(func(f *fakeIssuer) { f.discoveryStatus = http.StatusInternalServerError })
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	for range 10 {
		if _, err := ks.Key(context.Background(), f.URL(), "a"); !errors.Is(err, ErrFetch) {
			t.Fatalf("err = %v, want ErrFetch", err)
		}
	}
	if got := f.discoveryHits.Load(); got != 1 {
		t.Errorf("discovery requests = %d, want 1 (failure is cached for the back-off)", got)
	}
	f.set(func(f *fakeIssuer) {
		f.discoveryStatus = http.StatusOK
		f.jwks = jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey})
	})
	c.Advance(DefaultUnknownKIDInterval)
	mustKey(t, ks, f.URL(), "a")
}

func TestConcurrentFirstLookup(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	gate := make(chan struct{})
	f.set(func(f *fakeIssuer) { f.gate = gate })
	ks := newTestKeySets(f, newClock(), nil)

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, err := ks.Key(context.Background(), f.URL(), "a"); err != nil {
				t.Errorf("Key: %v", err)
			}
		})
	}
	for f.jwksHits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others pile up behind the flight
	close(gate)
	wg.Wait()
	if d, j := f.discoveryHits.Load(), f.jwksHits.Load(); d != 1 || j != 1 {
		t.Errorf("requests: discovery %d, JWKS %d; want 1 each", d, j)
	}
}

func TestCancelledCallerDoesNotCancelFlight(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	gate := make(chan struct{})
	f.set(func(f *fakeIssuer) { f.gate = gate })
	ks := newTestKeySets(f, newClock(), nil)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := ks.Key(ctx, f.URL(), "a")
		first <- err
	}()
	for f.jwksHits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := ks.Key(context.Background(), f.URL(), "a")
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v", err)
	}
	if got := ks.Stats(f.URL()).Fetches; got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func TestTimeout(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	gate := make(chan struct{}) // never closed
	f.set(func(f *fakeIssuer) { f.gate = gate })
	ks := newTestKeySets(f, newClock(), func(c *KeySetsConfig) { c.Timeout = 50 * time.Millisecond })
	start := time.Now()
	_, err := ks.Key(context.Background(), f.URL(), "a")
	if !errors.Is(err, ErrFetch) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrFetch and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Key took %v despite a 50ms timeout", d)
	}
}

func TestFetchErrors(t *testing.T) {
	good := jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey})
	big := `{"keys":[` + strings.Repeat(`{"kty":"oct","k":"AAAA"},`, 50000) + `{"kty":"oct","k":"AAAA"}]}`
	tests := []struct {
		name string
		mod  func(f *fakeIssuer)
	}{
		{"discovery 500", func(f *fakeIssuer) { f.discoveryStatus = 500 }},
		{"discovery 404", func(f *fakeIssuer) { f.discoveryStatus = 404 }},
		{"JWKS 500", func(f *fakeIssuer) { f.jwksStatus = 500 }},
		{"JWKS 302", func(f *fakeIssuer) { f.jwksStatus = 302 }},
		{"garbage JWKS", func(f *fakeIssuer) { f.jwks = []byte("<html>not json</html>") }},
		{"truncated JWKS", func(f *fakeIssuer) { f.jwks = good[:len(good)/2] }},
		{"JWKS without keys", func(f *fakeIssuer) { f.jwks = []byte(`{"kids":[]}`) }},
		{"JWKS array", func(f *fakeIssuer) { f.jwks = []byte(`[]`) }},
		{"oversize JWKS", func(f *fakeIssuer) { f.jwks = []byte(big) }},
		{"garbage discovery", func(f *fakeIssuer) { f.discoveryBody = []byte("{") }},
		{"oversize discovery", func(f *fakeIssuer) {
			f.discoveryBody = []byte(`{"x":"` + strings.Repeat("a", 2<<20) + `"}`)
		}},
		{"wrong discovery issuer", func(f *fakeIssuer) { f.issuerOverride = "https://evil.example" }},
		{"discovery issuer with trailing slash", func(f *fakeIssuer) { f.issuerOverride = f.srv.URL + "/" }},
		{"http jwks_uri", func(f *fakeIssuer) { f.jwksURIOverride = strings.Replace(f.srv.URL, "https:", "http:", 1) + "/jwks" }},
		{"relative jwks_uri", func(f *fakeIssuer) { f.jwksURIOverride = "/jwks" }},
		{"missing jwks_uri", func(f *fakeIssuer) { f.discoveryBody = []byte(`{"issuer":"` + f.srv.URL + `"}`) }},
		{"file jwks_uri", func(f *fakeIssuer) { f.jwksURIOverride = "file:///etc/passwd" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIssuer(t, good)
			f.set(tt.mod)
			ks := newTestKeySets(f, newClock(), nil)
			_, err := ks.Key(context.Background(), f.URL(), "a")
			if !errors.Is(err, ErrFetch) {
				t.Fatalf("err = %v, want ErrFetch", err)
			}
			if errors.Is(err, ErrKeyNotFound) {
				t.Errorf("err = %v, must not be ErrKeyNotFound", err)
			}
			if st := ks.Stats(f.URL()); !errors.Is(st.LastError, ErrFetch) || st.Failures != 1 {
				t.Errorf("Stats = %+v, want one failure recorded", st)
			}
		})
	}
}

func TestUnreachableIssuer(t *testing.T) {
	f := newFakeIssuer(t, nil)
	iss := f.URL()
	f.srv.Close()
	ks := newTestKeySets(f, newClock(), nil)
	if _, err := ks.Key(context.Background(), iss, "a"); !errors.Is(err, ErrFetch) {
		t.Errorf("err = %v, want ErrFetch", err)
	}
}

func TestInvalidIssuer(t *testing.T) {
	f := newFakeIssuer(t, nil)
	ks := newTestKeySets(f, newClock(), nil)
	for _, iss := range []string{
		"",
		"issuer",
		"http://" + strings.TrimPrefix(f.URL(), "https://"),
		"ftp://example.com",
		"https://",
		f.URL() + "?tenant=1",
		f.URL() + "#frag",
		"https://user@" + strings.TrimPrefix(f.URL(), "https://"),
		"https://exa mple.com",
	} {
		if _, err := ks.Key(context.Background(), iss, "a"); !errors.Is(err, ErrFetch) {
			t.Errorf("Key(%q): err = %v, want ErrFetch", iss, err)
		}
		if st := ks.Stats(iss); st != (IssuerStats{}) {
			t.Errorf("Key(%q) cached the issuer: %+v", iss, st)
		}
	}
	if got := f.discoveryHits.Load(); got != 0 {
		t.Errorf("discovery requests = %d, want 0", got)
	}
}

func TestAllowHTTP(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	plain := http.Server{Handler: http.HandlerFunc(f.serve)}
	// Serve the same handler over plain HTTP on another listener.
	ln := newLoopbackListener(t)
	go plain.Serve(ln)
	t.Cleanup(func() { plain.Close() })
	iss := "http://" + ln.Addr().String()
	f.set(func(f *fakeIssuer) {
		f.issuerOverride = iss
		f.jwksURIOverride = iss + "/jwks"
	})

	ks := NewKeySets(KeySetsConfig{Client: http.DefaultClient, Now: newClock().Now, AllowHTTP: true})
	mustKey(t, ks, iss, "a")

	strict := NewKeySets(KeySetsConfig{Client: http.DefaultClient, Now: newClock().Now})
	if _, err := strict.Key(context.Background(), iss, "a"); !errors.Is(err, ErrFetch) {
		t.Errorf("without AllowHTTP: err = %v, want ErrFetch", err)
	}
}

func TestTrailingSlashIssuer(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	iss := f.URL() + "/"
	f.set(func(f *fakeIssuer) { f.issuerOverride = iss; f.jwksURIOverride = f.srv.URL + "/jwks" })
	ks := newTestKeySets(f, newClock(), nil)
	mustKey(t, ks, iss, "a")
	// Without the slash the discovery document's issuer does not match.
	if _, err := ks.Key(context.Background(), f.URL(), "a"); !errors.Is(err, ErrFetch) {
		t.Errorf("Key(no slash): err = %v, want ErrFetch", err)
	}
}

func TestIssuerWithPath(t *testing.T) {
	r := rsaKeys()
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &r[2].PublicKey}))
	ks := newTestKeySets(f, newClock(), nil)
	if got := mustKey(t, ks, f.URL()+"/tenants/t1/v2.0", "a"); !samePub(got, &r[2].PublicKey) {
		t.Error("wrong key")
	}
}

func TestMaxKeys(t *testing.T) {
	keys := make([]jwk, 150)
	for i := range keys {
		keys[i] = jwk{kid: kidN(i), key: &ecKey().PublicKey}
	}
	f := newFakeIssuer(t, jwksJSON(t, keys...))
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	mustKey(t, ks, f.URL(), "k0")
	mustKey(t, ks, f.URL(), "k99")
	if _, err := ks.Key(context.Background(), f.URL(), "k100"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Key(k100): err = %v, want ErrKeyNotFound", err)
	}
	if got := ks.Stats(f.URL()).Keys; got != DefaultMaxKeys {
		t.Errorf("keys = %d, want %d", got, DefaultMaxKeys)
	}

	small := newTestKeySets(f, c, func(c *KeySetsConfig) { c.MaxKeys = 3 })
	mustKey(t, small, f.URL(), "k2")
	if got := small.Stats(f.URL()).Keys; got != 3 {
		t.Errorf("MaxKeys 3: keys = %d", got)
	}
}

func TestKeyFiltering(t *testing.T) {
	r := rsaKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	entries := []string{
		`{"kty":"RSA","kid":"enc","use":"enc","n":"` + b64n(&r[1].PublicKey) + `","e":"AQAB"}`,
		`{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`,
		`{"kty":"RSA","kid":"broken","n":"!!!","e":"AQAB"}`,
		`{"kty":"RSA","kid":"noexp","n":"` + b64n(&r[1].PublicKey) + `"}`,
		`{"kty":"RSA","kid":"weird-alg","alg":"ES256","n":"` + b64n(&r[1].PublicKey) + `","e":"AQAB"}`,
		`{"kty":"RSA","kid":"rsa-oaep","alg":"RSA-OAEP","n":"` + b64n(&r[1].PublicKey) + `","e":"AQAB"}`,
		`{"kty":"RSA","kid":"short","n":"` + b64n(&small.PublicKey) + `","e":"AQAB"}`,
		`{"kty":"RSA","kid":"private","n":"` + b64n(&r[1].PublicKey) + `","e":"AQAB","d":"AQAB"}`,
		string(jwksEntry(t, jwk{kid: "p521", key: &p521.PublicKey})),
		`"not an object"`,
		`{"kty":"XYZ","kid":"unknown-kty"}`,
		string(jwksEntry(t, jwk{kid: "good", key: &r[0].PublicKey, use: "sig", alg: "RS256"})),
		string(jwksEntry(t, jwk{kid: "good", key: &r[1].PublicKey})), // duplicate kid: first wins
	}
	f := newFakeIssuer(t, []byte(`{"keys":[`+strings.Join(entries, ",")+`]}`))
	ks := newTestKeySets(f, newClock(), nil)

	if got := mustKey(t, ks, f.URL(), "good"); !samePub(got, &r[0].PublicKey) {
		t.Error("Key(good) is not the first key with that kid")
	}
	// The set has exactly one usable key, so an empty kid selects it.
	if got := mustKey(t, ks, f.URL(), ""); !samePub(got, &r[0].PublicKey) {
		t.Error(`Key("") is not the only usable key`)
	}
	for _, kid := range []string{"enc", "hmac", "broken", "noexp", "weird-alg", "rsa-oaep", "short", "private", "p521", "unknown-kty"} {
		if _, err := ks.Key(context.Background(), f.URL(), kid); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("Key(%q): err = %v, want ErrKeyNotFound", kid, err)
		}
	}
	if got := ks.Stats(f.URL()).Keys; got != 1 {
		t.Errorf("keys = %d, want 1", got)
	}
}

func TestEmptyKIDWithSeveralKeys(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}, jwk{kid: "b", key: &ec384Key().PublicKey}))
	ks := newTestKeySets(f, newClock(), nil)
	if _, err := ks.Key(context.Background(), f.URL(), ""); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("err = %v, want ErrKeyNotFound", err)
	}

	one := newFakeIssuer(t, jwksJSON(t, jwk{key: edKey().Public()}))
	ks = newTestKeySets(one, newClock(), nil)
	if got := mustKey(t, ks, one.URL(), ""); !samePub(got, edKey().Public()) {
		t.Error("wrong key for an empty kid")
	}
}

func TestLRUEviction(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	c := newClock()
	ks := newTestKeySets(f, c, func(c *KeySetsConfig) { c.MaxIssuers = 2 })
	a, b, d := f.URL()+"/a", f.URL()+"/b", f.URL()+"/d"
	mustKey(t, ks, a, "a")
	c.Advance(time.Second)
	mustKey(t, ks, b, "a")
	c.Advance(time.Second)
	mustKey(t, ks, a, "a") // a is now the most recently used
	c.Advance(time.Second)
	mustKey(t, ks, d, "a") // evicts b

	got := map[string]int{}
	for _, iss := range []string{a, b, d} {
		got[iss] = ks.Stats(iss).Fetches
	}
	want := map[string]int{a: 1, b: 0, d: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fetches per issuer (-want +got):\n%s", diff)
	}
}

func TestCacheTTL(t *testing.T) {
	const def, lo, hi = 5 * time.Minute, time.Minute, 24 * time.Hour
	tests := []struct {
		values []string
		want   time.Duration
	}{
		{nil, def},
		{[]string{""}, def},
		{[]string{"max-age=600"}, 10 * time.Minute},
		{[]string{"public, max-age=3600, must-revalidate"}, time.Hour},
		{[]string{"public", "Max-Age=120"}, 2 * time.Minute},
		{[]string{`max-age="300"`}, 5 * time.Minute},
		{[]string{"max-age=1"}, lo},
		{[]string{"max-age=0"}, lo},
		{[]string{"max-age=31536000"}, hi},
		{[]string{"max-age=99999999999999999999999"}, def},
		{[]string{"max-age=-5"}, def},
		{[]string{"max-age=abc"}, def},
		{[]string{"no-store"}, lo},
		{[]string{"max-age=600, no-cache"}, lo},
		{[]string{"private, NO-CACHE"}, lo},
	}
	for _, tt := range tests {
		if got := cacheTTL(tt.values, def, lo, hi); got != tt.want {
			t.Errorf("cacheTTL(%q) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestNoStoreUsesMinTTL(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	f.set(func(f *fakeIssuer) { f.cacheControl = "no-store" })
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	mustKey(t, ks, f.URL(), "a")
	c.Advance(59 * time.Second)
	mustKey(t, ks, f.URL(), "a")
	c.Advance(2 * time.Second)
	mustKey(t, ks, f.URL(), "a")
	if got := ks.Stats(f.URL()).Fetches; got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

// TestLateJoinerDoesNotRefetch covers a caller that decided to fetch, then
// was overtaken by another caller's completed fetch: it must not fetch again.
func TestLateJoinerDoesNotRefetch(t *testing.T) {
	f := newFakeIssuer(t, jwksJSON(t, jwk{kid: "a", key: &ecKey().PublicKey}))
	c := newClock()
	ks := newTestKeySets(f, c, nil)
	var calls atomic.Int32
	release := make(chan struct{})
	ks.testHookBeforeFlight = func() {
		if calls.Add(1) == 2 {
			<-release
		}
	}
	mustKey(t, ks, f.URL(), "a") // hook call 1
	c.Advance(time.Hour)         // stale

	late := make(chan error, 1)
	go func() {
		_, err := ks.Key(context.Background(), f.URL(), "a") // hook call 2: paused
		late <- err
	}()
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	mustKey(t, ks, f.URL(), "a") // hook call 3: refreshes
	close(release)
	if err := <-late; err != nil {
		t.Fatalf("late caller: %v", err)
	}
	if got := ks.Stats(f.URL()).Fetches; got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}
