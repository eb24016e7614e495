package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fixture is a wif server with one identity federated with a test issuer.
type fixture struct {
	wif      *wifProc
	iss      *issuer
	clientID string
	objectID string
	tenant   string
	// bare is an identity with no federated credentials.
	bareClientID string
	// broken issuers: unreachable, and one serving a garbage JWKS.
	unreachable string
	garbage     *issuer
}

func newFixture(t *testing.T, args ...string) *fixture {
	t.Helper()
	iss := newIssuer(t)
	garbage := newIssuer(t)
	garbage.garbage.Store(true)
	// One CA file trusting both test issuers.
	caFile := filepath.Join(t.TempDir(), "issuers.pem")
	a, _ := os.ReadFile(iss.CAFile)
	b, _ := os.ReadFile(garbage.CAFile)
	os.WriteFile(caFile, append(a, b...), 0o644)

	w := startWif(t, append([]string{"--extra-ca-file", caFile}, args...)...)
	f := &fixture{wif: w, iss: iss, tenant: w.Boot.TenantID, garbage: garbage, unreachable: "https://127.0.0.1:1"}
	w.cli(t, "group", "create", "-n", "myRG", "-l", "eastus")
	var id struct{ ClientID, PrincipalID string }
	json.Unmarshal([]byte(w.cli(t, "identity", "create", "-n", "my-app-identity", "-g", "myRG")), &id)
	f.clientID, f.objectID = id.ClientID, id.PrincipalID
	if got := strings.TrimSpace(w.cli(t, "identity", "show", "-n", "my-app-identity", "-g", "myRG", "--query", "clientId", "-o", "tsv")); got != f.clientID {
		t.Fatalf("identity show --query clientId -o tsv = %q, want %q", got, f.clientID)
	}
	fic := func(name string, extra ...string) {
		w.cli(t, append([]string{"identity", "federated-credential", "create", "--name", name, "--identity-name", "my-app-identity", "-g", "myRG"}, extra...)...)
	}
	fic("my-federated-id", "--issuer", iss.URL, "--subject", "system:serviceaccount:default:my-app-sa")
	fic("team-apps", "--issuer", iss.URL, "--claims-matching-expression", "claims['sub'] matches 'system:serviceaccount:team-*:app'")
	fic("unreachable", "--issuer", f.unreachable, "--subject", "system:serviceaccount:default:my-app-sa")
	fic("garbage", "--issuer", garbage.URL, "--subject", "system:serviceaccount:default:my-app-sa")
	fic("other-audience", "--issuer", iss.URL, "--subject", "system:serviceaccount:aud:app", "--audiences", "api://custom")

	var bare struct{ ClientID string }
	json.Unmarshal([]byte(w.cli(t, "identity", "create", "-n", "bare-identity", "-g", "myRG")), &bare)
	f.bareClientID = bare.ClientID
	return f
}

// runWorkload runs the unmodified azidentity program with env.
func (f *fixture) runWorkload(t *testing.T, kind, scope string, env ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "workload"), "-credential", kind, "-scope", scope)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSL_CERT_FILE=" + f.wif.Boot.CAFile,
		"AZURE_AUTHORITY_HOST=" + f.wif.Boot.AuthorityHost, "AZURE_TENANT_ID=" + f.tenant}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// verifyAccessToken checks raw against wif's published JWKS and returns
