package oidc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json/jsontext"
)

// Sentinel errors of [Parse], [Assertion.Verify] and [CheckTime]. They are
// wrapped with detail (never the token itself), so test them with errors.Is.
var (
	ErrMalformed     = errors.New("oidc: malformed assertion")
	ErrAlgorithm     = errors.New("oidc: signature algorithm not allowed")
	ErrSignature     = errors.New("oidc: invalid assertion signature")
	ErrMissingExpiry = errors.New("oidc: assertion has no exp claim")
	ErrExpired       = errors.New("oidc: assertion expired")
	ErrNotYetValid   = errors.New("oidc: assertion not yet valid")
	ErrLifetime      = errors.New("oidc: assertion lifetime too long")
)

// AllowedAlgorithms lists the signature algorithms [Parse] accepts. It never
// contains "none" or an HMAC algorithm. It is informational: changing it does
// not change what Parse accepts.
var AllowedAlgorithms = slices.Clone(allowedAlgorithms)

var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384,
	jose.EdDSA,
}

// MaxAssertionSize is the largest compact JWS [Parse] accepts, in bytes.
const MaxAssertionSize = 16 << 10

// Defaults of [TimeRules] fields left zero.
const (
	DefaultLeeway      = 5 * time.Minute
	DefaultMaxLifetime = 25 * time.Hour
)

// Header holds the JOSE header fields of an assertion that callers need.
type Header struct {
	Alg string // signature algorithm, one of AllowedAlgorithms
	KID string // key id; empty when absent
}

// Assertion is a parsed, not yet verified, compact JWS with JSON claims.
type Assertion struct {
	Header Header
	Claims Claims

	jws     *jose.JSONWebSignature
	payload []byte
}

// jwsEncoding is the unpadded base64url of compact JWS (RFC 7515), strict so that
// one token has one encoding.
var jwsEncoding = base64.RawURLEncoding.Strict()

// maxHeaderSize bounds the JOSE header, in bytes. Service-account and CI
// tokens carry alg, kid and typ, and at most an x5t; go-jose parses every
// certificate in an x5c before any signature is checked.
const maxHeaderSize = 1 << 10

// Parse decodes a compact JWS without verifying it. The token must be at
// most MaxAssertionSize bytes, have three parts in canonical base64url, a
// header of at most 1 KiB without crit, b64 or zip, be signed with an
// algorithm in AllowedAlgorithms and carry a JSON object of claims. Errors
// wrap ErrMalformed or ErrAlgorithm.
func Parse(raw string) (*Assertion, error) {
	if len(raw) > MaxAssertionSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrMalformed, len(raw), MaxAssertionSize)
	}
	if n := strings.Count(raw, "."); n != 2 {
		return nil, fmt.Errorf("%w: compact JWS must have 3 parts, got %d", ErrMalformed, n+1)
	}
	// go-jose decodes leniently (it skips CR and LF and ignores padding
	// bits) and verifies over its own re-encoding of header and payload, so
	// the encoding is checked strictly here first.
	if strings.ContainsAny(raw, "\r\n") {
		return nil, fmt.Errorf("%w: line break in the token", ErrMalformed)
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, sig, _ := strings.Cut(rest, ".")
	if len(h) > jwsEncoding.EncodedLen(maxHeaderSize) {
		return nil, fmt.Errorf("%w: header exceeds %d bytes", ErrMalformed, maxHeaderSize)
	}
	hb, err := jwsEncoding.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	// I-JSON (RFC 7493): no duplicate names, valid UTF-8.
	if len(hb) == 0 || hb[0] != '{' || !jsontext.Value(hb).IsValid() {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if _, err := jwsEncoding.DecodeString(p); err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	// A signature of valid characters that still does not decode (a
	// truncated one) fails in Verify, like one that does not verify.
	input := raw
	if _, err := jwsEncoding.DecodeString(sig); err != nil {
		if strings.IndexFunc(sig, func(r rune) bool { return !isBase64URL(r) }) >= 0 {
			return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
		}
		input = raw[:len(h)+1+len(p)+1] // an empty signature, which never verifies
	}
	jws, err := jose.ParseSignedCompact(input, allowedAlgorithms)
	var algErr *jose.ErrUnexpectedSignatureAlgorithm
	switch {
	case errors.As(err, &algErr):
		return nil, fmt.Errorf("%w: alg %q (allowed: %s)", ErrAlgorithm, truncate(string(algErr.Got)), algList())
	case err != nil:
		return nil, fmt.Errorf("%w: header is not a JSON object of the expected types", ErrMalformed)
	}
	hdr := jws.Signatures[0].Header
	for _, name := range []jose.HeaderKey{"crit", "b64", "zip"} {
		if _, ok := hdr.ExtraHeaders[name]; ok {
			return nil, fmt.Errorf("%w: unsupported header parameter (crit, b64 or zip)", ErrMalformed)
		}
	}
	payload := jws.UnsafePayloadWithoutVerification()
	claims, err := ParseClaims(payload)
	if err != nil {
		return nil, err
	}
	return &Assertion{Header: Header{Alg: hdr.Algorithm, KID: hdr.KeyID}, Claims: claims, jws: jws, payload: payload}, nil
}

// Verify checks the assertion's signature with key, which must be an
// *rsa.PublicKey (RS*, PS*; at least 2048 bits), an *ecdsa.PublicKey on the
// alg's curve (ES256: P-256, ES384: P-384) or an ed25519.PublicKey (EdDSA).
// Errors wrap ErrSignature.
func (a *Assertion) Verify(key crypto.PublicKey) error {
	if a == nil || a.jws == nil {
		return fmt.Errorf("%w: assertion was not parsed", ErrSignature)
	}
	if len(a.jws.Signatures[0].Signature) == 0 {
		return fmt.Errorf("%w: the signature is empty or not base64url", ErrSignature)
	}
	alg := jose.SignatureAlgorithm(a.Header.Alg)
	if !keyFitsAlg(key, alg) {
		return fmt.Errorf("%w: key %s does not fit alg %s", ErrSignature, describeKey(key), alg)
	}
	if _, err := a.jws.Verify(key); err != nil {
		return fmt.Errorf("%w: alg %s, kid %q: signature does not verify", ErrSignature, alg, a.Header.KID)
	}
	return nil
}

// UnmarshalClaims decodes the claims into v with encoding/json, for a
// caller that reads them as a typed struct.
func (a *Assertion) UnmarshalClaims(v any) error {
	if err := json.Unmarshal(a.payload, v); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return nil
}

func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// keyFitsAlg reports whether key is an acceptable verification key for alg.
func keyFitsAlg(key crypto.PublicKey, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return k != nil && k.N != nil && k.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return k != nil && k.Curve == elliptic.P256()
		case jose.ES384:
			return k != nil && k.Curve == elliptic.P384()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA && len(k) == ed25519.PublicKeySize
	}
	return false
}

