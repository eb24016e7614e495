// Package sts is wif's Entra-ID-compatible token service: discovery,
// JWKS and the OAuth 2.0 token endpoint with client secrets, federated
// client assertions and RFC 8693 token exchange.
package sts

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// Config tunes the token service.
type Config struct {
	// PublicURL is wif's base URL, e.g. https://localhost:8443.
	PublicURL string
	// TokenLifetime is the lifetime of access tokens (above 5 minutes, as
	// MSAL treats tokens with less left as expired).
	TokenLifetime time.Duration
	// TokenReuse returns a still-fresh token minted for the same client,
	// audience and authentication method instead of signing a new one.
	TokenReuse bool
	// ReuseWindow is how young a token must be to be reused.
	ReuseWindow time.Duration
	// Leeway is the clock skew allowed on assertion times.
	Leeway time.Duration
	// MaxAssertionLifetime is the longest exp-iat accepted (Entra: 25 h).
	MaxAssertionLifetime time.Duration
	// Resources are the audiences tokens are issued for; the token
	// endpoint answers any other with AADSTS500011. Nil knows none.
	Resources *Resources
}

// DefaultConfig returns Entra's defaults: 1 h tokens, 5 min leeway, 25 h
// maximum assertion lifetime; and the resources of a wif at publicURL with
// its vaults under vault.localhost.
func DefaultConfig(publicURL string) Config {
	resources, _ := NewResources(publicURL, "vault.localhost", nil)
	return Config{
		PublicURL:            strings.TrimSuffix(publicURL, "/"),
		Resources:            resources,
		TokenLifetime:        time.Hour,
		ReuseWindow:          5 * time.Minute,
		Leeway:               5 * time.Minute,
		MaxAssertionLifetime: 25 * time.Hour,
	}
}

// IssuerKeys finds an external issuer's public key by kid.
type IssuerKeys interface {
	Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error)
}

// Signer signs wif access tokens and publishes the keys.
type Signer interface {
	Sign(ctx context.Context, tenantID string, claims token.Claims) (string, error)
	JWKS(ctx context.Context, tenantID string) ([]byte, error)
}

// Service decides token requests.
type Service struct {
	cfg    Config
	dir    *Directory
	keys   IssuerKeys
	signer Signer
	now    func() time.Time

	reuseMu sync.Mutex
	reuse   map[reuseKey]Issued
}

type reuseKey struct{ tenant, client, audience, acr string }

// NewService wires a token service.
func NewService(cfg Config, dir *Directory, keys IssuerKeys, signer Signer, now func() time.Time) *Service {
	return &Service{cfg: cfg, dir: dir, keys: keys, signer: signer, now: now, reuse: map[reuseKey]Issued{}}
}

// Issuer returns the token issuer of a tenant.
func (s *Service) Issuer(tenantID string) string {
	return s.cfg.PublicURL + "/" + tenantID + "/v2.0"
}

// Issued is a minted access token.
type Issued struct {
	AccessToken string
	ExpiresAt   time.Time
	IssuedAt    time.Time
	TenantID    string
}

// tenantAliases resolve to the client's own tenant, as for az's ADFS mode.
var tenantAliases = map[string]bool{"adfs": true, "common": true, "organizations": true}

// Exchange authenticates the client of req at tenant and mints a token.
func (s *Service) Exchange(ctx context.Context, tenant string, req Request) (Issued, error) {
	reqlog.Add(ctx, slog.String("client_id", req.ClientID), slog.String("grant_type", req.Grant), slog.String("audience", req.Audience))
	client, acr, err := s.authenticate(ctx, tenant, req, nil)
	if err != nil {
		return Issued{}, err
	}
	return s.mint(ctx, client, req.Audience, acr)
}

// Verdict is the token service's decision on a client assertion, reached
// by the exchange's own checks without minting (see Check).
type Verdict struct {
	// Err is the token endpoint's answer, hint included only where the
	// token endpoint would give it; nil when a token would be issued.
	Err *Error
	// Claims are the presented claims; nil if the assertion does not parse.
	Claims *oidc.Claims
	// Match compares the claims with the identity's credentials: the
	// matched one, or the closest one and why it failed, whether or not
	// the signature verifies (a hint for an authorised caller). Nil when
	// the claims or the client could not be had.
	Match *federation.Result
}