// its claims.
func (f *fixture) verifyAccessToken(t *testing.T, raw string) map[string]any {
	t.Helper()
	resp, err := f.wif.HTTP.Get(f.wif.URL + "/" + f.tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	resp, err = f.wif.HTTP.Get(disc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("access token does not parse: %v", err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in published JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["iss"] != disc.Issuer {
		t.Errorf("iss = %v, discovery issuer = %v", claims["iss"], disc.Issuer)
	}
	return claims
}

func TestWorkloadIdentityCredential(t *testing.T) {
	f := newFixture(t)
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	// A projected token file ends with no newline in Kubernetes, but users
	// write them by hand with one; the Go SDK sends the content raw.
	raw := f.iss.mint(t, f.iss.saClaims("default", "my-app-sa", time.Now()))
	os.WriteFile(tokenFile, []byte(raw+"\n"), 0o644)
	scope := "https://vault.localhost:8443/.default"

	t.Run("workload", func(t *testing.T) {
		at, err := f.runWorkload(t, "workload", scope, "AZURE_CLIENT_ID="+f.clientID, "AZURE_FEDERATED_TOKEN_FILE="+tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		c := f.verifyAccessToken(t, at)
		want := map[string]any{
			"aud": "https://vault.localhost:8443", "tid": f.tenant, "oid": f.objectID, "sub": f.objectID,
			"azp": f.clientID, "appid": f.clientID, "idtyp": "app", "ver": "2.0",
			"iss": f.wif.URL + "/" + f.tenant + "/v2.0",
		}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("claim %s = %v, want %v", k, c[k], v)
			}
		}
		if life := c["exp"].(float64) - c["iat"].(float64); life != 3600 {
			t.Errorf("lifetime = %v s, want 3600", life)
		}
		if c["uti"] == nil || c["uti"] == "" {
			t.Error("no unique token id (uti)")
		}
	})
	t.Run("assertion", func(t *testing.T) {
		at, err := f.runWorkload(t, "assertion", scope, "AZURE_CLIENT_ID="+f.clientID, "AZURE_FEDERATED_TOKEN_FILE="+tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		if c := f.verifyAccessToken(t, at); c["oid"] != f.objectID {
			t.Errorf("oid = %v, want %v", c["oid"], f.objectID)
		}
	})
	t.Run("secret", func(t *testing.T) {
		at, err := f.runWorkload(t, "secret", f.wif.URL+"//.default", "AZURE_CLIENT_ID="+f.wif.Boot.ClientID, "AZURE_CLIENT_SECRET="+f.wif.Boot.ClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		c := f.verifyAccessToken(t, at)
		if c["aud"] != f.wif.URL+"/" || c["appidacr"] != "1" {
			t.Errorf("aud = %v, appidacr = %v; want %s/ and 1", c["aud"], c["appidacr"], f.wif.URL)
		}
	})
	t.Run("expression credential", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		os.WriteFile(file, []byte(f.iss.mint(t, f.iss.saClaims("team-blue", "app", time.Now()))), 0o644)
		at, err := f.runWorkload(t, "workload", scope, "AZURE_CLIENT_ID="+f.clientID, "AZURE_FEDERATED_TOKEN_FILE="+file)
		if err != nil {
			t.Fatal(err)
		}
		f.verifyAccessToken(t, at)
	})
	t.Run("mismatch surfaces AADSTS through the SDK", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		os.WriteFile(file, []byte(f.iss.mint(t, f.iss.saClaims("default", "other-sa", time.Now()))), 0o644)
		_, err := f.runWorkload(t, "workload", scope, "AZURE_CLIENT_ID="+f.clientID, "AZURE_FEDERATED_TOKEN_FILE="+file)
		if err == nil || !strings.Contains(err.Error(), "AADSTS700213") {
			t.Fatalf("err = %v, want AADSTS700213", err)
		}
	})
}

func TestTokenExchangeRFC8693(t *testing.T) {
	f := newFixture(t)
	tr := f.wif.postToken(t, f.tenant, url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id":          {f.clientID},
		"subject_token":      {f.iss.mint(t, f.iss.saClaims("default", "my-app-sa", time.Now()))},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		"resource":           {"https://storage.azure.com"},
	})
	if tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("token exchange: %d %s", tr.Status, tr.Description)
	}
	if c := f.verifyAccessToken(t, tr.AccessToken); c["aud"] != "https://storage.azure.com" {
		t.Errorf("aud = %v", c["aud"])
	}
}

