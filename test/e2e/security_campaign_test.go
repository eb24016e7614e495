package e2e

// The bad-input campaign of issue 13: well over 500 malformed or malicious
// requests, generated as cross products of mutations, against the token
// endpoint, ARM and the Key Vault data plane of one real "wif serve".
//
// The contract it checks, for every request:
//   - every request is one wif must refuse, so a 2xx is a wrongful success;
//   - a request that carries a valid credential for its surface (an ARM or
//     Key Vault token, a valid client assertion) but bad input must get a
//     4xx. The one exception is net/http's ServeMux, in front of the token
//     service, answering a path with dot segments by a 307 to the same
//     origin's cleaned path: that issues nothing, and is counted as 3xx;
//   - never a 5xx, and never a dropped connection;
//   - the error body is the surface's: Entra's AADSTS JSON (error,
//     error_codes, error_description "AADSTSn: ..."), or ARM's and Key
//     Vault's {"error":{"code","message"}} — except net/http's own canned
//     400 for a request line it cannot parse, and ServeMux's "404 page not
//     found" for a path no route serves, which never reach wif's handlers;
//   - no answer (body or headers) echoes a secret, a real token, or the
//     token or assertion the request presented.
// Afterwards /healthz answers and the server's VmRSS grew by at most 50 MB.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Surfaces of the campaign.
const (
	surfToken = "token"
	surfARM   = "arm"
	surfKV    = "keyvault"
)

// cpReq is one request of the campaign.
type cpReq struct {
	surface string
	name    string
	method  string
	host    string // the Host header; "" is localhost:port
	target  string // the request target as sent: escaped path and query
	header  [][2]string
	body    []byte
	// authorized: the request carries a valid credential for its surface,
	// so only its input is bad, and the answer must be a 4xx.
	authorized bool
	// raw: written by hand on a TLS connection, because its target or
	// headers are bytes net/http's client refuses to send.
	raw bool
}

// cpResult is what came back.
type cpResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// cpTally counts one surface's outcomes.
type cpTally struct {
	requests, s2xx, s3xx, s4xx, s5xx, dropped, wrongful, badFormat, echoes, netHTTP, noRoute int
}

func (t *cpTally) add(o cpTally) {
	t.requests += o.requests
	t.s2xx += o.s2xx
	t.s3xx += o.s3xx
	t.s4xx += o.s4xx
	t.s5xx += o.s5xx
	t.dropped += o.dropped
	t.wrongful += o.wrongful
	t.badFormat += o.badFormat
	t.echoes += o.echoes
	t.netHTTP += o.netHTTP
	t.noRoute += o.noRoute
}

// cpTricks are the Unicode and encoding tricks, as raw strings (the
// campaign percent-encodes them where they go into a URL or a form).
var cpTricks = []struct{ name, s string }{
	{"RLO U+202E", "\u202e"},
	{"zero-width space", "\u200b"},
	{"zero-width joiner", "\u200d"},
	{"BOM", "\ufeff"},
	{"NUL", "\x00"},
	{"invalid UTF-8", "\xff\xfe"},
	{"overlong slash", "\xc0\xaf"},
	{"overlong dot", "\xc0\xae"},
	{"CESU surrogate", "\xed\xa0\x80"},
	{"fullwidth solidus", "\uff0f"},
}

// cpHomoglyph replaces the first character of s that has a look-alike:
// a Latin a, c, e or o by its Cyrillic twin, or a digit by its fullwidth
// form.
func cpHomoglyph(s string) string {
	twins := map[rune]string{'a': "\u0430", 'c': "\u0441", 'e': "\u0435", 'o': "\u043e", 'A': "\u0410", 'C': "\u0421", 'E': "\u0415", 'O': "\u041e"}
	for i, r := range s {
		if tw, ok := twins[r]; ok {
			return s[:i] + tw + s[i+1:]
		}
		if r >= '0' && r <= '9' {
			return s[:i] + string(rune(0xff10+r-'0')) + s[i+1:]
		}
	}
	return s + "\u0430"
}

// cpUnicodeVariants are s with each trick inserted in its middle, plus
// its homoglyph.
func cpUnicodeVariants(s string) []struct{ name, s string } {
	out := []struct{ name, s string }{{"homoglyph", cpHomoglyph(s)}}
	mid := len(s) / 2
	for _, tr := range cpTricks {
		out = append(out, struct{ name, s string }{tr.name, s[:mid] + tr.s + s[mid:]})
	}
	return out
}

// cpPathEscape percent-encodes every byte of s that is not unreserved, so
// that invalid UTF-8 goes on the wire as written.
func cpPathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

var cpB64 = base64.RawURLEncoding.EncodeToString

// cpSign signs input with key: an RSA or ECDSA private key (SHA-256), an
// HMAC key for alg HS256/384/512, or nothing (an empty signature).
func cpSign(alg string, key any, input string) string {
	h := sha256.Sum256([]byte(input))
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return cpB64(sig)
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return cpB64(sig)
	case []byte:
		var fn func() hash.Hash = sha256.New
		switch alg {
		case "HS384":
			fn = sha512.New384
		case "HS512":
			fn = sha512.New
		}
		m := hmac.New(fn, k)
		m.Write([]byte(input))
		return cpB64(m.Sum(nil))
	}
	return ""
}

// cpJWT is header.payload.signature with a raw JSON header, so that the
// header can be anything (duplicate keys, odd types).
func cpJWT(header string, payload []byte, alg string, key any) string {
	in := cpB64([]byte(header)) + "." + cpB64(payload)
	return in + "." + cpSign(alg, key, in)
}

// cpNamed is a named string.
type cpNamed struct{ name, s string }

// cpLifetimes are claim mutations of a JWT's lifetime that make it
// invalid, relative to now.
func cpLifetimes(now time.Time) []struct {
	name string
	mod  func(map[string]any)
} {
	u := func(d time.Duration) int64 { return now.Add(d).Unix() }
	type lm = struct {
		name string
		mod  func(map[string]any)
	}
	return []lm{
		{"exp missing", func(c map[string]any) { delete(c, "exp") }},
		{"exp in the past", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = u(-3*time.Hour), u(-3*time.Hour), u(-2*time.Hour)
		}},
		{"exp past the leeway", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = u(-time.Hour), u(-time.Hour), u(-10*time.Minute)
		}},
		{"nbf in the future", func(c map[string]any) { c["nbf"], c["exp"] = u(time.Hour), u(2*time.Hour) }},
		{"exp-iat 26h", func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = u(0), u(0), u(26*time.Hour) }},
		{"exp-nbf 26h without iat", func(c map[string]any) { delete(c, "iat"); c["nbf"], c["exp"] = u(-time.Minute), u(26*time.Hour) }},
		{"iat far future", func(c map[string]any) { c["iat"] = u(10 * 365 * 24 * time.Hour) }},
		{"exp 1e20", func(c map[string]any) { c["exp"] = 1e20 }},
		{"exp 1e300", func(c map[string]any) { c["exp"] = 1e300 }},
		{"exp past int64", func(c map[string]any) { c["exp"] = json.Number("99999999999999999999999") }},
		{"exp 1e400", func(c map[string]any) { c["exp"] = json.Number("1e400") }},
		{"exp negative", func(c map[string]any) { c["exp"] = -1 }},
		{"exp zero", func(c map[string]any) { c["exp"] = 0 }},
		{"iat hugely negative", func(c map[string]any) { c["iat"] = json.Number("-9223372036854775808") }},
		{"nbf 1e19", func(c map[string]any) { c["nbf"] = 1e19 }},
		{"exp as string", func(c map[string]any) { c["exp"] = strconv.FormatInt(u(time.Hour), 10) }},
		{"exp as float in the past", func(c map[string]any) { c["exp"] = float64(u(-2*time.Hour)) + 0.5 }},
		{"exp as float, 26h", func(c map[string]any) { c["iat"], c["exp"] = u(0), float64(u(26*time.Hour))+0.25 }},
		{"exp as bool", func(c map[string]any) { c["exp"] = true }},
		{"exp null", func(c map[string]any) { c["exp"] = nil }},
		{"exp as array", func(c map[string]any) { c["exp"] = []int64{u(time.Hour)} }},
		{"exp as object", func(c map[string]any) { c["exp"] = map[string]any{"$numberLong": u(time.Hour)} }},
		{"nbf as string", func(c map[string]any) { c["nbf"] = "yesterday" }},
		{"iat as string", func(c map[string]any) { c["iat"] = strconv.FormatInt(u(0), 10) }},
	}
}

