package oidc

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func FuzzParse(f *testing.F) {
	r := rsaKeys()[0]
	claims := kubeClaims("https://issuer.example", t0)
	f.Add(signToken(f, jose.RS256, r, "k", claims))
	f.Add(signToken(f, jose.PS384, r, "", claims))
	f.Add(signToken(f, jose.ES256, ecKey(), "k", claims))
	f.Add(signToken(f, jose.EdDSA, edKey(), "k", map[string]any{"aud": "x", "exp": 1.5}))
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{"exp":1}`) + ".")
	f.Add(b64(`{"alg":"RS256","crit":["exp"],"exp":1}`) + "." + b64(`{"aud":[1]}`) + ".AAAA")
	f.Add(b64(`{"alg":"RS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`) + "." + b64(`{}`) + ".AA")
	f.Add("..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("Parse error %v wraps neither ErrMalformed nor ErrAlgorithm", err)
			}
			return
		}
		if len(raw) > MaxAssertionSize {
			t.Fatalf("Parse accepted %d bytes", len(raw))
		}
		if !slices.Contains(allowedAlgorithms, jose.SignatureAlgorithm(a.Header.Alg)) {
			t.Fatalf("Parse accepted alg %q", a.Header.Alg)
		}
		for _, n := range a.Claims.Names() {
			a.Claims.Claim(n)
			a.Claims.Raw(n)
		}
		_ = CheckTime(&a.Claims, t0, TimeRules{})
		if err := a.Verify(&rsaKeys()[1].PublicKey); err == nil {
			t.Fatal("Verify succeeded with a key that signed nothing")
		}
		_ = a.Verify(&ecKey().PublicKey)
		_ = a.Verify(edKey().Public())
	})
}

func FuzzParseClaims(f *testing.F) {
	b, _ := json.Marshal(kubeClaims("https://issuer.example", t0))
	f.Add(b)
	f.Add([]byte(`{"aud":"x","exp":1700000000.25,"nbf":null,"iat":-1e3}`))
	f.Add([]byte(`{"iss":"\ud800","aud":["a","b"],"exp":9e99}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ParseClaims(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, ts := range []time.Time{c.Expiry, c.NotBefore, c.IssuedAt} {
			if !ts.IsZero() && (ts.Year() < 0 || ts.Year() > 9999) {
				t.Fatalf("time %v out of range", ts)
			}
		}
		// What is accepted is a JSON object that encoding/json reads the
		// same way.
		var std map[string]json.RawMessage
		if err := json.Unmarshal(payload, &std); err != nil || std == nil {
			t.Fatalf("accepted, but encoding/json says %v", err)
		}
		if len(std) != len(c.Names()) {
			t.Fatalf("%d claims, encoding/json sees %d", len(c.Names()), len(std))
		}
		for _, n := range c.Names() {
			got, gotOK := c.Claim(n)
			var want string
			wantOK := std[n][0] == '"' && json.Unmarshal(std[n], &want) == nil
			if gotOK != wantOK || got != want {
				t.Fatalf("claim %q = %q, %v; encoding/json: %q, %v", n, got, gotOK, want, wantOK)
			}
		}
		_ = CheckTime(&c, t0, TimeRules{})
	})
}

func FuzzJWKS(f *testing.F) {
	r := rsaKeys()
	f.Add(jwksJSON(f, jwk{kid: "a", key: &r[0].PublicKey, use: "sig", alg: "RS256"}, jwk{kid: "b", key: &ecKey().PublicKey}, jwk{key: edKey().Public()}))
	f.Add(jwksJSON(f, jwk{kid: "a", key: &ec384Key().PublicKey}, jwk{kid: "a", key: &ecKey().PublicKey}, jwk{kid: "c", key: &ecKey().PublicKey}, jwk{kid: "d", key: &ecKey().PublicKey}))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"},{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},null,1,"x"]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, maxKeys := range []int{1, 3, DefaultMaxKeys} {
			s, err := parseJWKS(body, maxKeys)
			if err != nil {
				continue
			}
			if s.n > maxKeys || len(s.byKID) > s.n {
				t.Fatalf("maxKeys %d: kept %d keys, %d with kid", maxKeys, s.n, len(s.byKID))
			}
			if (s.only != nil) != (s.n == 1) {
				t.Fatalf("only set = %v with %d keys", s.only != nil, s.n)
			}
			for kid, key := range s.byKID {
				if !slices.ContainsFunc(allowedAlgorithms, func(a jose.SignatureAlgorithm) bool { return keyFitsAlg(key, a) }) {
					t.Fatalf("kid %q: key %T fits no allowed alg", kid, key)
				}
			}
		}
	})
}

func FuzzCacheTTL(f *testing.F) {
	for _, s := range []string{"", "max-age=60", "public, max-age=86400", "no-store", "max-age=\"5\"", "max-age=-1,max-age=9999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		const def, lo, hi = 5 * time.Minute, time.Minute, 24 * time.Hour
		if got := cacheTTL([]string{header}, def, lo, hi); got < lo || got > hi {
			t.Fatalf("cacheTTL(%q) = %v, outside [%v, %v]", header, got, lo, hi)
		}
	})
}