// TestBadAssertions: each bad request gets the right AADSTS code, no token
// and no 5xx.
func TestBadAssertions(t *testing.T) {
	f := newFixture(t)
	is := f.iss
	now := time.Now()
	const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	scope := "https://vault.localhost/.default openid offline_access profile"
	good := func() map[string]any { return is.saClaims("default", "my-app-sa", now) }
	with := func(mod func(c map[string]any)) string {
		c := good()
		mod(c)
		return is.mint(t, c)
	}
	assertion := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {f.clientID}, "client_assertion_type": {jwtBearer}, "client_assertion": {a}, "scope": {scope}}
	}
	b64 := base64.RawURLEncoding.EncodeToString
	header := func(h string) string { return b64([]byte(h)) }
	payload, _ := json.Marshal(good())
	pubDER := x509.MarshalPKCS1PublicKey(&is.keys[0].PublicKey)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	goodToken := is.mint(t, good())
	parts := strings.Split(goodToken, ".")

	// A wif-issued token, to present as an assertion.
	wifToken := f.wif.postToken(t, f.tenant, assertion(goodToken)).AccessToken
	if wifToken == "" {
		t.Fatal("could not mint a wif token")
	}

	type tc struct {
		name    string
		tenant  string
		form    url.Values
		rawBody string
		ctype   string
		code    int
		contain string
	}
	cases := []tc{
		{name: "trailing-slash issuer", form: assertion(with(func(c map[string]any) { c["iss"] = is.URL + "/" })), code: 700211, contain: "trailing slash"},
		{name: "case-only subject", form: assertion(with(func(c map[string]any) { c["sub"] = "system:serviceaccount:default:My-App-SA" })), code: 7002138},
		{name: "wrong namespace", form: assertion(with(func(c map[string]any) { c["sub"] = "system:serviceaccount:prod:my-app-sa" })), code: 700213, contain: "namespace is 'prod'"},
		{name: "wrong audience", form: assertion(with(func(c map[string]any) { c["aud"] = "api://other" })), code: 70021, contain: "audience is 'api://other'"},
		{name: "expression mismatch", form: assertion(with(func(c map[string]any) { c["sub"] = "system:serviceaccount:team-blue:web" })), code: 700213},
		{name: "expired", form: assertion(with(func(c map[string]any) {
			c["exp"] = now.Add(-10 * time.Minute).Unix()
			c["iat"] = now.Add(-time.Hour).Unix()
			c["nbf"] = c["iat"]
		})), code: 700024},
		{name: "future nbf", form: assertion(with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix(); c["exp"] = now.Add(2 * time.Hour).Unix() })), code: 700024},
		{name: "26h lifetime", form: assertion(with(func(c map[string]any) { c["exp"] = now.Add(26 * time.Hour).Unix() })), code: 70023},
		{name: "missing exp", form: assertion(with(func(c map[string]any) { delete(c, "exp") })), code: 700024},
		{name: "missing iss", form: assertion(with(func(c map[string]any) { delete(c, "iss") })), code: 50027},
		{name: "alg none", form: assertion(header(`{"alg":"none","typ":"JWT"}`) + "." + b64(payload) + "."), code: 700027},
		{name: "HS256 keyed with the public key", form: assertion(hs256(header(`{"alg":"HS256","kid":"key-1"}`)+"."+b64(payload), pubDER)), code: 700027},
		{name: "unknown kid", form: assertion(signJWT(t, jose.RS256, otherKey, "no-such-kid", good())), code: 700027},
		{name: "right kid, wrong key", form: assertion(signJWT(t, jose.RS256, otherKey, "key-1", good())), code: 700027},
		{name: "tampered signature", form: assertion(parts[0] + "." + parts[1] + "." + flip(parts[2])), code: 700027},
		{name: "tampered payload", form: assertion(parts[0] + "." + b64(bytes.Replace(payload, []byte(`"uid":"0000"`), []byte(`"uid":"0001"`), 1)) + "." + parts[2]), code: 700027},
		{name: "issuer unreachable", form: assertion(with(func(c map[string]any) { c["iss"] = f.unreachable })), code: 90061},
		{name: "garbage JWKS", form: assertion(f.garbage.mint(t, f.garbage.saClaims("default", "my-app-sa", now))), code: 90061},
		{name: "wif-issued token", form: assertion(wifToken), code: 700222},
		{name: "identity without credentials", form: func() url.Values { v := assertion(goodToken); v.Set("client_id", f.bareClientID); return v }(), code: 70021},
		{name: "unknown client id", form: func() url.Values {
			v := assertion(goodToken)
			v.Set("client_id", "00000000-0000-0000-0000-000000000001")
			return v
		}(), code: 700016},
		{name: "unknown tenant", tenant: "00000000-0000-0000-0000-00000000000f", form: assertion(goodToken), code: 90002},
		{name: "missing grant_type", form: func() url.Values { v := assertion(goodToken); v.Del("grant_type"); return v }(), code: 900144, contain: "'grant_type'"},
		{name: "missing client_id", form: func() url.Values { v := assertion(goodToken); v.Del("client_id"); return v }(), code: 900144, contain: "'client_id'"},
		{name: "missing scope", form: func() url.Values { v := assertion(goodToken); v.Del("scope"); return v }(), code: 900144, contain: "'scope'"},
		{name: "missing assertion type", form: func() url.Values { v := assertion(goodToken); v.Del("client_assertion_type"); return v }(), code: 900144},
		{name: "wrong assertion type", form: func() url.Values { v := assertion(goodToken); v.Set("client_assertion_type", "saml"); return v }(), code: 50027},
		{name: "no credential", form: func() url.Values { v := assertion(goodToken); v.Del("client_assertion"); return v }(), code: 7000218},
		{name: "unsupported grant", form: func() url.Values { v := assertion(goodToken); v.Set("grant_type", "password"); return v }(), code: 70003},
		{name: "scope without .default", form: func() url.Values { v := assertion(goodToken); v.Set("scope", "https://vault.localhost/read"); return v }(), code: 70011},
		{name: "only openid scopes", form: func() url.Values { v := assertion(goodToken); v.Set("scope", "openid profile"); return v }(), code: 70011},
		{name: "two resources", form: func() url.Values {
			v := assertion(goodToken)
			v.Set("scope", "https://a.localhost/.default https://b.localhost/.default")
			return v
		}(), code: 70011},
		{name: "not a JWT", form: assertion("not-a-jwt"), code: 50027},
		{name: "bad base64", form: assertion("e30.!!!.abc"), code: 50027},
		{name: "oversized assertion", form: assertion(strings.Repeat("a", 20<<10)), code: 50027},
		{name: "oversized body", rawBody: "grant_type=client_credentials&pad=" + strings.Repeat("x", 100<<10), code: 90023},
		{name: "JSON body", rawBody: `{"grant_type":"client_credentials"}`, ctype: "application/json", code: 90023},
		{name: "wrong client secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {f.wif.Boot.ClientID}, "client_secret": {"wrong"}, "scope": {scope}}, code: 7000215},
		{name: "exchange without subject_token", form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {f.clientID}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "scope": {scope}}, code: 900144},
		{name: "exchange with bad token type", form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {f.clientID}, "subject_token": {goodToken}, "subject_token_type": {"urn:x:saml"}, "scope": {scope}}, code: 90023},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tenant := f.tenant
			if c.tenant != "" {
				tenant = c.tenant
			}
			var tr tokenResponse
			if c.form != nil {
				tr = f.wif.postToken(t, tenant, c.form)
			} else {
				ct := c.ctype
				if ct == "" {
					ct = "application/x-www-form-urlencoded"
				}
				tr = f.wif.postTokenRaw(t, tenant, ct, strings.NewReader(c.rawBody))
			}
			if tr.AccessToken != "" {
				t.Fatal("got an access token")
			}
			if tr.Status >= 500 || tr.Status < 400 {
				t.Errorf("status = %d, want 4xx", tr.Status)
			}
			if len(tr.Codes) != 1 || tr.Codes[0] != c.code {
				t.Errorf("error_codes = %v, want [%d]; %s", tr.Codes, c.code, tr.Description)
			}
			if !strings.HasPrefix(tr.Description, fmt.Sprintf("AADSTS%d: ", c.code)) {
				t.Errorf("description %q does not start with AADSTS%d", tr.Description, c.code)
			}
			if c.contain != "" && !strings.Contains(tr.Description, c.contain) {
				t.Errorf("description %q does not mention %q", tr.Description, c.contain)
			}
			if tr.TraceID == "" || tr.Correlation == "" || tr.Timestamp == "" || tr.Error == "" {
				t.Errorf("missing Entra error fields: %+v", tr)
			}
		})
	}

	t.Run("unknown issuer causes no network I/O", func(t *testing.T) {
		before := f.iss.fetches.Load()
		other := newIssuer(t)
		tr := f.wif.postToken(t, f.tenant, assertion(other.mint(t, other.saClaims("default", "my-app-sa", now))))
		if len(tr.Codes) != 1 || tr.Codes[0] != 700211 {
			t.Fatalf("codes = %v", tr.Codes)
		}
		if other.fetches.Load() != 0 || f.iss.fetches.Load() != before {
			t.Errorf("an unknown issuer was fetched")
		}
	})
	t.Run("closest-credential hint names only the requested identity's credentials", func(t *testing.T) {
		v := assertion(with(func(c map[string]any) { c["iss"] = is.URL + "/" }))
		v.Set("client_id", f.bareClientID)
		tr := f.wif.postToken(t, f.tenant, v)
		if strings.Contains(tr.Description, "my-federated-id") || strings.Contains(tr.Description, is.URL+"'") {
			t.Errorf("hint leaks another identity's credential: %s", tr.Description)
		}
	})
	t.Run("assertion reuse is allowed", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if tr := f.wif.postToken(t, f.tenant, assertion(goodToken)); tr.Status != 200 {
				t.Fatalf("reuse %d: %d %s", i, tr.Status, tr.Description)
			}
		}
	})
	t.Run("logs never contain tokens or secrets", func(t *testing.T) {
		time.Sleep(400 * time.Millisecond) // wif flushes its log buffer every 200 ms
		logs := readLogs(f.wif)
		for _, secret := range []string{parts[2], f.wif.Boot.ClientSecret, wifToken[len(wifToken)-40:]} {
			if strings.Contains(logs, secret) {
				t.Errorf("log contains a secret or token")
			}
		}
		if !strings.Contains(logs, `"aadsts":700213`) {
			t.Errorf("log does not record the AADSTS outcome")
		}
	})
}