// cpForgeKit is what forging tokens needs: a real token, its claims, the
// public keys a verifier holds (whose bytes an HMAC confusion uses), and
// an attacker's keys and URLs.
type cpForgeKit struct {
	real       string // a real, currently valid token
	kid, alg   string // of real's header
	claims     map[string]any
	pubKeys    []cpNamed // encodings of the verifier's public key
	attRSA     *rsa.PrivateKey
	attEC      *ecdsa.PrivateKey
	attCertDER []byte
	jku        string // an attacker's JWKS URL, serving attRSA and attEC
	now        time.Time
}

// forgeries are tokens derived from k.real that must all be refused.
func (k *cpForgeKit) forgeries() []cpNamed {
	parts := strings.Split(k.real, ".")
	hdr := func(alg, extra string) string {
		return `{"alg":"` + alg + `","typ":"JWT","kid":"` + k.kid + `"` + extra + `}`
	}
	payload, _ := json.Marshal(k.claims)
	claimsWith := func(mod func(map[string]any)) []byte {
		c := map[string]any{}
		for n, v := range k.claims {
			c[n] = v
		}
		mod(c)
		b, _ := json.Marshal(c)
		return b
	}
	var out []cpNamed
	add := func(name, tok string) { out = append(out, cpNamed{name, tok}) }

	// Malformed.
	add("empty", "")
	add("one dot", ".")
	add("two dots", "..")
	add("two parts", parts[0]+"."+parts[1])
	add("four parts", k.real+".x")
	add("five parts (JWE shape)", k.real+".x.y")
	add("garbage", "garbage")
	add("a.b.c", "a.b.c")
	add("header not base64", "!!!."+parts[1]+"."+parts[2])
	add("header not JSON", cpB64([]byte("not json"))+"."+parts[1]+"."+parts[2])
	add("header a JSON array", cpB64([]byte(`["alg"]`))+"."+parts[1]+"."+parts[2])
	add("header null", cpB64([]byte(`null`))+"."+parts[1]+"."+parts[2])
	add("payload not JSON", parts[0]+"."+cpB64([]byte("{"))+"."+parts[2])
	add("payload null", parts[0]+"."+cpB64([]byte("null"))+"."+parts[2])
	add("signature dropped", parts[0]+"."+parts[1]+".")
	add("signature not base64", parts[0]+"."+parts[1]+".***")
	add("signature truncated", parts[0]+"."+parts[1]+"."+parts[2][:len(parts[2])/2])
	add("signature flipped", parts[0]+"."+parts[1]+"."+flip(parts[2]))
	add("padded base64", parts[0]+"=."+parts[1]+"."+parts[2])
	add("standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(k.real)+"==")
	add("header 32 KB", cpB64([]byte(`{"alg":"`+k.alg+`","kid":"`+k.kid+`","x":"`+strings.Repeat("x", 32<<10)+`"}`))+"."+parts[1]+"."+parts[2])
	add("header nested 5000 deep", cpB64([]byte(`{"alg":"`+k.alg+`","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`))+"."+parts[1]+"."+parts[2])
	add("payload nested 20000 deep", parts[0]+"."+cpB64([]byte(strings.Repeat(`{"a":`, 20000)+"1"+strings.Repeat("}", 20000)))+"."+parts[2])
	add("NUL inside", parts[0]+"\x00."+parts[1]+"."+parts[2])

	// The real signature over something else.
	add("payload tampered (aud)", parts[0]+"."+cpB64(claimsWith(func(c map[string]any) { c["aud"] = "https://evil.example" }))+"."+parts[2])
	add("payload tampered (exp +1y)", parts[0]+"."+cpB64(claimsWith(func(c map[string]any) { c["exp"] = k.now.Add(365 * 24 * time.Hour).Unix() }))+"."+parts[2])
	add("payload tampered (sub)", parts[0]+"."+cpB64(claimsWith(func(c map[string]any) { c["sub"] = "attacker" }))+"."+parts[2])
	add("payload tampered (tid)", parts[0]+"."+cpB64(claimsWith(func(c map[string]any) { c["tid"] = "00000000-0000-0000-0000-000000000bad" }))+"."+parts[2])
	add("payload tampered (expired)", parts[0]+"."+cpB64(claimsWith(func(c map[string]any) { c["exp"] = k.now.Add(-time.Hour).Unix() }))+"."+parts[2])

	// alg confusion, with the real kid.
	for _, alg := range []string{"none", "None", "NONE", "nOnE", ""} {
		add("alg "+strconv.Quote(alg), cpB64([]byte(hdr(alg, "")))+"."+cpB64(payload)+".")
		add("alg "+strconv.Quote(alg)+" with the real signature", cpB64([]byte(hdr(alg, "")))+"."+parts[1]+"."+parts[2])
	}
	add("alg missing", cpB64([]byte(`{"typ":"JWT","kid":"`+k.kid+`"}`))+"."+parts[1]+"."+parts[2])
	add("alg an array", cpB64([]byte(`{"alg":["`+k.alg+`"],"kid":"`+k.kid+`"}`))+"."+parts[1]+"."+parts[2])
	add("alg duplicated, none last", cpJWT(`{"alg":"`+k.alg+`","alg":"none","kid":"`+k.kid+`"}`, payload, "", nil))
	add("alg duplicated, none first", cpJWT(`{"alg":"none","alg":"`+k.alg+`","kid":"`+k.kid+`"}`, payload, k.alg, k.attEC))
	for _, pk := range k.pubKeys {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			add(alg+" keyed with the public key as "+pk.name, cpJWT(hdr(alg, ""), payload, alg, []byte(pk.s)))
		}
	}
	add("HS256 keyed with the empty key", cpJWT(hdr("HS256", ""), payload, "HS256", []byte{}))
	other := map[string]string{"RS256": "ES256", "ES256": "RS256"}[k.alg]
	add(other+" header on the "+k.alg+" key, real signature", cpB64([]byte(hdr(other, "")))+"."+parts[1]+"."+parts[2])
	add("RS256 header on the key, attacker RSA signature", cpJWT(hdr("RS256", ""), payload, "RS256", k.attRSA))
	add("ES256 header on the key, attacker EC signature", cpJWT(hdr("ES256", ""), payload, "ES256", k.attEC))
	for _, alg := range []string{"PS256", "ES384", "ES512", "EdDSA", "RS384", "RS512"} {
		add(alg+" header, real signature", cpB64([]byte(hdr(alg, "")))+"."+parts[1]+"."+parts[2])
	}

	// kid tricks, signed by the attacker.
	for _, kid := range []cpNamed{
		{"missing", ""}, {"empty", `"kid":""`}, {"unknown", `"kid":"no-such-key"`},
		{"path traversal", `"kid":"../../../../../etc/passwd"`}, {"URL", `"kid":"https://evil.example/jwks"`},
		{"SQL", `"kid":"' OR '1'='1"`}, {"NUL", `"kid":"` + k.kid + `\u0000"`}, {"8 KB", `"kid":"` + strings.Repeat("k", 8<<10) + `"`},
		{"a number", `"kid":1`}, {"an array", `"kid":["` + k.kid + `"]`}, {"an object", `"kid":{"id":"` + k.kid + `"}`},
		{"real, case changed", `"kid":"` + strings.ToUpper(k.kid) + `"`}, {"real plus space", `"kid":"` + k.kid + ` "`},
	} {
		h := `{"alg":"RS256","typ":"JWT"`
		if kid.s != "" {
			h += "," + kid.s
		}
		add("kid "+kid.name+", attacker RSA", cpJWT(h+"}", payload, "RS256", k.attRSA))
	}
	add("real kid, attacker RSA", cpJWT(hdr("RS256", ""), payload, "RS256", k.attRSA))
	add("real kid, attacker EC", cpJWT(hdr("ES256", ""), payload, "ES256", k.attEC))

	// Keys and key URLs embedded in the header.
	jwkRSA, _ := json.Marshal(jose.JSONWebKey{Key: k.attRSA.Public(), KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	jwkEC, _ := json.Marshal(jose.JSONWebKey{Key: k.attEC.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	x5c := `["` + base64.StdEncoding.EncodeToString(k.attCertDER) + `"]`
	for _, e := range []struct {
		name, extra, alg string
		key              any
	}{
		{"jwk (RSA)", `,"jwk":` + string(jwkRSA), "RS256", k.attRSA},
		{"jwk (EC)", `,"jwk":` + string(jwkEC), "ES256", k.attEC},
		{"jku", `,"jku":"` + k.jku + `"`, "RS256", k.attRSA},
		{"jku unreachable", `,"jku":"https://127.0.0.1:1/jwks"`, "RS256", k.attRSA},
		{"x5u", `,"x5u":"` + k.jku + `"`, "RS256", k.attRSA},
		{"x5c self-signed", `,"x5c":` + x5c, "RS256", k.attRSA},
		{"x5t", `,"x5t":"` + cpB64(make([]byte, 20)) + `"`, "RS256", k.attRSA},
		{"crit unknown", `,"crit":["exp"],"exp":1`, "RS256", k.attRSA},
		{"jku and jwk", `,"jku":"` + k.jku + `","jwk":` + string(jwkRSA), "RS256", k.attRSA},
	} {
		add("embedded "+e.name, cpJWT(hdr(e.alg, e.extra), payload, e.alg, e.key))
		add("embedded "+e.name+", no kid", cpJWT(`{"alg":"`+e.alg+`","typ":"JWT"`+e.extra+`}`, payload, e.alg, e.key))
	}

	// Lifetime edge cases, forged with the real kid.
	for _, lm := range cpLifetimes(k.now) {
		add("lifetime "+lm.name+", attacker RSA", cpJWT(hdr("RS256", ""), claimsWith(lm.mod), "RS256", k.attRSA))
	}
	return out
}

// cpClient sends campaign requests to 127.0.0.1:port whatever the Host,
// without following redirects.
func cpClient(t testing.TB, caFile, port string) *http.Client {
	c := kvLoopbackClient(t, caFile, port)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 8
	return c
}

// cpSend sends r and reads the answer.
func cpSend(ctx context.Context, client *http.Client, pool *x509.CertPool, port string, r cpReq) cpResult {
	host := r.host
	if host == "" {
		host = "localhost:" + port
	}
	raw := r.raw
	for _, h := range r.header {
		raw = raw || strings.ContainsFunc(h[1], func(c rune) bool { return c < ' ' || c == 0x7f })
	}
	if raw {
		return cpSendRaw(ctx, pool, port, host, r)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, "https://localhost:"+port+"/", body)
	if err != nil {
		return cpResult{err: err}
	}
	p, q, _ := strings.Cut(r.target, "?")
	req.URL.Opaque, req.URL.RawQuery = p, q
	req.Host = host
	for _, h := range r.header {
		req.Header.Add(h[0], h[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return cpResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return cpResult{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// cpSendRaw writes r's bytes as they are on a new TLS connection.
func cpSendRaw(ctx context.Context, pool *x509.CertPool, port, host string, r cpReq) cpResult {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+port)
	if err != nil {
		return cpResult{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.method, r.target, host)
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(r.body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return cpResult{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return cpResult{err: err}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return cpResult{status: resp.StatusCode, header: resp.Header, body: rb, err: err}
}

// cpNetHTTPRefusal reports whether res is net/http's own answer to a
// request it could not parse (it never reaches wif's handlers).
func cpNetHTTPRefusal(res cpResult) bool {
	return strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") &&
		(strings.HasPrefix(string(res.body), "400 Bad Request") || strings.HasPrefix(string(res.body), "431 Request Header Fields Too Large"))
}

// cpNoRoute reports whether res is ServeMux's answer to a path that no
// route serves.
func cpNoRoute(res cpResult) bool {
	return res.status == http.StatusNotFound && strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") &&
		string(res.body) == "404 page not found\n"
}

// cpCleanRedirect reports whether res is ServeMux's redirect of target,
// which has dot segments, to its cleaned path on the same origin.
func cpCleanRedirect(target string, res cpResult) bool {
	p, _, _ := strings.Cut(target, "?")
	loc := res.header.Get("Location")
	dots := strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../")
	return (res.status == http.StatusTemporaryRedirect || res.status == http.StatusMovedPermanently) && dots &&
		!strings.HasPrefix(loc, "//") && loc == path.Clean(p)
}

// cpFormatProblem says what is wrong with res's body for its surface, or "".
func cpFormatProblem(surface string, res cpResult) string {
	if !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		return fmt.Sprintf("Content-Type %q", res.header.Get("Content-Type"))
	}
	switch surface {
	case surfToken:
		var e struct {
			Error string `json:"error"`
			Codes []int  `json:"error_codes"`
			Desc  string `json:"error_description"`
		}
		if err := json.Unmarshal(res.body, &e); err != nil || e.Error == "" || len(e.Codes) == 0 ||
			!strings.HasPrefix(e.Desc, fmt.Sprintf("AADSTS%d: ", e.Codes[0])) {
			return "not an AADSTS error"
		}
	default:
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(res.body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
			return "not an " + surface + ` {"error":{"code","message"}} body`
		}
	}
	return ""
}

// cpVmRSS is the VmRSS of process pid, in bytes.
func cpVmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read VmRSS: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				t.Fatalf("VmRSS line %q", line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func cpShort(s string) string {
	s = strconv.QuoteToASCII(s)
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// TestSecurityCampaign runs the bad-input campaign of issue 13.
func TestSecurityCampaign(t *testing.T) {
	start := time.Now()
	iss := newIssuer(t)
	// ES256 access tokens, so that "RS256 header on an ES key" is a real
	// confusion.
	w := startWif(t, "--extra-ca-file", iss.CAFile, "--token-signing-alg", "ES256")
	u, err := url.Parse(w.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	b := w.Boot
	tenant, sub := b.TenantID, b.SubscriptionID
	now := time.Now()
	const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// The estate: a group, a federated identity, a vault with one secret.
	const rg, idName, fic, vault = "campRG", "camp-id", "camp-fic", "campkv"
	w.cli(t, "group", "create", "-n", rg, "-l", "eastus")
	var id struct{ ClientID, PrincipalID string }
	if err := json.Unmarshal([]byte(w.cli(t, "identity", "create", "-n", idName, "-g", rg)), &id); err != nil || id.ClientID == "" {
		t.Fatalf("identity create: %v", err)
	}
	w.cli(t, "identity", "federated-credential", "create", "--name", fic, "--identity-name", idName, "-g", rg,
		"--issuer", iss.URL, "--subject", "system:serviceaccount:camp:app")
	w.cli(t, "keyvault", "create", "-n", vault, "-g", rg)
	vaultScope := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.KeyVault/vaults/" + vault
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", id.PrincipalID, "--assignee-principal-type", "ServicePrincipal",
		"--role", kvRoleAdministrator, "--scope", vaultScope)

	kvResource := "https://vault.localhost:" + port
	armScope := strings.TrimSuffix(b.ARMEndpoint, "/") + "/.default"
	goodAssertion := iss.mint(t, iss.saClaims("camp", "app", now))
	assertionForm := func(scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id.ClientID}, "client_assertion_type": {jwtBearer},
			"client_assertion": {goodAssertion}, "scope": {scope}}
	}
	mustToken := func(form url.Values) string {
		tr := w.postToken(t, tenant, form)
		if tr.Status != 200 || tr.AccessToken == "" {
			t.Fatalf("token: %d %s", tr.Status, tr.Description)
		}
		return tr.AccessToken
	}
	kvToken := mustToken(assertionForm(kvResource + "/.default"))             // the identity, for Key Vault
	idARMToken := mustToken(assertionForm(armScope))                          // the identity, for ARM
	armToken := amARMToken(t, w)                                              // the admin, for ARM
	adminKVToken := amToken(t, w, kvResource+"/.default")                     // the admin, for Key Vault (no data role)
	secretValue := "campaign-secret-" + strconv.FormatInt(now.UnixNano(), 36) // must never come back
	kvHost := vault + ".vault.localhost:" + port

	client := cpClient(t, b.CAFile, port)
	caPEM, err := os.ReadFile(b.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	send := func(r cpReq) cpResult { return cpSend(context.Background(), client, pool, port, r) }
	bearer := func(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }
	jsonBearer := func(tok string) [][2]string {
		return [][2]string{{"Authorization", "Bearer " + tok}, {"Content-Type", "application/json"}}
	}

	// The vault's secret, and a backup of it to tamper with.
	if r := send(cpReq{method: "PUT", host: kvHost, target: "/secrets/s1?api-version=7.6", header: jsonBearer(kvToken),
		body: []byte(`{"value":"` + secretValue + `"}`)}); r.err != nil || r.status != 200 {
		t.Fatalf("set secret: %v %d %s", r.err, r.status, r.body)
	}
	r := send(cpReq{method: "GET", host: kvHost, target: "/secrets/s1?api-version=7.6", header: bearer(kvToken)})
	var got struct{ ID, Value string }
	if json.Unmarshal(r.body, &got) != nil || got.Value != secretValue {
		t.Fatalf("get secret: %d %s", r.status, r.body)
	}
	version := got.ID[strings.LastIndex(got.ID, "/")+1:]
	r = send(cpReq{method: "POST", host: kvHost, target: "/secrets/s1/backup?api-version=7.6", header: jsonBearer(kvToken)})
	var backup struct{ Value string }
	if json.Unmarshal(r.body, &backup) != nil || backup.Value == "" {
		t.Fatalf("backup: %d %s", r.status, r.body)
	}

	// An attacker's keys and JWKS URL; wif must never fetch it.
	attRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}}, attRSA.Public(), attRSA)
	if err != nil {
		t.Fatal(err)
	}
	var attackerHits atomic.Int64
	attacker := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		attackerHits.Add(1)
		json.NewEncoder(rw).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: attRSA.Public(), Algorithm: "RS256"}, {Key: attEC.Public(), Algorithm: "ES256"}}})
	}))
	t.Cleanup(attacker.Close)

	// The verifier's public keys, in the encodings an HMAC confusion tries.
	pubKeys := func(keys []jose.JSONWebKey) []cpNamed {
		var out []cpNamed
		for _, k := range keys {
			j, _ := json.Marshal(k)
			der, _ := x509.MarshalPKIXPublicKey(k.Key)
			out = append(out, cpNamed{"JWK " + k.KeyID, string(j)}, cpNamed{"DER " + k.KeyID, string(der)},
				cpNamed{"PEM " + k.KeyID, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
			switch pk := k.Key.(type) {
			case *ecdsa.PublicKey:
				raw, _ := pk.Bytes()
				out = append(out, cpNamed{"EC point " + k.KeyID, string(raw)})
			case *rsa.PublicKey:
				out = append(out, cpNamed{"PKCS1 " + k.KeyID, string(x509.MarshalPKCS1PublicKey(pk))})
			}
		}
		return out
	}
	var wifJWKS jose.JSONWebKeySet
	if resp, err := w.HTTP.Get(w.URL + "/" + tenant + "/discovery/v2.0/keys"); err != nil {
		t.Fatal(err)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&wifJWKS)
		resp.Body.Close()
		if err != nil || len(wifJWKS.Keys) == 0 {
			t.Fatalf("wif JWKS: %v", err)
		}
	}
	kitFor := func(real string, keys []jose.JSONWebKey) *cpForgeKit {
		var h struct{ Alg, Kid string }
		hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(real, ".")[0])
		json.Unmarshal(hb, &h)
		return &cpForgeKit{real: real, kid: h.Kid, alg: h.Alg, claims: kvClaims(t, real), pubKeys: pubKeys(keys),
			attRSA: attRSA, attEC: attEC, attCertDER: certDER, jku: attacker.URL + "/jwks", now: now}
	}
	var issJWKS []jose.JSONWebKey
	for i, k := range iss.keys {
		issJWKS = append(issJWKS, jose.JSONWebKey{Key: k.Public(), KeyID: iss.kids[i], Algorithm: "RS256", Use: "sig"})
	}

	var cases []cpReq
	add := func(c cpReq) { cases = append(cases, c) }

	// ---------------------------------------------------------------- token endpoint
	tokenPath := "/" + tenant + "/oauth2/v2.0/token"
	formReq := func(name, target, ctype string, body string, authorized bool) cpReq {
		c := cpReq{surface: surfToken, name: name, method: "POST", target: target, body: []byte(body), authorized: authorized}
		if ctype != "" {
			c.header = [][2]string{{"Content-Type", ctype}}
		}
		return c
	}
	const formCT = "application/x-www-form-urlencoded"
	postForm := func(name string, v url.Values, authorized bool) {
		add(formReq(name, tokenPath, formCT, v.Encode(), authorized))
	}
	// Forged and invalid assertions, through both grants.
	for _, f := range kitFor(goodAssertion, issJWKS).forgeries() {
		v := assertionForm(armScope)
		v.Set("client_assertion", f.s)
		postForm("assertion "+f.name, v, false)
		postForm("subject_token "+f.name, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {id.ClientID},
			"subject_token": {f.s}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "scope": {armScope}}, false)
	}
	// Lifetime edge cases signed with the issuer's real key: the signature
	// verifies, the claims do not.
	for _, lm := range cpLifetimes(now) {
		c := iss.saClaims("camp", "app", now)
		lm.mod(c)
		v := assertionForm(armScope)
		v.Set("client_assertion", iss.mint(t, c))
		postForm("real key, lifetime "+lm.name, v, false)
	}
	// Claim tricks signed with the real key.
	for _, tr := range cpUnicodeVariants("system:serviceaccount:camp:app") {
		c := iss.saClaims("camp", "app", now)
		c["sub"] = tr.s
		v := assertionForm(armScope)
		v.Set("client_assertion", iss.mint(t, c))
		postForm("real key, sub "+tr.name, v, false)
	}
	for _, tr := range cpUnicodeVariants(iss.URL) {
		c := iss.saClaims("camp", "app", now)
		c["iss"] = tr.s
		v := assertionForm(armScope)
		v.Set("client_assertion", iss.mint(t, c))
		postForm("real key, iss "+tr.name, v, false)
	}
	for _, aud := range []any{"api://AzureADTokenExchange\u200b", "api://azureadtokenexchange", []string{}, []string{"api://other"}, map[string]any{"aud": "api://AzureADTokenExchange"}, 42} {
		c := iss.saClaims("camp", "app", now)
		c["aud"] = aud
		v := assertionForm(armScope)
		v.Set("client_assertion", iss.mint(t, c))
		postForm(fmt.Sprintf("real key, aud %v", aud), v, false)
	}
	// A wif-issued token and the admin's secret as assertions.
	for _, tok := range []cpNamed{{"wif ARM token", armToken}, {"wif Key Vault token", kvToken}} {
		v := assertionForm(armScope)
		v.Set("client_assertion", tok.s)
		postForm("assertion is a "+tok.name, v, false)
	}
	// Client secrets that are almost right.
	secretForm := func(secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {b.ClientID}, "client_secret": {secret}, "scope": {armScope}}
	}
	for _, s := range []cpNamed{
		{"empty-ish", " "}, {"trailing space", b.ClientSecret + " "}, {"leading space", " " + b.ClientSecret}, {"prefix", b.ClientSecret[:len(b.ClientSecret)-1]},
		{"extended", b.ClientSecret + "x"}, {"upper-cased", strings.ToUpper(b.ClientSecret)}, {"lower-cased", strings.ToLower(b.ClientSecret)},
		{"64 KB", strings.Repeat("s", 60<<10)},
	} {
		if s.s != b.ClientSecret {
			postForm("client_secret "+s.name, secretForm(s.s), false)
		}
	}
	for _, tr := range cpUnicodeVariants(b.ClientSecret) {
		postForm("client_secret "+tr.name, secretForm(tr.s), false)
	}
	// From here on, the credential is valid and only the input is bad.
	good := assertionForm(armScope).Encode()
	// Duplicate parameters with conflicting values (RFC 6749 section 3.2:
	// parameters MUST NOT be included more than once), in both orders and
	// split between the body and the query string.
	for _, d := range []struct{ name, other string }{
		{"client_id", b.ClientID}, {"client_id", "00000000-0000-0000-0000-000000000001"},
		{"grant_type", "password"}, {"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
		{"client_assertion", "garbage"}, {"client_assertion", iss.mint(t, iss.saClaims("other", "app", now))},
		{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
		{"scope", kvResource + "/.default"}, {"client_secret", b.ClientSecret},
	} {
		extra := url.Values{d.name: {d.other}}.Encode()
		add(formReq("duplicate "+d.name+" (conflicting value last)", tokenPath, formCT, good+"&"+extra, true))
		add(formReq("duplicate "+d.name+" (conflicting value first)", tokenPath, formCT, extra+"&"+good, true))
		add(formReq("duplicate "+d.name+" (conflicting value in the query)", tokenPath+"?"+extra, formCT, good, true))
	}
	add(formReq("every parameter twice, same values", tokenPath, formCT, good+"&"+good, true))
	// Huge parameters and bodies.
	for _, n := range []int{8 << 10, 60 << 10} {
		v := assertionForm(armScope + " " + strings.Repeat("x", n))
		add(formReq(fmt.Sprintf("scope with %d KB of junk", n>>10), tokenPath, formCT, v.Encode(), true))
		v = assertionForm(strings.Repeat("a", n) + "/.default")
		add(formReq(fmt.Sprintf("%d KB resource", n>>10), tokenPath, formCT, v.Encode(), true))
		v = assertionForm(armScope)
		v.Set("client_id", strings.Repeat("c", n))
		add(formReq(fmt.Sprintf("%d KB client_id", n>>10), tokenPath, formCT, v.Encode(), true))
	}
	for _, n := range []int{64<<10 + 1, 1 << 20, 8 << 20} {
		add(formReq(fmt.Sprintf("%d-byte body (valid form, padded)", n), tokenPath, formCT, good+"&pad="+strings.Repeat("p", n-len(good)), true))
	}
	add(formReq("1001 parameters", tokenPath, formCT, good+strings.Repeat("&p=1", 1001), true))
	add(formReq("bad percent-encoding", tokenPath, formCT, good+"&x=%zz", true))
	add(formReq("semicolon separator", tokenPath, formCT, good+";x=1", true))
	// Content types other than a form.
	for _, ct := range []string{"application/json", "text/plain", "multipart/form-data; boundary=x", "application/xml",
		"application/x-www-form-urlencoded-evil", "x-www-form-urlencoded", ";;;", "application/x-www-form-urlencoded; charset", "*/*"} {
		add(formReq("Content-Type "+ct, tokenPath, ct, good, true))
	}
	add(formReq("JSON body", tokenPath, "application/json", `{"grant_type":"client_credentials","client_id":"`+id.ClientID+`","client_assertion":"`+goodAssertion+`"}`, true))
	// Unicode tricks in the tenant, the client id and the scope.
	for _, tr := range cpUnicodeVariants(tenant) {
		add(formReq("tenant "+tr.name, "/"+cpPathEscape(tr.s)+"/oauth2/v2.0/token", formCT, good, true))
	}
	for _, tr := range cpUnicodeVariants(id.ClientID) {
		v := assertionForm(armScope)
		v.Set("client_id", tr.s)
		postForm("client_id "+tr.name, v, true)
	}
	for _, tr := range cpUnicodeVariants(strings.TrimSuffix(armScope, "/.default")) {
		postForm("scope "+tr.name, assertionForm(tr.s+"/.default"), true)
	}
	add(formReq("percent-encoded NUL in a value", tokenPath, formCT, good+"%00", true))
	add(formReq("double-encoded NUL in the tenant", "/"+tenant+"%2500/oauth2/v2.0/token", formCT, good, true))
	// Resources wif does not serve (the audience allow-list; the Azure
	// audiences its clients name, such as https://management.azure.com,
	// are served).
	for _, res := range []string{"https://evil.example", "https://graph.microsoft.com", "api://AzureADTokenExchange",
		"https://management.azure.com.evil.example", "https://user@management.azure.com", "https://management.azure.com/?x=1",
		"http://management.azure.com", "https://vault.azure.net.evil.example", kvResource + ".evil.example", "urn:x", b.ClientID} {
		postForm("resource "+res, assertionForm(res+"/.default"), true)
	}
	// Paths: traversal, double encoding, oversized tenants, other methods.
	for _, p := range []string{
		"/" + tenant + "/../" + tenant + "/oauth2/v2.0/token",
		"/x/../" + tenant + "/oauth2/v2.0/token",
		"/%2e%2e/" + tenant + "/oauth2/v2.0/token",
		"/" + tenant + "%2F..%2F" + tenant + "/oauth2/v2.0/token",
		"/" + tenant + "%2Foauth2%2Fv2.0%2Ftoken",
		"/%252e%252e/" + tenant + "/oauth2/v2.0/token",
		"/" + tenant + "/oauth2/v2.0/token/..",
		"/" + tenant + "/oauth2/v2.0/token%2F..%2F..",
		"/" + tenant + "/oauth2/v2.0/./token",
		"/" + strings.Repeat("t", 8<<10) + "/oauth2/v2.0/token",
		"/" + tenant + strings.Repeat("/..", 50) + "/" + tenant + "/oauth2/v2.0/token",
		"/" + tenant + "/oauth2/v9.9/token",
		"/" + tenant + "/oauth2/v2.0/token.json",
		"/" + strings.ToUpper(tenant) + "%20/oauth2/v2.0/token",
	} {
		add(formReq("path "+p, p, formCT, good, true))
	}
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		c := formReq("method "+m, tokenPath, formCT, good, true)
		c.method = m
		add(c)
	}
	// Raw bytes net/http's client will not write.
	add(cpReq{surface: surfToken, name: "raw NUL in the tenant", method: "POST", target: "/" + tenant + "\x00/oauth2/v2.0/token", raw: true,
		header: [][2]string{{"Content-Type", formCT}}, body: []byte(good), authorized: true})
	add(cpReq{surface: surfToken, name: "raw invalid UTF-8 in the tenant", method: "POST", target: "/" + tenant + "\xff/oauth2/v2.0/token", raw: true,
		header: [][2]string{{"Content-Type", formCT}}, body: []byte(good), authorized: true})
	add(cpReq{surface: surfToken, name: "raw Content-Type with NUL", method: "POST", target: tokenPath, raw: true,
		header: [][2]string{{"Content-Type", formCT + "\x00"}}, body: []byte(good), authorized: true})
	add(cpReq{surface: surfToken, name: "raw two Content-Types", method: "POST", target: tokenPath, raw: true,
		header: [][2]string{{"Content-Type", "application/json"}, {"Content-Type", formCT}}, body: []byte(good), authorized: true})
	// Nothing valid at all.
	for _, body := range []string{"", "=", "&&&", "grant_type", "grant_type=", "grant_type=client_credentials",
		"grant_type=client_credentials&client_id=" + id.ClientID, "grant_type=authorization_code&code=x&client_id=" + id.ClientID,
		"grant_type=refresh_token&refresh_token=" + armToken + "&client_id=" + b.ClientID,
		"grant_type=password&username=admin&password=admin&client_id=" + b.ClientID} {
		add(formReq("form "+cpShort(body), tokenPath, formCT, body, false))
	}

	// ---------------------------------------------------------------- ARM
	armBase := "/subscriptions/" + sub
	groupP := func(sub, name string) string { return "/subscriptions/" + sub + "/resourceGroups/" + name }
	identityP := func(sub, rg, name string) string {
		return groupP(sub, rg) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	}
	ficP := func(sub, rg, id, name string) string {
		return identityP(sub, rg, id) + "/federatedIdentityCredentials/" + name
	}
	vaultP := func(sub, rg, name string) string {
		return groupP(sub, rg) + "/providers/Microsoft.KeyVault/vaults/" + name
	}
	const groupAPI, msiAPI, kvAPI = "?api-version=2021-04-01", "?api-version=2024-11-30", "?api-version=2023-07-01"
	type armKind struct {
		name  string
		path  func(name string) string // escaped name -> escaped path
		api   string
		body  string
		patch bool
		// unicodeOK: letters outside ASCII make a valid name (groups).
		unicodeOK bool
		existing  string
	}
	ficBody := `{"properties":{"issuer":"https://issuer.example.com","subject":"system:serviceaccount:a:b","audiences":["api://AzureADTokenExchange"]}}`
	vaultBody := `{"location":"eastus","properties":{"tenantId":"` + tenant + `","sku":{"family":"A","name":"standard"}}}`
	kinds := []armKind{
		{"group", func(n string) string { return groupP(sub, n) }, groupAPI, `{"location":"eastus"}`, true, true, rg},
		{"identity", func(n string) string { return identityP(sub, rg, n) }, msiAPI, `{"location":"eastus"}`, true, false, idName},
		{"fic", func(n string) string { return ficP(sub, rg, idName, n) }, msiAPI, ficBody, false, false, fic},
		{"vault", func(n string) string { return vaultP(sub, rg, n) }, kvAPI, vaultBody, true, false, vault},
	}
	armReq := func(name, method, target string, h [][2]string, body string, authorized bool) cpReq {
		c := cpReq{surface: surfARM, name: name, method: method, target: target, header: h, authorized: authorized}
		if method == "PUT" || method == "PATCH" || method == "POST" {
			c.body = []byte(body)
		}
		return c
	}
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	for _, k := range kinds {
		fresh := k.path("fresh" + k.name + "1")
		existing := k.path(k.existing)
		// Bodies, on a fresh and on the existing resource.
		bodies := []cpNamed{
			{"truncated JSON", k.body[:len(k.body)/2]}, {"not JSON", "<xml/>"}, {"empty", ""}, {"array", "[]"}, {"null", "null"},
			{"string", `"eastus"`}, {"number", "42"}, {"trailing garbage", k.body + " x"}, {"two objects", k.body + k.body},
			{"wrong type", `{"location":42,"properties":"x"}`}, {"properties an array", `{"location":"eastus","properties":[]}`},
			{"deeply nested object", `{"location":"eastus","tags":` + deep(20000) + `}`},
			{"deeply nested array", `{"location":"eastus","tags":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`},
			{"3 MB body", `{"location":"eastus","tags":{"a":"` + strings.Repeat("x", 3<<20) + `"}}`},
			{"valid then 2 MB of spaces", k.body + strings.Repeat(" ", 2<<20)},
			{"NUL byte", strings.Replace(k.body, `"`, "\"\x00", 1)},
			{"invalid UTF-8 outside strings", k.body[:1] + "\xff" + k.body[1:]},
			{"unknown field", `{"bogus":true,` + k.body[1:]},
			{"duplicate key, conflicting", strings.TrimSuffix(k.body, "}") + `,"location":42}`},
			{"BOM prefix", "\ufeff" + k.body},
		}
		for _, bd := range bodies {
			add(armReq(k.name+" PUT fresh, body "+bd.name, "PUT", fresh+k.api, jsonBearer(armToken), bd.s, true))
			add(armReq(k.name+" PUT existing, body "+bd.name, "PUT", existing+k.api, jsonBearer(armToken), bd.s, true))
			if k.patch {
				add(armReq(k.name+" PATCH existing, body "+bd.name, "PATCH", existing+k.api, jsonBearer(armToken), bd.s, true))
			}
		}
		// Names: traversal, encodings, oversized, Unicode.
		names := []cpNamed{
			{"dot-dot", ".."}, {"%2e%2e", "%2e%2e"}, {"%2E", "%2E"}, {"encoded slash", k.existing + "%2F..%2F" + k.existing},
			{"double-encoded dot-dot", "%252e%252e"}, {"double-encoded slash", k.existing + "%252F"}, {"traversal to another subscription", "..%2F..%2F..%2Fsubscriptions%2F00000000-0000-0000-0000-000000000000"},
			{"percent-encoded NUL", k.existing + "%00"}, {"bad percent-encoding", "%zz"}, {"1000 characters", strings.Repeat("n", 1000)},
			{"64 KB", strings.Repeat("n", 64<<10)}, {"space", "a%20b"}, {"trailing period", k.existing + "."},
		}
		for _, tr := range cpUnicodeVariants(k.existing) {
			if tr.name == "homoglyph" && k.unicodeOK {
				continue // a valid group name that does not exist
			}
			names = append(names, cpNamed{tr.name, cpPathEscape(tr.s)})
		}
		for _, n := range names {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				add(armReq(k.name+" "+m+" name "+n.name, m, k.path(n.s)+k.api, jsonBearer(armToken), k.body, true))
			}
		}
		// api-versions, on requests that are refused anyway (wif does not
		// check ARM api-versions).
		for _, api := range []string{"", "?api-version=", "?api-version=garbage", "?api-version=9999-12-31", "?api-version=2021-04-01%00",
			"?api-version=" + strings.Repeat("9", 10<<10), "?api-version=2021-04-01&api-version=1999-01-01", "?api-version[]=x"} {
			add(armReq(k.name+" PUT bad name, api-version "+cpShort(api), "PUT", k.path("%2e%2e")+api, jsonBearer(armToken), k.body, true))
			add(armReq(k.name+" PUT bad body, api-version "+cpShort(api), "PUT", fresh+api, jsonBearer(armToken), "{", true))
		}
	}
	// Traversal through the parents.
	for _, p := range []string{
		armBase + "/resourceGroups/" + rg + "/../" + rg,
		armBase + "/resourceGroups/%2e%2e/resourceGroups/" + rg,
		armBase + "/resourceGroups/x/..%2F" + rg,
		armBase + "/resourceGroups/x%2F..%2F" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + idName,
		"/subscriptions/%2e%2e/subscriptions/" + sub + "/resourceGroups/" + rg,
		"/subscriptions/" + sub + "%2F..%2F" + sub + "/resourceGroups/" + rg,
		"/subscriptions/" + cpPathEscape(cpHomoglyph(sub)) + "/resourceGroups/" + rg,
		"/subscriptions/" + sub + "%00/resourceGroups/" + rg,
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + idName + "/federatedIdentityCredentials/" + fic + "/..",
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/%2e%2e/federatedIdentityCredentials/" + fic,
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity%2FuserAssignedIdentities/" + idName,
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.KeyVault/vaults/" + vault + "/%2e%2e",
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Evil/things/x",
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Authorization/roleAssignments/%2e%2e",
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Authorization/roleAssignments/..%2F..%2F..",
		"/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-000000000000/..",
	} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			add(armReq("path "+m+" "+p, m, p+msiAPI, jsonBearer(armToken), `{"location":"eastus"}`, true))
		}
	}
	// Authentication: forged, unsigned, foreign and misdirected tokens.
	armTargets := []struct{ method, target, body string }{
		{"GET", armBase + "/resourcegroups" + groupAPI, ""},
		{"PUT", groupP(sub, "forgedRG") + groupAPI, `{"location":"eastus"}`},
		{"DELETE", identityP(sub, rg, idName) + msiAPI, ""},
	}
	armTokens := kitFor(armToken, wifJWKS.Keys).forgeries()
	armTokens = append(armTokens, cpNamed{"Key Vault token (wrong audience)", kvToken}, cpNamed{"admin Key Vault token (wrong audience)", adminKVToken},
		cpNamed{"the issuer's service-account token", goodAssertion})
	for _, tk := range armTokens {
		for _, tg := range armTargets {
			add(armReq(tg.method+" token "+tk.name, tg.method, tg.target, jsonBearer(tk.s), tg.body, false))
		}
	}
	authHeaders := []struct {
		name string
		h    [][2]string
	}{
		{"no Authorization", nil},
		{"Basic", [][2]string{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(b.ClientID+":"+b.ClientSecret))}}},
		{"Bearer alone", [][2]string{{"Authorization", "Bearer"}}},
		{"PoP scheme", [][2]string{{"Authorization", "PoP " + armToken[:20]}}},
		{"token with trailing junk", [][2]string{{"Authorization", "Bearer " + armToken + "x"}}},
		{"token, comma, token", [][2]string{{"Authorization", "Bearer " + armToken + ", Bearer garbage"}}},
		{"garbage then a second header", [][2]string{{"Authorization", "Bearer garbage"}, {"Authorization", "Bearer garbage2"}}},
		{"64 KB token", [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 64<<10)}}},
		{"token in the query", nil},
	}
	for _, ah := range authHeaders {
		for _, tg := range armTargets {
			target := tg.target
			if ah.name == "token in the query" {
				target += "&access_token=" + armToken
			}
			add(armReq(tg.method+" auth "+ah.name, tg.method, target, append(ah.h, [2]string{"Content-Type", "application/json"}), tg.body, false))
		}
	}
	// The identity's ARM token is valid but has no role: refused.
	for _, tg := range armTargets {
		add(armReq(tg.method+" token of an identity without a role", tg.method, tg.target, jsonBearer(idARMToken), tg.body, true))
	}

	// ---------------------------------------------------------------- Key Vault
	kvReq := func(name, method, target string, h [][2]string, body string, authorized bool) cpReq {
		c := cpReq{surface: surfKV, name: name, method: method, host: kvHost, target: target, header: h, authorized: authorized}
		if method == "PUT" || method == "PATCH" || method == "POST" {
			c.body = []byte(body)
		}
		return c
	}
	const kvAPIQ = "?api-version=7.6"
	kvBodies := []cpNamed{
		{"truncated JSON", `{"value":`}, {"not JSON", "<xml/>"}, {"empty", ""}, {"array", "[]"}, {"null", "null"}, {"string", `"x"`},
		{"value a number", `{"value":5}`}, {"value an object", `{"value":{"a":1}}`}, {"value null", `{"value":null}`},
		{"tags an array", `{"value":"x","tags":["a"]}`}, {"attributes a string", `{"value":"x","attributes":"x"}`},
		{"exp a string", `{"value":"x","attributes":{"exp":"tomorrow"}}`}, {"exp 1e400", `{"value":"x","attributes":{"exp":1e400}}`},
		{"nbf huge", `{"value":"x","attributes":{"nbf":99999999999999999999}}`}, {"enabled a string", `{"value":"x","attributes":{"enabled":"true"}}`},
		{"deeply nested object", `{"value":"x","tags":` + deep(20000) + `}`},
		{"deeply nested array", `{"value":"x","tags":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`},
		{"value 26 KB", `{"value":"` + strings.Repeat("v", 26<<10) + `"}`}, {"2 MB body", `{"value":"x","pad":"` + strings.Repeat("p", 2<<20) + `"}`},
		{"8 MB body", `{"value":"x","pad":"` + strings.Repeat("p", 8<<20) + `"}`},
		{"trailing data", `{"value":"a"}{"value":"b"}`}, {"invalid UTF-8 outside strings", "{\xff\"value\":\"x\"}"},
		{"NUL byte outside strings", "{\x00\"value\":\"x\"}"}, {"contentType 300 bytes", `{"value":"x","contentType":"` + strings.Repeat("c", 300) + `"}`},
		{"16 tags", func() string {
			tags := map[string]string{}
			for i := range 16 {
				tags[fmt.Sprint("t", i)] = "v"
			}
			j, _ := json.Marshal(map[string]any{"value": "x", "tags": tags})
			return string(j)
		}()},
	}
	for _, bd := range kvBodies {
		add(kvReq("PUT secret, body "+bd.name, "PUT", "/secrets/s2"+kvAPIQ, jsonBearer(kvToken), bd.s, true))
		if !strings.HasPrefix(bd.name, "value") { // an update ignores "value", as Key Vault does
			add(kvReq("PATCH version, body "+bd.name, "PATCH", "/secrets/s1/"+version+kvAPIQ, jsonBearer(kvToken), bd.s, true))
		}
		add(kvReq("restore, body "+bd.name, "POST", "/secrets/restore"+kvAPIQ, jsonBearer(kvToken), bd.s, true))
	}
	// Tampered backups (and the real one, which conflicts with s1).
	raw, _ := base64.RawURLEncoding.DecodeString(backup.Value)
	for _, bk := range []cpNamed{
		{"real (s1 exists)", backup.Value}, {"truncated", backup.Value[:len(backup.Value)/2]}, {"one byte flipped", cpB64(func() []byte {
			c := bytes.Clone(raw)
			c[len(c)/2] ^= 1
			return c
		}())},
		{"appended", backup.Value + "AAAA"}, {"standard base64", base64.StdEncoding.EncodeToString(raw)}, {"not base64", "!!!"},
		{"1 MB of A", strings.Repeat("A", 1<<20)},
	} {
		add(kvReq("restore backup "+bk.name, "POST", "/secrets/restore"+kvAPIQ, jsonBearer(kvToken), `{"value":"`+bk.s+`"}`, true))
	}
	// Secret names and versions.
	kvNames := []cpNamed{
		{"dot-dot", ".."}, {"%2e%2e", "%2e%2e"}, {"encoded slash", "s1%2F..%2Fs1"}, {"traversal", "..%2F..%2F..%2Fsecrets%2Fs1"},
		{"double-encoded dot-dot", "%252e%252e"}, {"percent-encoded NUL", "s1%00"}, {"underscore", "s_1"}, {"128 characters", strings.Repeat("n", 128)},
		{"64 KB", strings.Repeat("n", 64<<10)}, {"space", "s%201"}, {"trailing period", "s1."},
	}
	for _, tr := range cpUnicodeVariants("s1") {
		kvNames = append(kvNames, cpNamed{tr.name, cpPathEscape(tr.s)})
	}
	for _, n := range kvNames {
		add(kvReq("GET name "+n.name, "GET", "/secrets/"+n.s+kvAPIQ, bearer(kvToken), "", true))
		add(kvReq("PUT name "+n.name, "PUT", "/secrets/"+n.s+kvAPIQ, jsonBearer(kvToken), `{"value":"x"}`, true))
		add(kvReq("DELETE name "+n.name, "DELETE", "/secrets/"+n.s+kvAPIQ, bearer(kvToken), "", true))
		add(kvReq("PATCH name "+n.name, "PATCH", "/secrets/"+n.s+"/"+version+kvAPIQ, jsonBearer(kvToken), `{"contentType":"x"}`, true))
		add(kvReq("recover name "+n.name, "POST", "/deletedsecrets/"+n.s+"/recover"+kvAPIQ, bearer(kvToken), "", true))
	}
	for _, v := range []cpNamed{
		{"dot-dot", ".."}, {"%2e%2e", "%2e%2e"}, {"traversal", "..%2F..%2Fs1"}, {"not hex", strings.Repeat("z", 32)},
		{"33 digits", strings.Repeat("a", 33)}, {"1000 digits", strings.Repeat("a", 1000)}, {"NUL", version + "%00"}, {"homoglyph", cpPathEscape(cpHomoglyph(version))},
		{"RLO", version[:16] + "%E2%80%AE" + version[16:]},
	} {
		add(kvReq("GET version "+v.name, "GET", "/secrets/s1/"+v.s+kvAPIQ, bearer(kvToken), "", true))
		add(kvReq("PATCH version "+v.name, "PATCH", "/secrets/s1/"+v.s+kvAPIQ, jsonBearer(kvToken), `{"contentType":"x"}`, true))
	}
	for _, p := range []string{"/secrets/s1/" + version + "/..", "/secrets/s1/../../secrets/s1", "/%2e%2e/secrets/s1", "/secrets/../keys/s1",
		"/keys/k1", "/certificates/c1", "/secrets/s1/backup/x", "/deletedsecrets/s1", "/secrets?maxresults=0", "/secrets?maxresults=26",
		"/secrets?maxresults=-1", "/secrets?maxresults=99999999999999999999", "/secrets?$skiptoken=!!!", "/secrets?$skiptoken=" + strings.Repeat("A", 8<<10)} {
		add(kvReq("path "+p, "GET", p+strings.Replace(kvAPIQ, "?", map[bool]string{true: "&", false: "?"}[strings.Contains(p, "?")], 1), bearer(kvToken), "", true))
	}
	for _, m := range []string{"POST", "PUT"} {
		add(kvReq(m+" on a version", m, "/secrets/s1/"+version+kvAPIQ, jsonBearer(kvToken), `{"value":"x"}`, true))
	}
	// api-versions, on requests that are refused anyway (wif accepts any
	// Key Vault api-version, and none).
	for _, api := range []string{"", "?api-version=", "?api-version=garbage", "?api-version=99.9", "?api-version=7.6%00",
		"?api-version=" + strings.Repeat("7", 10<<10), "?api-version=7.6&api-version=1.0"} {
		add(kvReq("GET bad name, api-version "+cpShort(api), "GET", "/secrets/%2e%2e"+api, bearer(kvToken), "", true))
		add(kvReq("PUT bad body, api-version "+cpShort(api), "PUT", "/secrets/s2"+api, jsonBearer(kvToken), "{", true))
		add(kvReq("GET no token, api-version "+cpShort(api), "GET", "/secrets/s1"+api, nil, "", false))
	}
	// Hosts that are not the vault.
	for _, h := range []cpNamed{
		{"unknown vault", "nosuchkv.vault.localhost:" + port}, {"nested label", "a." + kvHost}, {"suffix trick", vault + ".vault.localhost.evil.example:" + port},
		{"resource host", "vault.localhost:" + port}, {"underscore label", "camp_kv.vault.localhost:" + port}, {"64-character label", strings.Repeat("k", 64) + ".vault.localhost:" + port},
	} {
		c := kvReq("host "+h.name, "GET", "/secrets/s1"+kvAPIQ, bearer(kvToken), "", true)
		c.host = h.s
		add(c)
	}
	for _, tr := range cpUnicodeVariants(vault) {
		c := kvReq("raw host "+tr.name, "GET", "/secrets/s1"+kvAPIQ, bearer(kvToken), "", true)
		c.host, c.raw = tr.s+".vault.localhost:"+port, true
		add(c)
	}
	// Authentication.
	kvTargets := []struct{ method, target, body string }{
		{"GET", "/secrets/s1" + kvAPIQ, ""},
		{"PUT", "/secrets/s1" + kvAPIQ, `{"value":"overwritten"}`},
		{"DELETE", "/secrets/s1" + kvAPIQ, ""},
	}
	kvTokens := kitFor(kvToken, wifJWKS.Keys).forgeries()
	kvTokens = append(kvTokens, cpNamed{"admin ARM token (wrong audience)", armToken}, cpNamed{"identity ARM token (wrong audience)", idARMToken},
		cpNamed{"the issuer's service-account token", goodAssertion})
	for _, tk := range kvTokens {
		for _, tg := range kvTargets {
			add(kvReq(tg.method+" token "+tk.name, tg.method, tg.target, jsonBearer(tk.s), tg.body, false))
		}
	}
	for _, ah := range authHeaders {
		for _, tg := range kvTargets {
			target := tg.target
			if ah.name == "token in the query" {
				target += "&access_token=" + kvToken
			}
			h := append(ah.h, [2]string{"Content-Type", "application/json"})
			if strings.HasPrefix(ah.name, "token") && len(h) > 1 {
				h = [][2]string{{"Authorization", strings.Replace(h[0][1], armToken, kvToken, 1)}, {"Content-Type", "application/json"}}
			}
			add(kvReq(tg.method+" auth "+ah.name, tg.method, target, h, tg.body, false))
		}
	}
	// The admin's Key Vault token is valid but has no data-plane role.
	for _, tg := range kvTargets {
		add(kvReq(tg.method+" token of an admin without a data role", tg.method, tg.target, jsonBearer(adminKVToken), tg.body, true))
	}

	// ---------------------------------------------------------------- run
	if len(cases) < 500 {
		t.Fatalf("only %d cases", len(cases))
	}
	secrets := []cpNamed{
		{"client secret", b.ClientSecret}, {"secret value", secretValue}, {"ARM token", armToken}, {"Key Vault token", kvToken},
		{"identity ARM token", idARMToken}, {"admin Key Vault token", adminKVToken}, {"assertion", goodAssertion},
	}
	for _, tok := range []string{armToken, kvToken, idARMToken, adminKVToken, goodAssertion} {
		secrets = append(secrets, cpNamed{"a token's signature", tok[strings.LastIndex(tok, ".")+1:]})
	}
	// presented is what a request carries that its answer must not repeat.
	presented := func(c cpReq) []string {
		var out []string
		for _, h := range c.header {
			if strings.EqualFold(h[0], "Authorization") {
				if _, tok, ok := strings.Cut(h[1], " "); ok && len(tok) >= 40 && strings.Count(tok, ".") >= 2 {
					out = append(out, tok)
				}
			}
		}
		if c.surface == surfToken {
			if f, err := url.ParseQuery(string(c.body)); err == nil {
				for _, k := range []string{"client_assertion", "subject_token", "client_secret"} {
					for _, v := range f[k] {
						if len(v) >= 40 && len(v) <= 64<<10 {
							out = append(out, v)
						}
					}
				}
			}
		}
		return out
	}

	rssBefore := cpVmRSS(t, w.Pid)
	tallies := map[string]*cpTally{surfToken: {}, surfARM: {}, surfKV: {}}
	var (
		mu       sync.Mutex
		findings []string
	)
	finding := func(c cpReq, res cpResult, what string) {
		mu.Lock()
		defer mu.Unlock()
		findings = append(findings, fmt.Sprintf("[%s] %s: %s %s -> %d: %s — %s", c.surface, c.name, c.method, cpShort(c.target), res.status, what, cpShort(string(res.body))))
	}
	// run sends one request and judges its answer.
	run := func(c cpReq) {
		res := send(c)
		var o cpTally
		o.requests = 1
		switch {
		case res.err != nil:
			o.dropped++
			finding(c, res, "no answer: "+res.err.Error())
		case res.status >= 500:
			o.s5xx++
			finding(c, res, "server error")
		case res.status >= 200 && res.status < 300:
			o.s2xx++
			o.wrongful++
			finding(c, res, "a wrongful success, want a 4xx")
		case res.status >= 300 && res.status < 400:
			o.s3xx++
			if c.surface != surfToken || !cpCleanRedirect(c.target, res) {
				finding(c, res, "a redirect (Location "+cpShort(res.header.Get("Location"))+"), want a 4xx")
			}
		case res.status >= 400 && res.status < 500:
			o.s4xx++
		default:
			finding(c, res, "unexpected status")
		}
		if res.err == nil && res.status >= 400 {
			if cpNetHTTPRefusal(res) {
				o.netHTTP++
			} else if cpNoRoute(res) {
				o.noRoute++
			} else if p := cpFormatProblem(c.surface, res); p != "" {
				o.badFormat++
				finding(c, res, "body format: "+p)
			}
		}
		if res.err == nil {
			var hdrs strings.Builder
			for k, vs := range res.header {
				hdrs.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
			answer := string(res.body) + "\n" + hdrs.String()
			echoed := ""
			for _, s := range secrets {
				if strings.Contains(answer, s.s) {
					echoed = s.name
				}
			}
			for _, p := range presented(c) {
				if strings.Contains(answer, p) || strings.Contains(answer, p[strings.LastIndex(p, ".")+1:]) && len(p)-strings.LastIndex(p, ".") > 20 {
					echoed = "the presented token or assertion"
				}
			}
			if echoed != "" {
				o.echoes++
				finding(c, res, "answer echoes "+echoed)
			}
		}
		mu.Lock()
		tallies[c.surface].add(o)
		mu.Unlock()
	}
	// One surface after the other, four requests at a time, with the
	// server's VmRSS after each. Bodies of 256 KB and more go one at a
	// time after the rest: the bound is on what an oversized request
	// costs, not on four of them at once.
	rssAfterSurface := map[string]int64{}
	runSurface := func(surface string) {
		work := make(chan cpReq)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range work {
					run(c)
				}
			}()
		}
		var big []cpReq
		for _, c := range cases {
			switch {
			case c.surface != surface:
			case len(c.body) >= 256<<10:
				big = append(big, c)
			default:
				work <- c
			}
		}
		close(work)
		wg.Wait()
		for _, c := range big {
			run(c)
		}
		rssAfterSurface[surface] = cpVmRSS(t, w.Pid)
	}
	for _, s := range []string{surfToken, surfARM, surfKV} {
		runSurface(s)
	}

	// The server still answers, and the vault is as it was.
	if r := send(cpReq{method: "GET", target: "/healthz"}); r.err != nil || r.status != 200 {
		t.Errorf("/healthz after the campaign: %v %d", r.err, r.status)
	}
	r = send(cpReq{method: "GET", host: kvHost, target: "/secrets/s1?api-version=7.6", header: bearer(kvToken)})
	if json.Unmarshal(r.body, &got) != nil || got.Value != secretValue || !strings.HasSuffix(got.ID, "/"+version) {
		t.Errorf("secret s1 after the campaign: %d %s", r.status, cpShort(string(r.body)))
	}
	// Nothing the campaign sent changed the estate.
	for _, p := range []string{groupP(sub, rg) + groupAPI, identityP(sub, rg, idName) + msiAPI, ficP(sub, rg, idName, fic) + msiAPI, vaultP(sub, rg, vault) + kvAPI} {
		if r := send(cpReq{method: "GET", target: p, header: bearer(armToken)}); r.status != 200 {
			t.Errorf("GET %s after the campaign: %v %d %s", p, r.err, r.status, cpShort(string(r.body)))
		}
	}
	if r := send(cpReq{method: "GET", target: groupP(sub, "forgedRG") + groupAPI, header: bearer(armToken)}); r.status != 404 {
		t.Errorf("forged requests created a resource group: %d", r.status)
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("wif fetched the attacker's jku/x5u URL %d times", n)
	}
	rssAfter := cpVmRSS(t, w.Pid)
	const mb = 1 << 20
	if rssAfter-rssBefore > 50*mb {
		t.Errorf("VmRSS grew from %.1f MB to %.1f MB, more than 50 MB", float64(rssBefore)/mb, float64(rssAfter)/mb)
	}
	time.Sleep(400 * time.Millisecond) // wif flushes its log buffer every 200 ms
	logs := readLogs(w)
	for _, s := range secrets {
		if strings.Contains(logs, s.s) {
			t.Errorf("the log contains the %s", s.name)
		}
	}

	var total cpTally
	for _, s := range []string{surfToken, surfARM, surfKV} {
		c := tallies[s]
		total.add(*c)
		t.Logf("%-8s %4d requests: %d 4xx, %d 3xx, %d 5xx, %d 2xx, %d dropped; %d wrongful successes, %d bodies not in the surface's format, %d echoes; "+
			"%d refused by net/http itself, %d no-route 404s; RSS after it %.1f MB",
			s, c.requests, c.s4xx, c.s3xx, c.s5xx, c.s2xx, c.dropped, c.wrongful, c.badFormat, c.echoes, c.netHTTP, c.noRoute, float64(rssAfterSurface[s])/mb)
	}
	t.Logf("total    %4d requests: %d 4xx, %d 3xx, %d 5xx, %d 2xx, %d dropped; %d wrongful successes, %d bodies not in the surface's format, %d echoes",
		total.requests, total.s4xx, total.s3xx, total.s5xx, total.s2xx, total.dropped, total.wrongful, total.badFormat, total.echoes)
	summary := fmt.Sprintf("campaign: %d requests, %d 5xx, %d wrongful successes, RSS %.1f -> %.1f MB (%d 4xx, %d format violations, %d echoes, %d dropped, %.1fs)",
		total.requests, total.s5xx, total.wrongful, float64(rssBefore)/mb, float64(rssAfter)/mb, total.s4xx, total.badFormat, total.echoes, total.dropped, time.Since(start).Seconds())
	t.Log(summary)
	fmt.Println(summary)

	sort.Strings(findings)
	for i, f := range findings {
		if i == 200 {
			t.Errorf("... and %d more findings", len(findings)-i)
			break
		}
		t.Error(f)
	}
}
