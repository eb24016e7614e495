package oidc

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAllowedAlgorithms(t *testing.T) {
	want := []jose.SignatureAlgorithm{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
	if diff := cmp.Diff(want, AllowedAlgorithms); diff != "" {
		t.Errorf("AllowedAlgorithms (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, allowedAlgorithms); diff != "" {
		t.Errorf("allowedAlgorithms (-want +got):\n%s", diff)
	}
}

func TestParseVerifyAlgorithms(t *testing.T) {
	r := rsaKeys()[0]
	tests := []struct {
		alg  jose.SignatureAlgorithm
		priv any
		pub  crypto.PublicKey
	}{
		{jose.RS256, r, &r.PublicKey},
		{jose.RS384, r, &r.PublicKey},
		{jose.RS512, r, &r.PublicKey},
		{jose.PS256, r, &r.PublicKey},
		{jose.PS384, r, &r.PublicKey},
		{jose.PS512, r, &r.PublicKey},
		{jose.ES256, ecKey(), &ecKey().PublicKey},
		{jose.ES384, ec384Key(), &ec384Key().PublicKey},
		{jose.EdDSA, edKey(), edKey().Public()},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			tok := signToken(t, tt.alg, tt.priv, "kid-1", kubeClaims("https://issuer.example", t0))
			a, err := Parse(tok)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(Header{Alg: string(tt.alg), KID: "kid-1"}, a.Header); diff != "" {
				t.Errorf("Header (-want +got):\n%s", diff)
			}
			if err := a.Verify(tt.pub); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestParseClaimsFromToken(t *testing.T) {
	tok := signToken(t, jose.ES256, ecKey(), "", kubeClaims("https://issuer.example", t0))
	a, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Issuer:    "https://issuer.example",
		Subject:   "system:serviceaccount:default:workload",
		ID:        "7f3c2a0e-6c35-4a8a-9d0f-3f3b1f0c5d11",
		Audience:  []string{"api://AzureADTokenExchange"},
		Expiry:    t0.Add(time.Hour),
		NotBefore: t0,
		IssuedAt:  t0,
	}
	if diff := cmp.Diff(want, a.Claims, cmpopts.IgnoreUnexported(Claims{})); diff != "" {
		t.Errorf("Claims (-want +got):\n%s", diff)
	}
	if a.Header.KID != "" {
		t.Errorf("KID = %q, want empty", a.Header.KID)
	}
	if got, ok := a.Claims.Claim("sub"); !ok || got != want.Subject {
		t.Errorf("Claim(sub) = %q, %v", got, ok)
	}
	if _, ok := a.Claims.Claim("kubernetes.io"); ok {
		t.Error("Claim(kubernetes.io) returned an object as a string")
	}
	if _, ok := a.Claims.Claim("exp"); ok {
		t.Error("Claim(exp) returned a number as a string")
	}
	if _, ok := a.Claims.Claim("missing"); ok {
		t.Error("Claim(missing) ok")
	}
	raw, ok := a.Claims.Raw("kubernetes.io")
	if !ok {
		t.Fatal("Raw(kubernetes.io) missing")
	}
	var k8s struct {
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal(raw, &k8s); err != nil || k8s.Namespace != "default" {
		t.Errorf("Raw(kubernetes.io) = %s (%v)", raw, err)
	}
	wantNames := []string{"aud", "exp", "iat", "iss", "jti", "kubernetes.io", "nbf", "sub"}
	if diff := cmp.Diff(wantNames, a.Claims.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if !a.Claims.HasAudience("api://AzureADTokenExchange") || a.Claims.HasAudience("api://azureadtokenexchange") {
		t.Error("HasAudience is not an exact match")
	}
}

func TestParseClaims(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Claims
		wantErr error
	}{
		{"aud string", `{"aud":"x","exp":1}`, Claims{Audience: []string{"x"}, Expiry: time.Unix(1, 0).UTC()}, nil},
		{"aud array", `{"aud":["x","y"]}`, Claims{Audience: []string{"x", "y"}}, nil},
		{"aud empty array", `{"aud":[]}`, Claims{Audience: []string{}}, nil},
		{"aud null", `{"aud":null}`, Claims{}, nil},
		{"fractional exp", `{"exp":1700000000.5}`, Claims{Expiry: time.Unix(1700000000, 5e8).UTC()}, nil},
		{"exponent exp", `{"exp":1.7e9}`, Claims{Expiry: time.Unix(1700000000, 0).UTC()}, nil},
		{"negative exp", `{"exp":-1}`, Claims{Expiry: time.Unix(-1, 0).UTC()}, nil},
		{"null exp is absent", `{"exp":null,"iss":null}`, Claims{}, nil},
		{"escaped strings", `{"iss":"https:\/\/a\u0062c","sub":"\u00e9"}`, Claims{Issuer: "https://abc", Subject: "é"}, nil},
		{"empty object", `{}`, Claims{}, nil},
		{"not JSON", `{`, Claims{}, ErrMalformed},
		{"array", `[]`, Claims{}, ErrMalformed},
		{"null", `null`, Claims{}, ErrMalformed},
		{"string", `"x"`, Claims{}, ErrMalformed},
		{"iss number", `{"iss":1}`, Claims{}, ErrMalformed},
		{"sub object", `{"sub":{}}`, Claims{}, ErrMalformed},
		{"jti bool", `{"jti":true}`, Claims{}, ErrMalformed},
		{"aud number", `{"aud":1}`, Claims{}, ErrMalformed},
		{"aud mixed array", `{"aud":["x",1]}`, Claims{}, ErrMalformed},
		{"aud nested", `{"aud":[["x"]]}`, Claims{}, ErrMalformed},
		{"exp string", `{"exp":"1700000000"}`, Claims{}, ErrMalformed},
		{"exp huge", `{"exp":1e400}`, Claims{}, ErrMalformed},
		{"exp year 10000", `{"exp":253402300800}`, Claims{}, ErrMalformed},
		{"nbf too small", `{"nbf":-1e20}`, Claims{}, ErrMalformed},
		{"iat bool", `{"iat":false}`, Claims{}, ErrMalformed},
		{"duplicate claim", `{"sub":"a","sub":"b"}`, Claims{}, ErrMalformed},
		{"duplicate unregistered claim", `{"x":1,"x":1}`, Claims{}, ErrMalformed},
		{"invalid UTF-8", "{\"sub\":\"\xff\"}", Claims{}, ErrMalformed},
		{"lone surrogate", `{"sub":"\ud800"}`, Claims{}, ErrMalformed},
		{"trailing data", `{"sub":"a"} {}`, Claims{}, ErrMalformed},
		{"trailing comma", `{"sub":"a",}`, Claims{}, ErrMalformed},
		{"whitespace", " {\n\"sub\" : \"a\" , \"aud\" : [ \"x\" ] }\n", Claims{Subject: "a", Audience: []string{"x"}}, nil},
		{"nested claims", `{"kubernetes.io":{"namespace":"n","pod":{"name":"p"}},"sub":"s"}`, Claims{Subject: "s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClaims([]byte(tt.payload))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Claims{})); diff != "" {
				t.Errorf("Claims (-want +got):\n%s", diff)
			}
		})
	}
}

// hs256 signs header.payload with HMAC-SHA256 under key.
func hs256(header, payload string, key []byte) string {
	in := b64(header) + "." + b64(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestParseRejects(t *testing.T) {
	r := rsaKeys()[0]
	der, err := x509.MarshalPKIXPublicKey(&r.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	claims := `{"iss":"https://issuer.example","sub":"s","aud":"a","exp":1800000000}`
	good := signToken(t, jose.RS256, r, "k", json.RawMessage(claims))
	parts := strings.Split(good, ".")

	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"alg none", b64(`{"alg":"none"}`) + "." + b64(claims) + ".", ErrAlgorithm},
		{"alg none with signature", b64(`{"alg":"none"}`) + "." + b64(claims) + "." + parts[2], ErrAlgorithm},
		{"alg None", b64(`{"alg":"None"}`) + "." + b64(claims) + ".", ErrAlgorithm},
		{"duplicate alg", b64(`{"alg":"RS256","alg":"none"}`) + "." + b64(claims) + "." + parts[2], ErrMalformed},
		{"kid number", b64(`{"alg":"RS256","kid":1}`) + "." + b64(claims) + "." + parts[2], ErrMalformed},
		{"HS256 with PEM public key", hs256(`{"alg":"HS256","kid":"k"}`, claims, pemKey), ErrAlgorithm},
		{"HS256 with DER public key", hs256(`{"alg":"HS256","kid":"k"}`, claims, der), ErrAlgorithm},
		{"HS512", b64(`{"alg":"HS512"}`) + "." + b64(claims) + "." + parts[2], ErrAlgorithm},
		{"ES512", b64(`{"alg":"ES512"}`) + "." + b64(claims) + "." + parts[2], ErrAlgorithm},
		{"missing alg", b64(`{"kid":"k"}`) + "." + b64(claims) + "." + parts[2], ErrAlgorithm},
		{"empty", "", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"JWE", "a.b.c.d.e", ErrMalformed},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, ErrMalformed},
		{"bad base64 header", "!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"bad base64 payload", parts[0] + ".a*b." + parts[2], ErrMalformed},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".%%", ErrMalformed},
		{"header not JSON", b64("{") + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"header alg number", b64(`{"alg":256}`) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"payload not JSON", parts[0] + "." + b64("hello") + "." + parts[2], ErrMalformed},
		{"payload array", parts[0] + "." + b64("[1]") + "." + parts[2], ErrMalformed},
		{"payload null", parts[0] + "." + b64("null") + "." + parts[2], ErrMalformed},
		{"whitespace", " " + good, ErrMalformed},
		{"oversize", signToken(t, jose.RS256, r, "k", map[string]any{"exp": 1, "pad": strings.Repeat("x", MaxAssertionSize)}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse: err = %v, want %v", err, tt.wantErr)
			}
			if a != nil {
				t.Error("Parse returned an assertion with an error")
			}
			if msg := err.Error(); len(tt.token) > 40 && strings.Contains(msg, tt.token[len(tt.token)-40:]) {
				t.Errorf("error message contains the token: %s", msg)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	header := b64(`{"alg":"RS256","kid":"k"}`)
	build := func(padLen, sigLen int) string {
		payload := b64(`{"exp":1,"pad":"` + strings.Repeat("x", padLen) + `"}`)
		return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, sigLen))
	}
	var atLimit string
	for sigLen := 256; sigLen < 260 && atLimit == ""; sigLen++ {
		for pad := MaxAssertionSize / 2; pad < MaxAssertionSize; pad++ {
			if tok := build(pad, sigLen); len(tok) == MaxAssertionSize {
				atLimit = tok
				break
			}
		}
	}
	if atLimit == "" {
		t.Fatal("could not build a token of exactly the limit")
	}
	if _, err := Parse(atLimit); err != nil {
		t.Errorf("Parse at %d bytes: %v", len(atLimit), err)
	}
	if _, err := Parse(atLimit[:len(header)+1] + "A" + atLimit[len(header)+1:]); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse at %d bytes: err = %v, want ErrMalformed", len(atLimit)+1, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	rk := rsaKeys()
	claims := kubeClaims("https://issuer.example", t0)
	rsaTok := signToken(t, jose.RS256, rk[0], "k", claims)
	psTok := signToken(t, jose.PS256, rk[0], "k", claims)
	esTok := signToken(t, jose.ES256, ecKey(), "k", claims)
	es384Tok := signToken(t, jose.ES384, ec384Key(), "k", claims)
	edTok := signToken(t, jose.EdDSA, edKey(), "k", claims)

	tamper := func(tok string, part int, fn func(string) string) string {
		p := strings.Split(tok, ".")
		p[part] = fn(p[part])
		return strings.Join(p, ".")
	}
	otherPayload := func(string) string {
		c := kubeClaims("https://issuer.example", t0)
		c["sub"] = "system:serviceaccount:kube-system:admin"
		b, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	flipMiddle := func(s string) string {
		b := []byte(s)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name  string
		token string
		key   crypto.PublicKey
	}{
		{"tampered payload RS256", tamper(rsaTok, 1, otherPayload), &rk[0].PublicKey},
		{"tampered payload ES256", tamper(esTok, 1, otherPayload), &ecKey().PublicKey},
		{"tampered payload EdDSA", tamper(edTok, 1, otherPayload), edKey().Public()},
		{"tampered signature RS256", tamper(rsaTok, 2, flipMiddle), &rk[0].PublicKey},
		{"tampered signature ES256", tamper(esTok, 2, flipMiddle), &ecKey().PublicKey},
		{"tampered header", tamper(rsaTok, 0, func(string) string { return b64(`{"alg":"RS256","kid":"other"}`) }), &rk[0].PublicKey},
		{"truncated signature", tamper(rsaTok, 2, func(s string) string { return s[:len(s)-8] }), &rk[0].PublicKey},
		{"empty signature", tamper(rsaTok, 2, func(string) string { return "" }), &rk[0].PublicKey},
		{"other RSA key", rsaTok, &rk[1].PublicKey},
		{"PS256 token, other RSA key", psTok, &rk[1].PublicKey},
		{"RS256 token, EC key", rsaTok, &ecKey().PublicKey},
		{"RS256 token, Ed25519 key", rsaTok, edKey().Public()},
		{"RS256 token, HMAC bytes", rsaTok, []byte("secret")},
		{"RS256 token, private key", rsaTok, rk[0]},
		{"RS256 token, JWK", rsaTok, jose.JSONWebKey{Key: &rk[0].PublicKey}},
		{"RS256 token, nil", rsaTok, nil},
		{"ES256 token, P-384 key", esTok, &ec384Key().PublicKey},
		{"ES384 token, P-256 key", es384Tok, &ecKey().PublicKey},
		{"ES256 token, RSA key", esTok, &rk[0].PublicKey},
		{"EdDSA token, RSA key", edTok, &rk[0].PublicKey},
		{"EdDSA token, EC key", edTok, &ecKey().PublicKey},
		{"EdDSA token, short key", edTok, edKey().Public().(ed25519.PublicKey)[:16]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.token)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = a.Verify(tt.key)
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify: err = %v, want ErrSignature", err)
			}
		})
	}

	var zero Assertion
	if err := zero.Verify(&rk[0].PublicKey); !errors.Is(err, ErrSignature) {
		t.Errorf("zero Assertion: err = %v, want ErrSignature", err)
	}
}

func TestKeyFitsAlg(t *testing.T) {
	rk := rsaKeys()[0]
	keys := map[string]crypto.PublicKey{
		"rsa": &rk.PublicKey, "p256": &ecKey().PublicKey, "p384": &ec384Key().PublicKey, "ed": edKey().Public(),
		"hmac": []byte("0123456789abcdef0123456789abcdef"),
	}
	fits := map[jose.SignatureAlgorithm]string{
		jose.RS256: "rsa", jose.RS384: "rsa", jose.RS512: "rsa", jose.PS256: "rsa", jose.PS384: "rsa", jose.PS512: "rsa",
		jose.ES256: "p256", jose.ES384: "p384", jose.EdDSA: "ed",
		jose.HS256: "", jose.HS384: "", jose.HS512: "", jose.ES512: "", "none": "", "": "",
	}
	for alg, want := range fits {
		for name, key := range keys {
			if got := keyFitsAlg(key, alg); got != (name == want) {
				t.Errorf("keyFitsAlg(%s, %q) = %v", name, alg, got)
			}
		}
	}
}

func TestCheckTime(t *testing.T) {
	now := t0
	c := func(exp, nbf, iat time.Duration, set string) Claims {
		var cl Claims
		if strings.Contains(set, "e") {
			cl.Expiry = now.Add(exp)
		}
		if strings.Contains(set, "n") {
			cl.NotBefore = now.Add(nbf)
		}
		if strings.Contains(set, "i") {
			cl.IssuedAt = now.Add(iat)
		}
		return cl
	}
	const h, m = time.Hour, time.Minute
	tests := []struct {
		name   string
		claims Claims
		rules  TimeRules
		want   error
	}{
		{"valid", c(h, 0, 0, "eni"), TimeRules{}, nil},
		{"only exp", c(h, 0, 0, "e"), TimeRules{}, nil},
		{"missing exp", c(0, 0, 0, "ni"), TimeRules{}, ErrMissingExpiry},
		{"empty", Claims{}, TimeRules{}, ErrMissingExpiry},
		{"expired", c(-6*m, -h, -h, "eni"), TimeRules{}, ErrExpired},
		{"expired within leeway", c(-4*m, -h, -h, "eni"), TimeRules{}, nil},
		{"expired exactly at leeway", c(-5*m, -h, -h, "eni"), TimeRules{}, nil},
		{"expired with zero leeway", c(-time.Second, -h, -h, "eni"), TimeRules{Leeway: -1}, ErrExpired},
		{"expired with custom leeway", c(-90*time.Second, -h, -h, "eni"), TimeRules{Leeway: m}, ErrExpired},
		{"nbf in future", c(2*h, 6*m, 0, "en"), TimeRules{}, ErrNotYetValid},
		{"nbf within leeway", c(2*h, 4*m, 0, "en"), TimeRules{}, nil},
		{"iat in future", c(2*h, 0, 6*m, "ei"), TimeRules{}, ErrNotYetValid},
		{"iat within leeway", c(2*h, 0, 4*m, "ei"), TimeRules{}, nil},
		{"26h lifetime", c(26*h, 0, 0, "eni"), TimeRules{}, ErrLifetime},
		{"25h lifetime", c(25*h, 0, 0, "eni"), TimeRules{}, nil},
		{"26h lifetime from iat only", c(2*h, 0, -24*h, "ei"), TimeRules{}, ErrLifetime},
		{"26h lifetime from nbf only", c(2*h, -24*h, 0, "en"), TimeRules{}, ErrLifetime},
		{"earlier of nbf and iat counts", c(2*h, -24*h, 0, "eni"), TimeRules{}, ErrLifetime},
		{"earlier of iat and nbf counts", c(2*h, 0, -24*h, "eni"), TimeRules{}, ErrLifetime},
		{"exp 26h ahead without iat or nbf", c(26*h, 0, 0, "e"), TimeRules{}, ErrLifetime},
		{"custom lifetime", c(2*h, 0, 0, "ei"), TimeRules{MaxLifetime: h}, ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTime(&tt.claims, now, tt.rules)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckTime: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckTimeMessage(t *testing.T) {
	cl := Claims{Expiry: t0.Add(-time.Hour)}
	err := CheckTime(&cl, t0, TimeRules{})
	for _, want := range []string{"2025-06-01T11:00:00Z", "2025-06-01T12:00:00Z", "5m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestErrorsDoNotLeakToken(t *testing.T) {
	r := rsaKeys()
	tok := signToken(t, jose.RS256, r[0], "k", kubeClaims("https://issuer.example", t0))
	a, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Verify(&r[1].PublicKey)
	parts := strings.Split(tok, ".")
	for i, p := range parts {
		if strings.Contains(err.Error(), p[len(p)-16:]) {
			t.Errorf("Verify error contains part %d of the token: %v", i, err)
		}
	}
	if !slices.Contains(strings.Fields(err.Error()), "RS256,") {
		t.Errorf("Verify error %q does not name the alg", err)
	}
}