func readLogs(w *wifProc) string {
	return w.logs.String()
}

func hs256(signingInput string, key []byte) string {
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(hmacSHA256(key, []byte(signingInput)))
}

func flip(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[len(b)/2] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestDiscoveryEndpoints checks the documents MSAL and az read.
func TestDiscoveryEndpoints(t *testing.T) {
	w := startWif(t)
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := w.HTTP.Get(w.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tenant := w.Boot.TenantID
	d := get("/" + tenant + "/v2.0/.well-known/openid-configuration?")
	for k, want := range map[string]string{
		"issuer":                 w.URL + "/" + tenant + "/v2.0",
		"token_endpoint":         w.URL + "/" + tenant + "/oauth2/v2.0/token",
		"authorization_endpoint": w.URL + "/" + tenant + "/oauth2/v2.0/authorize",
		"jwks_uri":               w.URL + "/" + tenant + "/discovery/v2.0/keys",
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %s", k, d[k], want)
		}
	}
	a := get("/adfs/.well-known/openid-configuration")
	if a["token_endpoint"] != w.URL+"/adfs/oauth2/token" || a["authorization_endpoint"] == nil {
		t.Errorf("adfs discovery = %v", a)
	}
	inst := get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(w.URL+"/"+tenant+"/oauth2/v2.0/authorize"))
	if inst["tenant_discovery_endpoint"] != w.URL+"/"+tenant+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery = %v", inst)
	}
	m := get("/metadata/endpoints?api-version=2015-01-01")
	if auth, _ := m["authentication"].(map[string]any); auth == nil || auth["loginEndpoint"] == nil {
		t.Errorf("metadata = %v", m)
	}
	// The ADFS token endpoint resolves the tenant from the client id.
	tr := w.postToken(t, "adfs", url.Values{"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
		"client_secret": {w.Boot.ClientSecret}, "client_info": {"1"}, "scope": {w.URL + "//.default"},
		"claims": {`{"access_token": {"xms_cc": {"values": ["CP1"]}}}`}})
	if tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("adfs token: %d %s", tr.Status, tr.Description)
	}
	if _, ok := tr.ExpiresIn.(float64); !ok {
		t.Errorf("expires_in is %T, want a JSON number (az requires it)", tr.ExpiresIn)
	}
}

