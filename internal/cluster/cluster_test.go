package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store"
)

func TestRotate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := NewManagedKey("i", t0)
	b, _ := NewManagedKey("i", t0.Add(time.Hour))
	c, _ := NewManagedKey("i", t0.Add(2*time.Hour))
	keys := []store.ClusterKey{a}

	keys = Rotate(keys, b, t0.Add(time.Hour))
	if cur, _ := Current(keys); cur.KID != b.KID {
		t.Fatalf("current after rotation = %s, want the new key", cur.KID)
	}
	pub := Published(keys, t0.Add(2*time.Hour))
	if len(pub) != 2 {
		t.Fatalf("old key not published during the 24h overlap: %d keys", len(pub))
	}
	if pub := Published(keys, t0.Add(25*time.Hour+time.Minute)); len(pub) != 1 || pub[0].KID != b.KID {
		t.Fatalf("old key still published after 24h: %v", pub)
	}
	// Rotating twice drops the oldest key at once.
	keys = Rotate(keys, c, t0.Add(2*time.Hour))
	pub = Published(keys, t0.Add(2*time.Hour))
	var kids []string
	for _, k := range pub {
		kids = append(kids, k.KID)
	}
	if diff := cmp.Diff([]string{b.KID, c.KID}, kids); diff != "" {
		t.Errorf("published after second rotation (-want +got):\n%s", diff)
	}
}

func TestKeyIDMatchesKubeDerivation(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	kid, err := KeyID(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// kube-apiserver: base64.RawURLEncoding(sha256(x509.MarshalPKIXPublicKey(pub))).
	if len(kid) != 43 {
		t.Errorf("kid %q is not a 32-byte unpadded base64url digest", kid)
	}
}

func TestParsePublicKeys(t *testing.T) {
	now := time.Now()
	r1, _ := rsa.GenerateKey(rand.Reader, 2048)
	e1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkix := func(p any) []byte {
		der, _ := x509.MarshalPKIXPublicKey(p)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	pemData := append(append(pkix(&r1.PublicKey), pkix(&e1.PublicKey)...), pkix(&small.PublicKey)...)
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&r1.PublicKey)})...)
	keys, err := ParsePublicKeys("iss", pemData, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2 (RSA-2048 once, P-256; 1024-bit skipped, duplicate merged)", len(keys))
	}
	wantKID, _ := KeyID(&r1.PublicKey)
	if keys[0].KID != wantKID || keys[0].Alg != "RS256" || keys[1].Alg != "ES256" || keys[0].PrivateKey != nil {
		t.Errorf("keys = %+v", keys)
	}
	// The same keys as a JWKS give the same kids.
	jwks, _ := JWKS(keys)
	again, err := ParsePublicKeys("iss", jwks, now)
	if err != nil || len(again) != 2 || again[0].KID != keys[0].KID {
		t.Errorf("JWKS round trip = %v, %v", again, err)
	}
	if _, err := ParsePublicKeys("iss", []byte("garbage"), now); !errors.Is(err, ErrNoKeys) {
		t.Errorf("garbage: %v", err)
	}
}

func TestMerge(t *testing.T) {
	var stored, incoming map[string]any
	json.Unmarshal([]byte(`{"kubernetesVersion":"1.30","securityProfile":{"workloadIdentity":{"enabled":true}},"oidcIssuerProfile":{"enabled":false,"issuerURL":""},"agentPoolProfiles":[{"name":"a"}]}`), &stored)
	// az 2.45 re-serialises the cluster with a model that lacks
	// securityProfile.workloadIdentity, and sends only oidcIssuerProfile.enabled.
	json.Unmarshal([]byte(`{"kubernetesVersion":"1.30","securityProfile":{},"oidcIssuerProfile":{"enabled":true},"agentPoolProfiles":[{"name":"b"}],"extra":null}`), &incoming)
	got := Merge(stored, incoming)
	var want map[string]any
	json.Unmarshal([]byte(`{"kubernetesVersion":"1.30","securityProfile":{"workloadIdentity":{"enabled":true}},"oidcIssuerProfile":{"enabled":true,"issuerURL":""},"agentPoolProfiles":[{"name":"b"}]}`), &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
}

func FuzzParsePublicKeys(f *testing.F) {
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&r.PublicKey)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParsePublicKeys("i", data, time.Unix(0, 0))
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
		for _, k := range keys {
			if k.PrivateKey != nil || k.KID == "" {
				t.Fatalf("bad key %+v", k)
			}
		}
	})
}