// diagnosis records how far an assertion got through checkAssertion.
type diagnosis struct {
	client *Client
	claims *oidc.Claims
	match  *federation.Result
}

// Check runs every check that exchanging assertion for clientID at tenant
// runs, through the same code, and returns the verdict without minting.
// The verdict discloses the client's credentials, so the caller must be
// authorised to read the identity. The error is an internal failure (the
// store), never a verdict.
func (s *Service) Check(ctx context.Context, tenant, clientID, assertion string) (Verdict, error) {
	d := &diagnosis{}
	_, _, err := s.authenticate(ctx, tenant, Request{Grant: GrantClientCredentials, ClientID: clientID, Assertion: assertion}, d)
	var v Verdict
	if err != nil && !errors.As(err, &v.Err) {
		return Verdict{}, err
	}
	v.Claims, v.Match = d.claims, d.match
	if v.Match == nil && d.claims != nil && d.client != nil {
		// Refused before the credentials were compared (its times, say):
		// compare them anyway, for the diagnosis only.
		res := federation.Match(presented(d.claims), d.client.Credentials)
		v.Match = &res
	}
	return v, nil
}

// authenticate runs every check of an exchange but minting: the tenant,
// the client, and its secret or assertion. It returns the client and the
// authentication method (appidacr). d, if not nil, records the assertion's
// progress for Check.
func (s *Service) authenticate(ctx context.Context, tenant string, req Request, d *diagnosis) (*Client, string, error) {
	alias := tenantAliases[strings.ToLower(tenant)]
	if !alias {
		ok, err := s.dir.TenantExists(ctx, tenant)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", errorf(90002, "invalid_request", "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", truncate(tenant))
		}
	}
	client, err := s.dir.Client(ctx, req.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !alias && !strings.EqualFold(client.Principal.TenantID, tenant)):
		return nil, "", errorf(700016, "unauthorized_client", "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant.", truncate(req.ClientID), truncate(tenant))
	case err != nil:
		return nil, "", err
	}
	reqlog.Add(ctx, slog.String("tenant", client.Principal.TenantID))

	if req.ClientSecret != "" {
		if !s.secretValid(client, req.ClientSecret) {
			return nil, "", errorf(7000215, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", client.Principal.ClientID)
		}
		return client, "1", nil
	}
	if d != nil {
		d.client = client
	}
	if err := s.checkAssertion(ctx, client, req.Assertion, d); err != nil {
		return nil, "", err
	}
	return client, "2", nil
}

func (s *Service) secretValid(c *Client, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	valid := false
	for _, cs := range c.Secrets {
		if subtle.ConstantTimeCompare(sum[:], cs.Hash) == 1 && (cs.ExpiresAt.IsZero() || now.Before(cs.ExpiresAt)) {
			valid = true
		}
	}
	return valid
}