func describeKey(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k != nil && k.N != nil {
			return fmt.Sprintf("RSA-%d", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve != nil {
			return "EC " + k.Curve.Params().Name
		}
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("of type %T", key)
}

func algList() string {
	s := make([]string, len(allowedAlgorithms))
	for i, a := range allowedAlgorithms {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}

// truncate bounds text derived from the token (never the token itself) that
// goes into error messages.
func truncate(s string) string {
	const limit = 120
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}

// Claims are the claims of an assertion. The registered claims are decoded;
// every top-level claim stays available through Claim and Raw.
type Claims struct {
	Issuer, Subject, ID string
	// Audience holds "aud", which may be a string or an array of strings.
	Audience []string
	// Expiry, NotBefore and IssuedAt are zero when the claim is absent.
	Expiry, NotBefore, IssuedAt time.Time

	// raw holds each top-level claim's JSON, sliced from the payload.
	raw map[string]jsontext.Value
}

// ParseClaims decodes a JWT claims set. It must be a JSON object of valid
// UTF-8 without duplicate names (RFC 7519 lets a parser reject those); iss,
// sub and jti must be strings, aud a string or array of strings, and exp,
// nbf and iat numbers (seconds since the epoch, possibly fractional) between
// years 0 and 9999. A null claim counts as absent. Errors wrap ErrMalformed.
//
// It makes one pass with a streaming decoder and keeps each claim's JSON as
// a slice of payload, which must not be modified afterwards: this is on the
// token exchange's hot path, and a service-account token has a dozen claims.
func ParseClaims(payload []byte) (Claims, error) {
	var c Claims
	c.raw = make(map[string]jsontext.Value, 16)
	err := members(payload, func(name string, v jsontext.Value) error {
		c.raw[name] = v
		return nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}} {
		v, ok := c.get(f.name)
		if !ok {
			continue
		}
		s, ok := unquote(v)
		if !ok {
			return Claims{}, fmt.Errorf("%w: claim %q is not a string", ErrMalformed, f.name)
		}
		*f.dst = s
	}
	if v, ok := c.get("aud"); ok {
		aud, err := parseAudience(v)
		if err != nil {
			return Claims{}, err
		}
		c.Audience = aud
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.Expiry}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		v, ok := c.get(f.name)
		if !ok {
			continue
		}
		t, err := parseNumericDate(v)
		if err != nil {
			return Claims{}, fmt.Errorf("%w: claim %q: %v", ErrMalformed, f.name, err)
		}
		*f.dst = t
	}
	return c, nil
}

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// members calls fn with each member of the JSON object data, the value
// sliced from data. data must hold exactly one object, of valid UTF-8 and
// without duplicate names.
func members(data []byte, fn func(name string, v jsontext.Value) error) error {
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewBuffer(data))
	if tok, err := dec.ReadToken(); err != nil {
		return err
	} else if tok.Kind() != '{' {
		return errors.New("not a JSON object")
	}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // the token is only valid until the next read
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		end := int(dec.InputOffset())
		if err := fn(name, jsontext.Value(data[end-len(v):end:end])); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil { // the '}': anything else is an error
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// unquote returns the string a valid JSON value holds, if it is a string.
func unquote(v jsontext.Value) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), true
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), err == nil
}

