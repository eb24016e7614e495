package e2e

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestClusterIssuerInProcessKeys: an exchange for a cluster issuer that wif
// hosts reads the cluster's keys from the store. With issuer fetches
// restricted to an address range that excludes loopback (so an external
// issuer on 127.0.0.1 is refused with AADSTS90061), the cluster's tokens
// still exchange, no request for the issuer's discovery or JWKS reaches
// wif, and a rotated key works at once.
func TestClusterIssuerInProcessKeys(t *testing.T) {
	ext := newIssuer(t)
	w := startWif(t, "--issuer-fetch-allow", "10.0.0.0/8", "--extra-ca-file", ext.CAFile)
	w.cli(t, "group", "create", "-n", "myRG", "-l", "eastus", "-o", "none")
	w.cli(t, "aks", "create", "-g", "myRG", "-n", "myCluster", "-o", "none")
	w.cli(t, "aks", "update", "-g", "myRG", "-n", "myCluster", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	issuer := strings.TrimSpace(w.cli(t, "aks", "show", "-n", "myCluster", "-g", "myRG", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	if !strings.HasPrefix(issuer, w.URL+"/oidc/") {
		t.Fatalf("issuer URL = %q", issuer)
	}
	var id struct{ ClientID string }
	if err := json.Unmarshal([]byte(w.cli(t, "identity", "create", "-n", "app-identity", "-g", "myRG")), &id); err != nil {
		t.Fatal(err)
	}
	const subject = "system:serviceaccount:default:app"
	for name, iss := range map[string]string{"cluster": issuer, "external": ext.URL} {
		w.cli(t, "identity", "federated-credential", "create", "--name", name, "--identity-name", "app-identity", "-g", "myRG",
			"--issuer", iss, "--subject", subject, "-o", "none")
	}
	exchange := func(assertion string) tokenResponse {
		t.Helper()
		return w.postToken(t, w.Boot.TenantID, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {id.ClientID}, "scope": {w.URL + "/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
		})
	}
	clusterToken := func() string {
		t.Helper()
		dir := t.TempDir()
		w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", dir)
		key := parseSAKey(t, readPEM(t, filepath.Join(dir, "sa.key")))
		now := time.Now()
		return signJWT(t, jose.RS256, key, kubeKID(t, key.Public()), map[string]any{
			"iss": issuer, "sub": subject, "aud": []string{"api://AzureADTokenExchange"},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
	}

	// The policy refuses loopback: the external issuer cannot be fetched.
	if tr := exchange(ext.mint(t, ext.saClaims("default", "app", time.Now()))); len(tr.Codes) == 0 || tr.Codes[0] != 90061 {
		t.Fatalf("external issuer on loopback under --issuer-fetch-allow 10.0.0.0/8: %d %v %s, want AADSTS90061", tr.Status, tr.Codes, tr.Description)
	}
	if n := ext.fetches.Load(); n != 0 {
		t.Fatalf("the external issuer's JWKS was fetched %d times despite the policy", n)
	}
	// The cluster's token exchanges all the same.
	if tr := exchange(clusterToken()); tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("cluster token: %d %v %s", tr.Status, tr.Codes, tr.Description)
	}
	// A rotation is seen by the next exchange, without waiting for a cache.
	w.cli(t, "aks", "oidc-issuer", "rotate-signing-keys", "-g", "myRG", "-n", "myCluster", "--yes")
	if tr := exchange(clusterToken()); tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("cluster token after rotation: %d %v %s", tr.Status, tr.Codes, tr.Description)
	}

	// No request for the issuer's documents reached wif; one made by the
	// test shows that such a request would be logged.
	if logs := readLogs(w); strings.Contains(logs, `"path":"/oidc/`) {
		t.Errorf("wif fetched its own cluster issuer over HTTP:\n%s", grepLines(logs, `"path":"/oidc/`))
	}
	if code, b := getBody(t, w.HTTP, issuer+".well-known/openid-configuration", ""); code != 200 {
		t.Fatalf("discovery: %d %s", code, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readLogs(w), `"path":"/oidc/`) {
		if time.Now().After(deadline) {
			t.Fatal("a request for the issuer's discovery document is not logged, so the check above proves nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parseSAKey reads a PKCS#8 or PKCS#1 private key.
func parseSAKey(t *testing.T, der []byte) crypto.Signer {
	t.Helper()
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k.(crypto.Signer)
	}
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		t.Fatalf("sa.key: %v", err)
	}
	return k
}

// kubeKID derives a key id as kube-apiserver does.
func kubeKID(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