// HashSecret returns the stored form of a client secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// checkAssertion runs the cheap checks first, so that a token that cannot
// match never causes network I/O: parse, algorithm, self-issued, times,
// credential match; only then the issuer's keys and the signature.
//
// What the caller is told before the signature verifies is only what it
// presented (STYLE 13): fetch failures name the issuer, and mismatches name
// the presented issuer, subject and audience. The closest-credential hint
// is added only for an assertion that verifies against a configured issuer
// (see hint).
//
// d, if not nil, records the claims and the match result.
func (s *Service) checkAssertion(ctx context.Context, c *Client, raw string, d *diagnosis) error {
	a, err := oidc.Parse(raw)
	if err != nil {
		if errors.Is(err, oidc.ErrAlgorithm) {
			return errorf(700027, "invalid_client", "Client assertion failed signature validation: %v", err)
		}
		return errorf(50027, "invalid_request", "JWT token is invalid or malformed: %v", err)
	}
	cl := &a.Claims
	if d != nil {
		d.claims = cl
	}
	reqlog.Add(ctx, slog.String("issuer", cl.Issuer), slog.String("subject", cl.Subject))
	if cl.Issuer == "" {
		return errorf(50027, "invalid_request", "JWT token is invalid or malformed: the assertion has no 'iss' claim.")
	}
	if s.ownIssuer(cl.Issuer) {
		return errorf(700222, "invalid_client", "AAD-issued tokens may not be used for federated identity flows. The assertion was issued by this token service ('%s').", cl.Issuer)
	}
	now := s.now()
	if err := oidc.CheckTime(cl, now, oidc.TimeRules{Leeway: s.cfg.Leeway, MaxLifetime: s.cfg.MaxAssertionLifetime}); err != nil {
		switch {
		case errors.Is(err, oidc.ErrLifetime):
			return errorf(70023, "invalid_request", "External OIDC Provider token must have a lifetime of less than or equal to 1.01:00:00. Token issued at %s. Token expires on %s.", fmtTime(firstNonZero(cl.IssuedAt, cl.NotBefore)), fmtTime(cl.Expiry))
		default:
			return errorf(700024, "invalid_client", "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. (%v)", fmtTime(now), fmtTime(firstNonZero(cl.NotBefore, cl.IssuedAt)), fmtTime(cl.Expiry), err)
		}
	}

	res := federation.Match(presented(cl), c.Credentials)
	if d != nil {
		d.match = &res
	}
	if res.Outcome != federation.Matched {
		return mismatchError(res, cl, s.hint(ctx, a, res))
	}
	reqlog.Add(ctx, slog.String("credential", res.Matched.Name))

	key, err := s.keys.Key(ctx, cl.Issuer, a.Header.KID)
	switch {
	case errors.Is(err, oidc.ErrKeyNotFound):
		reqlog.Add(ctx, slog.String("fetch_error", err.Error()))
		return errorf(700027, "invalid_client", "Client assertion failed signature validation: no key with kid '%s' is published by issuer '%s'.", truncate(a.Header.KID), cl.Issuer)
	case err != nil:
		return fetchError(ctx, cl.Issuer, err)
	}
	if err := a.Verify(key); err != nil {
		return errorf(700027, "invalid_client", "Client assertion failed signature validation: %v", err)
	}
	return nil
}

// presented is what the claims offer to credential matching.
func presented(cl *oidc.Claims) federation.Presented {
	return federation.Presented{Issuer: cl.Issuer, Subject: cl.Subject, Audiences: cl.Audience, Claim: cl.Claim}
}

// fetchError is Entra's answer when the issuer's keys cannot be had: it
// names the issuer only. Status codes, parse errors and the fetched
// documents' contents go to the log.
func fetchError(ctx context.Context, issuer string, err error) *Error {
	reqlog.Add(ctx, slog.String("fetch_error", err.Error()))
	return errorf(90061, "invalid_request", "Request to External OIDC endpoint failed. Issuer: '%s'.", issuer)
}

// hint returns the closest-credential explanation of a mismatch if the
// caller may see it: only when the assertion's signature verifies against
// the keys of a configured issuer related to the presented one
// (res.KeyIssuer). It never fetches an issuer that only the caller named;
// an unrelated issuer costs no I/O at all. For an issuer that differs from
// the configured one only by a trailing slash, whose discovery URL is the
// configured one's, the presented issuer is tried too if the configured
// one's keys cannot be had, since the discovery document names one of the
// two.
func (s *Service) hint(ctx context.Context, a *oidc.Assertion, res federation.Result) string {
	if res.Reason == "" {
		return ""
	}
	reqlog.Add(ctx, slog.String("mismatch", res.Reason))
	if res.KeyIssuer == "" {
		return ""
	}
	candidates := []string{res.KeyIssuer}
	if iss := a.Claims.Issuer; iss != res.KeyIssuer && strings.TrimSuffix(iss, "/") == strings.TrimSuffix(res.KeyIssuer, "/") {
		candidates = append(candidates, iss)
	}
	for _, iss := range candidates {
		key, err := s.keys.Key(ctx, iss, a.Header.KID)
		if err != nil {
			reqlog.Add(ctx, slog.String("hint_key_error", err.Error()))
			continue
		}
		if a.Verify(key) != nil {
			break // the issuer's key does not verify it: no other issuer will
		}
		reqlog.Add(ctx, slog.Bool("hint_shown", true))
		return res.Reason
	}
	return ""
}

