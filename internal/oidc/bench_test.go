package oidc

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func benchParseVerify(b *testing.B, alg jose.SignatureAlgorithm, priv any, pub any) {
	tok := signToken(b, alg, priv, "kid-1", kubeClaims("https://issuer.example", t0))
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(tok)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Verify(pub); err != nil {
			b.Fatal(err)
		}
		if err := CheckTime(&a.Claims, t0, TimeRules{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerifyRS256(b *testing.B) {
	r := rsaKeys()[0]
	benchParseVerify(b, jose.RS256, r, &r.PublicKey)
}

func BenchmarkParseVerifyES256(b *testing.B) {
	benchParseVerify(b, jose.ES256, ecKey(), &ecKey().PublicKey)
}

func BenchmarkParseVerifyEdDSA(b *testing.B) {
	benchParseVerify(b, jose.EdDSA, edKey(), edKey().Public())
}

// BenchmarkParse isolates decoding: the part of an exchange that is not the
// signature check.
func BenchmarkParse(b *testing.B) {
	tok := signToken(b, jose.RS256, rsaKeys()[0], "kid-1", kubeClaims("https://issuer.example", t0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyCached(b *testing.B) {
	f := newFakeIssuer(b, jwksJSON(b, jwk{kid: "a", key: &rsaKeys()[0].PublicKey}, jwk{kid: "b", key: &ecKey().PublicKey}))
	ks := newTestKeySets(f, newClock(), nil)
	ctx := context.Background()
	if _, err := ks.Key(ctx, f.URL(), "a"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := ks.Key(ctx, f.URL(), "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ks.Key(ctx, f.URL(), "a"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
