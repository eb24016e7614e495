// Package keyvault is wif's Key Vault secrets data plane: every vault is
// served at its own host, https://{vault}.{dns-suffix}[:port], with Key
// Vault's REST surface, JSON shapes, error codes, bearer challenge and
// soft-delete semantics, so that the unmodified Azure SDKs (Go azsecrets,
// JS @azure/keyvault-secrets) and the Azure CLI work against it.
//
// Callers are authenticated with wif-issued access tokens whose audience
// is the resource https://{dns-suffix}[:port] and whose tenant is the
// vault's, and authorised by Azure RBAC data actions
// (Microsoft.KeyVault/vaults/secrets/...) at the secret's scope, which
// inherits assignments at the vault, resource group, subscription and
// root. wif has no access policies: a vault with
// enableRbacAuthorization=false is authorised by RBAC as well.
//
// Secret values are sealed (AES-256-GCM under a key-encryption key) before
// they reach the store; the additional data binds each sealed value to its
// vault, secret name and version. Values are never logged.
package keyvault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// Config configures the data plane.
type Config struct {
	// DNSSuffix is the parent domain of vault hosts, e.g. "vault.localhost"
	// for https://myvault.vault.localhost:8443.
	DNSSuffix string
	// PublicURL is wif's base URL (the token service authority), e.g.
	// https://localhost:8443, without a trailing slash. The challenge's
	// authorization is PublicURL + "/" + the vault's tenant.
	PublicURL string
	// Port is the public port of vault URLs; "" or "443" for none.
	Port string
}

// Store is the storage the data plane needs; *store.DB implements it.
type Store interface {
	GetVaultByName(ctx context.Context, name string) (store.Vault, error)
	PutSecretVersion(ctx context.Context, v store.SecretVersion) (store.SecretVersion, error)
	GetSecretVersion(ctx context.Context, vault, name, version string) (store.SecretVersion, error)
	ListSecrets(ctx context.Context, vault string, p store.SecretPage) ([]store.SecretVersion, error)
	ListSecretVersions(ctx context.Context, vault, name string, p store.SecretPage) ([]store.SecretVersion, error)
	UpdateSecretVersion(ctx context.Context, vault, name, version string, update func(*store.SecretVersion)) (store.SecretVersion, error)
	DeleteSecret(ctx context.Context, vault, name string, deletedAt, purgeAt time.Time) (store.DeletedSecret, error)
	GetDeletedSecret(ctx context.Context, vault, name string) (store.DeletedSecret, error)
	ListDeletedSecrets(ctx context.Context, vault string, p store.SecretPage) ([]store.DeletedSecret, error)
	RecoverSecret(ctx context.Context, vault, name string) (store.SecretVersion, error)
	PurgeSecret(ctx context.Context, vault, name string) error
	RestoreSecret(ctx context.Context, versions []store.SecretVersion) (store.SecretVersion, error)
}

// RoleAssignments looks role assignments up; *store.DB implements it.
type RoleAssignments interface {
	ListRoleAssignments(ctx context.Context, f store.RoleAssignmentFilter) ([]store.RoleAssignment, error)
}

// Verifier verifies wif access tokens; *token.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, raw string, audiences ...string) (*token.Claims, error)
}

// Deps are the data plane's collaborators.
type Deps struct {
	Store  Store
	Roles  RoleAssignments
	Tokens Verifier
	Sealer Sealer
	Now    func() time.Time
	// CacheTTL bounds how long a vault and a principal's role assignments
	// are cached, hence how long other replicas' changes to them take to
	// apply (local changes apply at once through Invalidate). Zero means
	// DefaultCacheTTL; a negative value disables the cache.
	CacheTTL time.Duration
}

// Handler serves the secrets data plane of every vault.
type Handler struct {
	cfg        Config
	deps       Deps
	suffix     string   // "." + lower-case DNS suffix
	hostSuffix string   // suffix plus ":port" when not 443, for ids
	audiences  []string // the resource, as Verify takes it
	roles      map[string]rbac.RoleDefinition
	cache      *authCache
	restores   *restoreBudget
}

// NewHandler returns the data plane.
func NewHandler(cfg Config, deps Deps) *Handler {
	cfg.DNSSuffix = strings.ToLower(strings.Trim(cfg.DNSSuffix, "."))
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.Port == "443" {
		cfg.Port = ""
	}
	h := &Handler{cfg: cfg, deps: deps, suffix: "." + cfg.DNSSuffix, hostSuffix: "." + cfg.DNSSuffix,
		roles: map[string]rbac.RoleDefinition{}, cache: newAuthCache(deps.CacheTTL, deps.Now),
		restores: newRestoreBudget(restoreMemory, restoreWait)}
	if cfg.Port != "" {
		h.hostSuffix += ":" + cfg.Port
	}
	h.audiences = []string{"https://" + h.hostSuffix[1:]}
	for _, d := range rbac.BuiltIns() {
		h.roles[strings.ToLower(d.Name)] = d
	}
	return h
}

