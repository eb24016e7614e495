package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// issuer is a Kubernetes-style OIDC issuer on loopback TLS: discovery and
// a JWKS with one RSA-2048 key.
type issuer struct {
	URL     string
	key     *rsa.PrivateKey
	kid     string
	srv     *httptest.Server
	fetches atomic.Int64
}

func newIssuer(caFile string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	is := &issuer{key: key, kid: "bench-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/openid/v1/jwks",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		pub := &is.key.PublicKey
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": is.kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	is.srv = httptest.NewTLSServer(mux)
	is.URL = is.srv.URL
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw}), 0o644); err != nil {
		is.srv.Close()
		return nil, err
	}
	return is, nil
}

func (is *issuer) Close() { is.srv.Close() }

// subject is the service account subject of federated credential j of
// identity i.
func subject(i, j int) string {
	return fmt.Sprintf("system:serviceaccount:ns%05d:sa%02d", i, j)
}

// target is a client id and the subject its target credential matches.
type target struct {
	ClientID string
	Subject  string
	Identity int
}

// mintBodies returns n token request bodies, each with a fresh assertion
// (unique jti) for one of targets, round-robin, minted on every core.
func (is *issuer) mintBodies(n int, targets []target, scope string, now time.Time) [][]byte {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"` + is.kid + `","typ":"JWT"}`))
	// Each target's form prefix, shared by its requests.
	prefixes := make([]string, len(targets))
	for i, t := range targets {
		prefixes[i] = url.Values{
			"grant_type":            {"client_credentials"},
			"client_id":             {t.ClientID},
			"scope":                 {scope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		}.Encode() + "&client_assertion="
	}
	var runID [6]byte
	rand.Read(runID[:])
	run := hex.EncodeToString(runID[:])
	out := make([][]byte, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				t := targets[k%len(targets)]
				claims, _ := json.Marshal(map[string]any{
					"iss": is.URL, "sub": t.Subject, "aud": []string{"api://AzureADTokenExchange"},
					"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
					"jti": fmt.Sprintf("%s-%08d", run, k),
					"kubernetes.io": map[string]any{
						"namespace": fmt.Sprintf("ns%05d", t.Identity),
						"pod":       map[string]any{"name": fmt.Sprintf("app-%d", k), "uid": "5c1c9a2b-6f7e-4c3d-9a8b-7e6f5d4c3b2a"},
						"serviceaccount": map[string]any{
							"name": "sa", "uid": "0f3e2d1c-0b9a-4877-8665-544332211000",
						},
					},
				})
				signingInput := header + "." + base64.RawURLEncoding.EncodeToString(claims)
				d := sha256.Sum256([]byte(signingInput))
				sig, err := rsa.SignPKCS1v15(nil, is.key, crypto.SHA256, d[:])
				if err != nil {
					panic(err) // cannot happen with a valid key
				}
				jwt := signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
				// The JWT alphabet (base64url and '.') needs no escaping.
				b := make([]byte, 0, len(prefixes[k%len(targets)])+len(jwt))
				b = append(b, prefixes[k%len(targets)]...)
				b = append(b, jwt...)
				out[k] = b
			}
		}()
	}
	wg.Wait()
	return out
}