// get returns a claim's JSON unless it is absent or null.
func (c *Claims) get(name string) (jsontext.Value, bool) {
	v, ok := c.raw[name]
	if !ok || len(v) == 0 || string(v) == "null" {
		return nil, false
	}
	return v, true
}

func parseAudience(v jsontext.Value) ([]string, error) {
	switch v[0] {
	case '"':
		if s, ok := unquote(v); ok {
			return []string{s}, nil
		}
	case '[':
		dec := jsontext.NewDecoder(bytes.NewBuffer(v))
		if _, err := dec.ReadToken(); err != nil {
			break
		}
		aud := []string{}
		for dec.PeekKind() == '"' {
			tok, err := dec.ReadToken()
			if err != nil {
				break
			}
			aud = append(aud, tok.String())
		}
		if tok, err := dec.ReadToken(); err == nil && tok.Kind() == ']' {
			return aud, nil
		}
	}
	return nil, fmt.Errorf("%w: claim \"aud\" is neither a string nor an array of strings", ErrMalformed)
}

// maxUnix is 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// minUnix is 0000-01-01T00:00:00Z.
const minUnix = -62167219200

func parseNumericDate(v jsontext.Value) (time.Time, error) {
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return time.Time{}, errors.New("not a number")
	}
	s := string(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < minUnix || n > maxUnix {
			return time.Time{}, errors.New("out of range")
		}
		return time.Unix(n, 0).UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < minUnix || f > maxUnix {
		return time.Time{}, errors.New("out of range")
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), nil
}

// Claim returns a top-level claim if it is a JSON string.
func (c *Claims) Claim(name string) (string, bool) {
	v, ok := c.raw[name]
	if !ok {
		return "", false
	}
	return unquote(v)
}

// Raw returns a copy of a top-level claim's JSON, for expression matching
// on claims of any type.
func (c *Claims) Raw(name string) (json.RawMessage, bool) {
	v, ok := c.raw[name]
	if !ok {
		return nil, false
	}
	return json.RawMessage(bytes.Clone(v)), true
}

// Names returns the names of all top-level claims, sorted.
func (c *Claims) Names() []string {
	names := make([]string, 0, len(c.raw))
	for n := range c.raw {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// HasAudience reports whether aud is one of the audiences, compared exactly.
func (c *Claims) HasAudience(aud string) bool {
	return slices.Contains(c.Audience, aud)
}

// TimeRules bound an assertion's validity period. Zero fields take
// DefaultLeeway and DefaultMaxLifetime; a negative Leeway means none.
type TimeRules struct {
	// Leeway is the allowed clock skew.
	Leeway time.Duration
	// MaxLifetime bounds exp minus the earlier of iat and nbf.
	MaxLifetime time.Duration
}

// CheckTime checks the time claims at now:
//   - exp is required (ErrMissingExpiry);
//   - now after exp+leeway is ErrExpired;
//   - nbf or iat after now+leeway is ErrNotYetValid;
//   - exp minus the earlier of iat and nbf (now if both are absent) above
//     MaxLifetime is ErrLifetime.
func CheckTime(c *Claims, now time.Time, r TimeRules) error {
	leeway := r.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	maxLifetime := r.MaxLifetime
	if maxLifetime <= 0 {
		maxLifetime = DefaultMaxLifetime
	}

	if c.Expiry.IsZero() {
		return ErrMissingExpiry
	}
	if now.After(c.Expiry.Add(leeway)) {
		return fmt.Errorf("%w: exp %s is before now %s (leeway %s)", ErrExpired, rfc3339(c.Expiry), rfc3339(now), leeway)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(leeway)) {
		return fmt.Errorf("%w: nbf %s is after now %s (leeway %s)", ErrNotYetValid, rfc3339(c.NotBefore), rfc3339(now), leeway)
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(leeway)) {
		return fmt.Errorf("%w: iat %s is after now %s (leeway %s)", ErrNotYetValid, rfc3339(c.IssuedAt), rfc3339(now), leeway)
	}
	start, from := now, "now"
	if !c.IssuedAt.IsZero() {
		start, from = c.IssuedAt, "iat"
	}
	if !c.NotBefore.IsZero() && (from == "now" || c.NotBefore.Before(start)) {
		start, from = c.NotBefore, "nbf"
	}
	if life := c.Expiry.Sub(start); life > maxLifetime {
		return fmt.Errorf("%w: exp %s is %s after %s %s, more than %s", ErrLifetime, rfc3339(c.Expiry), life, from, rfc3339(start), maxLifetime)
	}
	return nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