// TestServeRestartReusesState: a second start keeps the tenant, CA and
// bootstrap secret.
func TestServeRestartReusesState(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	run := func() (string, []byte) {
		cmd := exec.Command(filepath.Join(binDir, "wif"), "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:"+port)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "Trust wif's CA") {
			if time.Now().After(deadline) {
				t.Fatalf("no start: %s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		b, _ := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
		ca, _ := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "SSL_CERT_FILE") || !strings.Contains(out.String(), "NODE_EXTRA_CA_CERTS") || !strings.Contains(out.String(), "REQUESTS_CA_BUNDLE") {
			t.Errorf("start-up output does not say how to trust the CA:\n%s", out.String())
		}
		return string(b), ca
	}
	b1, ca1 := run()
	b2, ca2 := run()
	if b1 != b2 || !bytes.Equal(ca1, ca2) {
		t.Fatal("restart changed bootstrap.json or the CA")
	}
	var m map[string]any
	json.Unmarshal([]byte(b1), &m)
	want := []string{"tenantId", "subscriptionId", "clientId", "clientSecret", "authorityHost", "armEndpoint", "caFile"}
	if len(m) != len(want) {
		t.Errorf("bootstrap.json keys = %v, want exactly %v", m, want)
	}
	for _, k := range want {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("bootstrap.json %s is empty", k)
		}
	}
	for _, f := range []string{"bootstrap.json", "ca-key.pem"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600 (%v)", f, fi.Mode().Perm(), err)
		}
	}
	_ = http.StatusOK
}
