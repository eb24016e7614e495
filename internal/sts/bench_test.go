package sts

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// mintMany signs n distinct RS256 assertions valid at now, in parallel.
func mintMany(tb testing.TB, now time.Time, n int) []string {
	tb.Helper()
	out := make([]string, n)
	var (
		wg    sync.WaitGroup
		next  = make(chan int)
		errMu sync.Mutex
		first error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				s, err := mintErr(now, assertion{})
				if err != nil {
					errMu.Lock()
					first = err
					errMu.Unlock()
				}
				out[i] = s
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		tb.Fatal(first)
	}
	return out
}

// warm loads the keyring and the directory so that the timed loop measures
// the steady state.
func warm(tb testing.TB, f *fixture) {
	tb.Helper()
	if _, err := f.svc.Exchange(context.Background(), testTenant, secretRequest(vaultAud)); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkExchange runs Service.Exchange in-process with a fresh RS256
// client assertion per iteration (parse, match, verify) and wif signing
// with an RS256 or ES256 key. The secret case shows signing alone.
func BenchmarkExchange(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, fixtureOpts{alg: alg})
			warm(b, f)
			raws := mintMany(b, f.clock.Now(), b.N)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.svc.Exchange(ctx, testTenant, assertionRequest(raws[i], vaultAud)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"-secret", func(b *testing.B) {
			f := newFixture(b, fixtureOpts{alg: alg})
			warm(b, f)
			ctx := context.Background()
			req := secretRequest(vaultAud)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.svc.Exchange(ctx, testTenant, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawRSASign is the floor of an RS256 exchange: one PKCS #1 v1.5
// signature with a 2048-bit key, as the keyring makes it.
func BenchmarkRawRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	key.Precompute()
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchangeHTTP is BenchmarkExchange through Handler over loopback
// HTTP/1.1 (no TLS), with keep-alive, to show the HTTP overhead.
func BenchmarkExchangeHTTP(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, fixtureOpts{alg: alg})
			warm(b, f)
			srv := newTestServer(b, f)
			client := srv.Client()
			endpoint := srv.URL + "/" + testTenant + "/oauth2/v2.0/token"
			raws := mintMany(b, f.clock.Now(), b.N)
			bodies := make([]string, b.N)
			for i, raw := range raws {
				bodies[i] = url.Values{
					"grant_type":            {GrantClientCredentials},
					"client_id":             {testClientID},
					"client_assertion_type": {AssertionTypeJWTBearer},
					"client_assertion":      {raw},
					"scope":                 {vaultAud + "/.default openid offline_access profile"},
				}.Encode()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(bodies[i]))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d, %v", resp.StatusCode, err)
				}
			}
		})
	}
}