// ownIssuer reports whether iss is this token service's issuer for some
// tenant ({public-url}/{tenant}/v2.0). Cluster issuers that wif hosts under
// the same URL are external issuers and do not count.
func (s *Service) ownIssuer(iss string) bool {
	rest, ok := strings.CutPrefix(iss, s.cfg.PublicURL+"/")
	if !ok {
		return false
	}
	tenant, ok := strings.CutSuffix(strings.TrimSuffix(rest, "/"), "/v2.0")
	return ok && tenant != "" && !strings.Contains(tenant, "/")
}

// mismatchError is the answer to an assertion no credential accepts. It
// names the presented issuer, subject and audience, and hint (the closest
// credential and why it failed) only if hint is not empty.
func mismatchError(res federation.Result, cl *oidc.Claims, hint string) *Error {
	presented := fmt.Sprintf("Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", cl.Issuer, cl.Subject, strings.Join(cl.Audience, ","))
	if hint != "" {
		hint = " Closest match: " + hint + "."
	}
	switch res.Outcome {
	case federation.IssuerMismatch:
		return errorf(700211, "invalid_client", "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s%s", cl.Issuer, presented, hint)
	case federation.SubjectMismatch:
		return errorf(700213, "invalid_client", "No matching federated identity record found for presented assertion subject '%s'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s%s", cl.Subject, presented, hint)
	case federation.SubjectCaseMismatch:
		return errorf(7002138, "invalid_client", "No matching federated identity record found for presented assertion subject '%s'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. %s%s", cl.Subject, presented, hint)
	default:
		return errorf(70021, "invalid_client", "No matching federated identity record found for presented assertion. %s%s", presented, hint)
	}
}

func (s *Service) mint(ctx context.Context, c *Client, audience, acr string) (Issued, error) {
	now := s.now()
	p := c.Principal
	key := reuseKey{p.TenantID, p.ClientID, audience, acr}
	if s.cfg.TokenReuse {
		s.reuseMu.Lock()
		prev, ok := s.reuse[key]
		s.reuseMu.Unlock()
		if ok && now.Sub(prev.IssuedAt) < s.cfg.ReuseWindow && prev.ExpiresAt.Sub(now) > 10*time.Minute {
			reqlog.Add(ctx, slog.Bool("reused", true))
			return prev, nil
		}
	}
	exp := now.Add(s.cfg.TokenLifetime)
	claims := token.Claims{
		Audience:  audience,
		Issuer:    s.Issuer(p.TenantID),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    exp.Unix(),
		AppID:     p.ClientID,
		AppIDACR:  acr,
		AZP:       p.ClientID,
		AZPACR:    acr,
		IDP:       s.Issuer(p.TenantID),
		IDType:    "app",
		OID:       p.ObjectID,
		Subject:   p.ObjectID,
		TenantID:  p.TenantID,
		UTI:       newUTI(),
		Version:   "2.0",
	}
	if p.Kind == store.KindManagedIdentity {
		claims.ManagedIdentityResourceID = "/subscriptions/" + p.SubscriptionID + "/resourcegroups/" + p.ResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.Name
	}
	raw, err := s.signer.Sign(ctx, p.TenantID, claims)
	if err != nil {
		return Issued{}, fmt.Errorf("sts: %w", err)
	}
	iss := Issued{AccessToken: raw, ExpiresAt: time.Unix(claims.Expiry, 0), IssuedAt: time.Unix(claims.IssuedAt, 0), TenantID: p.TenantID}
	if s.cfg.TokenReuse {
		s.reuseMu.Lock()
		if len(s.reuse) >= maxCached {
			clear(s.reuse)
		}
		s.reuse[key] = iss
		s.reuseMu.Unlock()
	}
	return iss, nil
}

func newUTI() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.UTC().Format("01/02/2006 15:04:05")
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
