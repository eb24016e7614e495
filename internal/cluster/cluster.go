// Package cluster is the policy of managed clusters' OIDC issuers: issuer
// URLs, service-account signing keys and their rotation, published key
// sets, and AKS's "absent means unchanged" merge of cluster properties.
// Everything here is pure except key generation.
package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// RetainAfterRotation is how long AKS keeps publishing the previous key
// after a rotation.
const RetainAfterRotation = 24 * time.Hour

// IssuerURL returns the issuer URL of a cluster, AKS-style: unique per
// cluster and ending with "/".
func IssuerURL(publicURL, tenantID, issuerID string) string {
	return publicURL + "/oidc/" + tenantID + "/" + issuerID + "/"
}

// KeyID derives a key id the way kube-apiserver does:
// base64url(sha256(DER of the PKIX public key)), unpadded.
func KeyID(pub crypto.PublicKey) (string, error) { return token.KeyID(pub) }

// NewManagedKey generates an RSA-2048 service-account signing key.
func NewManagedKey(issuerID string, now time.Time) (store.ClusterKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return store.ClusterKey{}, fmt.Errorf("cluster: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.ClusterKey{}, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return store.ClusterKey{}, err
	}
	kid, err := KeyID(&priv.PublicKey)
	if err != nil {
		return store.ClusterKey{}, err
	}
	return store.ClusterKey{IssuerID: issuerID, KID: kid, Alg: "RS256", PrivateKey: privDER, PublicKey: pubDER, CreatedAt: now}, nil
}

// Rotate makes next the current key. The previous current key stays
// published for RetainAfterRotation; keys already retiring are dropped, so
// rotating twice removes the oldest key at once, as AKS does.
func Rotate(keys []store.ClusterKey, next store.ClusterKey, now time.Time) []store.ClusterKey {
	var out []store.ClusterKey
	for _, k := range keys {
		if k.RetireAt.IsZero() {
			k.RetireAt = now.Add(RetainAfterRotation)
			out = append(out, k)
		}
	}
	return append(out, next)
}

// Published returns the keys served in the issuer's JWKS at now.
func Published(keys []store.ClusterKey, now time.Time) []store.ClusterKey {
	var out []store.ClusterKey
	for _, k := range keys {
		if k.RetireAt.IsZero() || now.Before(k.RetireAt) {
			out = append(out, k)
		}
	}
	return out
}

// Current returns the signing key, if the issuer has managed keys.
func Current(keys []store.ClusterKey) (store.ClusterKey, bool) {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].RetireAt.IsZero() && keys[i].PrivateKey != nil {
			return keys[i], true
		}
	}
	return store.ClusterKey{}, false
}

// JWKS renders keys as a JSON Web Key Set.
func JWKS(keys []store.ClusterKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("cluster: key %s: %w", k.KID, err)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	}
	return json.Marshal(set)
}

// Discovery renders the issuer's OpenID configuration.
func Discovery(issuer string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "openid/v1/jwks",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// ErrNoKeys: a bring-your-own key set had no usable key.
var ErrNoKeys = errors.New("cluster: no usable public keys")

// ParsePublicKeys reads a cluster's own public keys, as PEM (PKIX or PKCS#1
// RSA public keys, or certificates) or as a JWKS, deriving each kid the way
// kube-apiserver does (the kid in a JWKS must match that derivation, since
// kube-apiserver puts the derived kid in the tokens it signs).
func ParsePublicKeys(issuerID string, data []byte, now time.Time) ([]store.ClusterKey, error) {
	var pubs []crypto.PublicKey
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err == nil && len(set.Keys) > 0 {
		for _, k := range set.Keys {
			if k.IsPublic() && k.Valid() {
				pubs = append(pubs, k.Key)
			}
		}
	} else {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "PUBLIC KEY":
				if p, err := x509.ParsePKIXPublicKey(b.Bytes); err == nil {
					pubs = append(pubs, p)
				}
			case "RSA PUBLIC KEY":
				if p, err := x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
					pubs = append(pubs, p)
				}
			case "CERTIFICATE":
				if c, err := x509.ParseCertificate(b.Bytes); err == nil {
					pubs = append(pubs, c.PublicKey)
				}
			}
		}
	}
	var keys []store.ClusterKey
	seen := map[string]bool{}
	for _, p := range pubs {
		alg := ""
		switch k := p.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				continue
			}
			alg = "RS256"
		case *ecdsa.PublicKey:
			switch k.Curve.Params().BitSize {
			case 256:
				alg = "ES256"
			case 384:
				alg = "ES384"
			default:
				continue
			}
		default:
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			continue
		}
		kid, _ := KeyID(p)
		if seen[kid] {
			continue
		}
		seen[kid] = true
		keys = append(keys, store.ClusterKey{IssuerID: issuerID, KID: kid, Alg: alg, PublicKey: der, CreatedAt: now})
	}
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	return keys, nil
}

// Merge applies a full-object PUT onto the stored properties the way AKS
// does for clients whose models lack newer fields: an absent member means
// unchanged, objects merge recursively, and anything else is replaced.
func Merge(stored, incoming map[string]any) map[string]any {
	out := make(map[string]any, len(stored)+len(incoming))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range incoming {
		if in, ok := v.(map[string]any); ok {
			if cur, ok := out[k].(map[string]any); ok {
				out[k] = Merge(cur, in)
				continue
			}
		}
		if v == nil {
			continue // null: unchanged, as older clients send nulls for unknown fields
		}
		out[k] = v
	}
	return out
}