// Resource is the resource (token audience) of every vault:
// https://{dns-suffix}[:port].
func (h *Handler) Resource() string { return h.audiences[0] }

// Match reports whether a request Host (with or without port) belongs to
// the data plane; the router sends exactly those here. Every host under the suffix (and the suffix itself) belongs to the data
// plane, so that a malformed vault host gets Key Vault's VaultNotFound
// rather than falling through to another service.
func (h *Handler) Match(host string) bool {
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(host, h.suffix) || host == strings.TrimPrefix(h.suffix, ".")
}

// vaultName extracts the vault name label from a Host header.
func (h *Handler) vaultName(host string) (string, bool) {
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name, ok := strings.CutSuffix(host, h.suffix)
	if !ok || name == "" || len(name) > 63 {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-') {
			return "", false
		}
	}
	return name, true
}

// call is one authenticated request.
type call struct {
	r      *http.Request
	vault  store.Vault
	key    string // lower-case vault name
	base   string // https://{vault}.{suffix}[:port]
	claims *token.Claims
	route  route
}

const (
	maxBody        = 1 << 20
	maxRestoreBody = 16 << 20
	// defaultAPIVersion is put in nextLinks when a request carried none.
	defaultAPIVersion = "7.6"
)

// ServeHTTP serves one data-plane request. Unauthenticated requests get the
// bearer challenge before their body is read.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, ok := h.vaultName(r.Host)
	if !ok {
		h.fail(w, r, nil, vaultNotFound(r.Host))
		return
	}
	vault, err := h.cache.vault(ctx, name, h.deps.Store.GetVaultByName)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, nil, vaultNotFound(name))
		return
	} else if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	reqlog.Add(ctx, slog.String("vault", vault.Name))
	c := &call{r: r, vault: vault, key: name, base: "https://" + name + h.hostSuffix}
	if err := h.authenticate(c); err != nil {
		h.fail(w, r, c, err)
		return
	}
	rt, e := parseRoute(r.Method, r.URL.EscapedPath())
	if e != nil {
		h.fail(w, r, c, e)
		return
	}
	c.route = rt
	reqlog.Add(ctx, slog.String("op", opInfo[rt.op].name))
	if rt.name != "" {
		reqlog.Add(ctx, slog.String("secret", rt.name))
	}
	if err := h.authorize(c); err != nil {
		h.fail(w, r, c, err)
		return
	}
	status, body, err := h.serve(c)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// challenge is the WWW-Authenticate value for a vault of tenantID. Values
// hold neither spaces nor '=' (the Go SDK splits on both).
func (h *Handler) challenge(tenantID string) string {
	return `Bearer authorization="` + h.cfg.PublicURL + "/" + tenantID + `", resource="` + h.audiences[0] + `"`
}

func (h *Handler) authenticate(c *call) error {
	authz := c.r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(authz, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
	}
	claims, err := h.deps.Tokens.Verify(c.r.Context(), raw, h.audiences...)
	switch {
	case errors.Is(err, token.ErrUnavailable):
		reqlog.Add(c.r.Context(), slog.String("error", err.Error()))
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The token could not be validated at this time. Retry the request."}
	case errors.Is(err, token.ErrAudience):
		return unauthorized("AKV10022: Invalid audience. Expected " + h.audiences[0] + ".")
	case errors.Is(err, token.ErrExpired):
		return unauthorized("AKV10012: Token is expired or not yet valid.")
	case errors.Is(err, token.ErrIssuer):
		return unauthorized("AKV10032: Invalid issuer. The token was not issued by this service.")
	case err != nil:
		return unauthorized("AKV10013: Token validation failed: the token is malformed or its signature is invalid.")
	case !strings.EqualFold(claims.TenantID, c.vault.TenantID):
		reqlog.Add(c.r.Context(), slog.String("token_tenant", claims.TenantID))
		return unauthorized("AKV10032: Invalid issuer. Expected one of " + h.cfg.PublicURL + "/" + c.vault.TenantID +
			"/v2.0, found " + truncate(claims.Issuer) + ".")
	case claims.OID == "":
		return unauthorized("AKV10020: The token has no object id (oid) claim.")
	}
	c.claims = claims
	reqlog.Add(c.r.Context(), slog.String("principal", claims.OID), slog.String("tenant", claims.TenantID))
	return nil
}

// vaultScope is the ARM id of the vault.
func vaultScope(v store.Vault) string {
	return "/subscriptions/" + v.SubscriptionID + "/resourceGroups/" + v.ResourceGroup +
		"/providers/Microsoft.KeyVault/vaults/" + v.Name
}

// secretScope is the ARM id of a secret of the vault, or of the vault for
// name "".
func secretScope(v store.Vault, name string) string {
	if name == "" {
		return vaultScope(v)
	}
	return vaultScope(v) + "/secrets/" + name
}

// authorize checks the route's data action at the secret's scope (the
// vault's for vault-wide operations); assignments at any ancestor apply.
func (h *Handler) authorize(c *call) error {
	ctx := c.r.Context()
	oid := c.claims.OID
	g, err := h.cache.assignments(ctx, oid, c.vault, h.deps.Roles.ListRoleAssignments)
	if err != nil {
		return err
	}
	action := opInfo[c.route.op].action
	allowed, ok := g.decided(action, c.route.name)
	if !ok {
		req := rbac.Request{PrincipalID: oid, Action: action, DataAction: true, Scope: secretScope(c.vault, c.route.name)}
		allowed = rbac.Authorize(req, g.list, h.role).Allowed
		g.remember(action, c.route.name, allowed)
	}
	if allowed {
		return nil
	}
	scope := secretScope(c.vault, c.route.name)
	reqlog.Add(ctx, slog.String("denied_action", action))
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Inner: "ForbiddenByRbac", Message: "Caller is not authorized to perform action on resource.\r\n" +
		"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + c.claims.AppID + ";oid=" + oid + ";iss=" + c.claims.Issuer + "\r\n" +
		"Action: '" + action + "'\r\n" +
		"Resource: '" + strings.ToLower(scope) + "'\r\n" +
		"Assignment: (not found)\r\n" +
		"DenyAssignmentId: null\r\n" +
		"DecisionReason: null \r\n" +
		"Vault: " + c.vault.Name + ";location=" + c.vault.Location + "\r\n"}
}

func (h *Handler) role(guid string) (rbac.RoleDefinition, bool) {
	d, ok := h.roles[guid]
	return d, ok
}

func vaultNotFound(name string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeVaultNotFound, Message: "The vault '" + truncate(name) + "' was not found."}
}

// fail renders err: an *Error as itself (401s with the vault's challenge),
// an unavailable store as a 503 with Retry-After, anything else as a 500;
// the detail of the last two goes to the request log only.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case store.IsUnavailable(err):
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: store.RetryAfter,
			Message: "The service is temporarily unavailable. Retry the request."}
	default:
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "The server encountered an internal error."}
	}
	reqlog.Add(r.Context(), slog.String("error_code", e.Code))
	if e.Status == http.StatusUnauthorized && c != nil {
		w.Header().Set("WWW-Authenticate", h.challenge(c.vault.TenantID))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, e.body())
}

// jsonBuffers recycles response encoders, which encode a secret bundle on
// every GET. Buffers are zeroed before reuse.
var jsonBuffers = sync.Pool{New: func() any {
	b := &jsonBuffer{}
	b.enc = json.NewEncoder(&b.buf)
	return b
}}

type jsonBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooledJSON keeps the buffers of large responses (lists, backups) out
// of the pool.
const maxPooledJSON = 64 << 10

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := jsonBuffers.Get().(*jsonBuffer)
	defer func() {
		clear(b.buf.Bytes()) // it may hold a secret value
		if b.buf.Cap() <= maxPooledJSON {
			b.buf.Reset()
			jsonBuffers.Put(b)
		}
	}()
	var body []byte
	if err := b.enc.Encode(v); err != nil {
		status, body = http.StatusInternalServerError, []byte(internalErrorJSON)
	} else {
		body = b.buf.Bytes()
	}
	// One allocation for both header values, none shared between responses.
	vals := [2]string{"application/json; charset=utf-8", "no-cache"}
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["Cache-Control"] = vals[1:2:2]
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client is gone
}

const internalErrorJSON = `{"error":{"code":"InternalServerError","message":"The server encountered an internal error."}}`

// readBody reads at most limit bytes of the request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badParameter("The request body could not be read.")
	}
	if int64(len(b)) > limit {
		return nil, badParameter("The request body is larger than %d bytes.", limit)
	}
	return b, nil
}

// newVersion returns a 32-hex-digit version: 48 bits of milliseconds (so
// versions of a secret sort roughly by creation) and 80 random bits.
func newVersion(now time.Time) (string, error) {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
