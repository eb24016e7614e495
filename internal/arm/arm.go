// Package arm is wif's Azure Resource Manager-compatible control plane:
// subscriptions, resource groups, user-assigned managed identities and
// their federated identity credentials, with Azure's JSON shapes, error
// codes and case-insensitive routing. Every request is authenticated with
// a wif access token and authorised through RBAC.
package arm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

// Config configures the control plane.
type Config struct {
	// PublicURL is the ARM endpoint, e.g. https://localhost:8443.
	PublicURL string
	// Audiences accepted on ARM tokens (compared ignoring a trailing slash).
	Audiences []string
	// MaxFICsPerIdentity is the limit of federated credentials (Entra: 20).
	MaxFICsPerIdentity int
	// IssuerFor returns the token issuer of a tenant, for challenges.
	IssuerFor func(tenantID string) string
	// VaultURL returns the data-plane URL of a vault, ending in "/".
	VaultURL func(name string) string
	// Tokens checks tokens for POST {identity}/explainToken; nil serves none.
	Tokens TokenChecker
}

// Handler serves the ARM API.
type Handler struct {
	cfg      Config
	db       *store.DB
	verifier Verifier
	now      func() time.Time

	// types are the resource types under providers/{namespace}/{type}, by
	// lower-cased namespace/type; groups are the resource groups.
	types  map[string]served
	groups *resourceType[armapi.ResourceGroup, store.ResourceGroup]
	// clusters is also in types; its actions use it directly.
	clusters *resourceType[armapi.ManagedCluster, store.Cluster]
}

// Verifier checks access tokens; *token.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, raw string, audiences ...string) (*token.Claims, error)
}

// NewHandler wires the control plane.
func NewHandler(cfg Config, db *store.DB, v Verifier, now func() time.Time) *Handler {
	h := &Handler{cfg: cfg, db: db, verifier: v, now: now, types: map[string]served{}}
	h.groups = h.groupType()
	h.groups.h = h
	h.clusters = h.clusterType()
	register(h, h.identityType())
	register(h, h.vaultType())
	register(h, h.clusters)
	return h
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Error is an ARM error response.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// caller is the authenticated principal of a request.
type caller struct {
	PrincipalID string
	TenantID    string
	ClientID    string
}

// request is a routed ARM request: the parsed path and the caller.
type request struct {
	r      *http.Request
	id     resourcePath
	seg    []string // id.seg: the decoded path segments, for routing
	caller caller
}

// lower returns segment i lower-cased, or "".
func (q *request) lower(i int) string {
	if i < len(q.seg) {
		return strings.ToLower(q.seg[i])
	}
	return ""
}

// ServeHTTP routes ARM requests case-insensitively on the escaped path, so
// that a percent-encoded "/" inside a name cannot change the route. The
// path is parsed and every name checked before anything else happens.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := parseResourcePath(r.URL.EscapedPath())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := &request{r: r, id: id, seg: id.seg}
	if strings.EqualFold(strings.Join(q.seg, "/"), "metadata/endpoints") && r.Method == http.MethodGet {
		h.metadata(w, r)
		return
	}
	if err := h.authenticate(q); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkAPIVersion(r.URL.Query()); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.route(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if v.asyncOperation != "" {
		w.Header().Set("Azure-AsyncOperation", v.asyncOperation)
	}
	if v.location != "" {
		w.Header().Set("Location", v.location)
	}
	if v.status == http.StatusNoContent || v.body == nil {
		w.WriteHeader(v.status)
		return
	}
	writeJSON(w, v.status, v.body)
}

type response struct {
	status int
	body   any
	// asyncOperation and location, when set, make the response a
	// long-running operation (which wif has always finished already).
	asyncOperation string
	location       string
}

func ok(body any) (response, error) { return response{status: http.StatusOK, body: body}, nil }
func created(body any) (response, error) {
	return response{status: http.StatusCreated, body: body}, nil
}

func (h *Handler) route(q *request) (response, error) {
	m := q.r.Method
	if q.id.authz >= 0 {
		return h.authorization(q)
	}
	switch {
	case q.lower(0) == "tenants" && len(q.seg) == 1 && m == http.MethodGet:
		return h.listTenants(q)
	case q.lower(0) == "providers" && len(q.seg) == 1 && m == http.MethodGet:
		return ok(armapi.Page[armapi.Provider]{Value: providers()})
	case q.lower(0) != "subscriptions":
		return response{}, notFoundPath(q)
	case len(q.seg) == 1 && m == http.MethodGet:
		return h.listSubscriptions(q)
	}
	sub, err := h.subscription(q)
	if err != nil {
		return response{}, err
	}
	n := len(q.seg)
	inGroup := n >= 4 && q.lower(2) == "resourcegroups"
	switch {
	case n == 2 && m == http.MethodGet:
		return ok(subscriptionJSON(sub))
	case n == 3 && q.lower(2) == "resourcegroups" && m == http.MethodGet:
		return h.groups.collection(q, sub)
	case n == 4 && inGroup:
		return h.groups.item(q, sub)
	case n == 3 && q.lower(2) == "resources" && m == http.MethodGet,
		n == 5 && inGroup && q.lower(4) == "resources" && m == http.MethodGet:
		return h.listResources(q, sub)
	case n == 3 && q.lower(2) == "providers" && m == http.MethodGet:
		return ok(armapi.Page[armapi.Provider]{Value: providers()})
	case n == 4 && q.lower(2) == "providers" && m == http.MethodGet:
		for _, p := range providers() {
			if strings.EqualFold(p.Namespace, q.seg[3]) {
				return ok(p)
			}
		}
		return response{}, errf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", q.seg[3])
	case n == 6 && q.lower(2) == "providers" && q.lower(3) == "microsoft.resources" && (q.lower(4) == "operationstatuses" || q.lower(4) == "operationresults") && m == http.MethodGet:
		return h.operationStatus(q)
	case n == 5 && q.lower(2) == "providers" && q.lower(3) == "microsoft.keyvault" && q.lower(4) == "checknameavailability" && m == http.MethodPost:
		return h.checkVaultName(q)
	case n == 5 && q.lower(2) == "providers" && m == http.MethodGet:
		if t, found := h.types[q.lower(3)+"/"+q.lower(4)]; found {
			return t.collection(q, sub)
		}
	case n >= 7 && inGroup && q.lower(4) == "providers":
		t, found := h.types[q.lower(5)+"/"+q.lower(6)]
		switch {
		case !found:
		case n == 7 && m == http.MethodGet:
			return t.collection(q, sub)
		case n == 8:
			return t.item(q, sub)
		case n <= 10:
			return t.below(q, sub)
		}
	}
	return response{}, notFoundPath(q)
}

func notFoundPath(q *request) error {
	return errf(http.StatusNotFound, "NoRegisteredProviderFound", "No registered resource provider found for path '%s' and method '%s'.", q.r.URL.Path, q.r.Method)
}

// authenticate checks the bearer token: a wif access token for one of the
// management audiences.
func (h *Handler) authenticate(q *request) error {
	authz := q.r.Header.Get("Authorization")
	if authz == "" {
		return errf(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, raw, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return errf(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	c, err := h.verifier.Verify(q.r.Context(), strings.TrimSpace(raw), h.cfg.Audiences...)
	switch {
	case errors.Is(err, token.ErrUnavailable):
		// An internal failure: the cause goes to the log, not to the caller.
		reqlog.Add(q.r.Context(), slog.String("error", err.Error()))
		return errf(http.StatusServiceUnavailable, "ServiceUnavailable", "The access token could not be validated at this time. Retry the request.")
	case errors.Is(err, token.ErrExpired):
		return errf(http.StatusUnauthorized, "ExpiredAuthenticationToken", "The access token is invalid: %v", err)
	case errors.Is(err, token.ErrAudience):
		return errf(http.StatusUnauthorized, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource. It should exactly match one of the allowed audiences '%s'. (%v)", strings.Join(h.cfg.Audiences, "','"), err)
	case err != nil:
		// Verification errors name only what the caller presented.
		return errf(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid: %v", err)
	}
	q.caller = caller{PrincipalID: c.OID, TenantID: c.TenantID, ClientID: c.AppID}
	reqlog.Add(q.r.Context(), slog.String("principal", c.OID), slog.String("tenant", c.TenantID))
	return nil
}

// subscription loads segment 1 as a subscription of the caller's tenant.
func (h *Handler) subscription(q *request) (store.Subscription, error) {
	id := q.id.Subscription
	if id == "" {
		return store.Subscription{}, notFoundPath(q)
	}
	sub, err := h.db.GetSubscription(q.r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sub, errf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", id)
	case err != nil:
		return sub, err
	case !strings.EqualFold(sub.TenantID, q.caller.TenantID):
		return sub, errf(http.StatusUnauthorized, "InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer. It must match the tenant associated with subscription '%s'.", id)
	}
	return sub, nil
}

// authorize checks that the caller may perform action at scope.
func (h *Handler) authorize(q *request, action, scope string) error {
	as, err := h.db.ListRoleAssignments(q.r.Context(), store.RoleAssignmentFilter{Scope: scope, AtOrAbove: true, PrincipalID: q.caller.PrincipalID})
	if err != nil {
		return err
	}
	list := make([]rbac.Assignment, len(as))
	for i, a := range as {
		list[i] = rbac.Assignment{Scope: a.Scope, RoleDefinitionID: a.RoleDefinitionID, PrincipalID: a.PrincipalID}
	}
	d := rbac.Authorize(rbac.Request{PrincipalID: q.caller.PrincipalID, Action: action, Scope: scope}, list, rbac.BuiltIn)
	if !d.Allowed {
		reqlog.Add(q.r.Context(), slog.String("denied_action", action))
		return errf(http.StatusForbidden, "AuthorizationFailed", "%s", rbac.AuthorizationFailedMessage(q.caller.PrincipalID, action, scope))
	}
	return nil
}

// decode reads a JSON body into v, rejecting unknown fields, trailing data
// and oversized bodies with InvalidRequestContent.
func decode(q *request, v any) error {
	body := http.MaxBytesReader(nil, q.r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var raw json.RawMessage
	err := dec.Decode(&raw)
	if err == nil {
		// A JSON null would decode as an empty object and let a PUT or
		// PATCH succeed without content; ARM refuses it.
		if string(raw) == "null" {
			return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: the content is null.")
		}
		strict := json.NewDecoder(bytes.NewReader(raw))
		strict.DisallowUnknownFields()
		err = strict.Decode(v)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request content is larger than %d bytes.", maxBody)
		}
		// An error of the connection (a body cut by its deadline, a reset)
		// names addresses: it is not echoed.
		if ne := net.Error(nil); errors.As(err, &ne) {
			return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read.")
		}
		return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
	}
	// Anything after the object, including a stray '}' and including bytes
	// past the size limit, is an error.
	switch _, err := dec.Token(); {
	case err == io.EOF:
		return nil
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request content is larger than %d bytes.", maxBody)
		}
	}
	return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: unexpected data after the JSON object.")
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case store.IsUnavailable(err):
		// ARM's answer while a dependency is down; clients retry 503.
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = errf(http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable. Retry the request.")
		w.Header().Set("Retry-After", strconv.Itoa(store.RetryAfter))
	default:
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = errf(http.StatusInternalServerError, "InternalServerError", "An internal error occurred. Retry the request.")
	}
	reqlog.Add(r.Context(), slog.String("arm_error", e.Code))
	if e.Status == http.StatusUnauthorized && h.cfg.IssuerFor != nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`, h.cfg.PublicURL, e.Code))
	}
	w.Header().Set("x-ms-failure-cause", "gateway")
	writeJSON(w, e.Status, armapi.ErrorResponse{Error: armapi.ErrorBody{Code: e.Code, Message: e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"InternalServerError","message":"encoding failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func newGUID() string { return uuid.NewString() }

// metadata serves the cloud metadata az reads during "az cloud register".
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	base := h.cfg.PublicURL
	writeJSON(w, http.StatusOK, armapi.CloudMetadata{
		GalleryEndpoint: base + "/",
		GraphEndpoint:   base + "/graph/",
		PortalEndpoint:  base + "/",
		Authentication: armapi.CloudMetadataAuthority{
			LoginEndpoint: base + "/",
			Audiences:     []string{h.cfg.Audiences[0], strings.TrimSuffix(h.cfg.Audiences[0], "/")},
		},
	})
}

func providers() []armapi.Provider {
	p := func(ns string, types ...string) armapi.Provider {
		var rt []armapi.ProviderType
		for _, t := range types {
			rt = append(rt, armapi.ProviderType{ResourceType: t, Locations: []string{}, APIVersions: []string{"2024-11-30", "2023-01-31", "2022-01-31-preview"}})
		}
		return armapi.Provider{ID: "/providers/" + ns, Namespace: ns, RegistrationState: "Registered", ResourceTypes: rt}
	}
	return []armapi.Provider{
		p("Microsoft.ManagedIdentity", "userAssignedIdentities", "userAssignedIdentities/federatedIdentityCredentials"),
		p("Microsoft.Resources", "resourceGroups", "subscriptions"),
		p("Microsoft.KeyVault", "vaults"),
		p("Microsoft.ContainerService", "managedClusters"),
		p("Microsoft.Authorization", "roleAssignments", "roleDefinitions"),
	}
}

// ctx is a shorthand for the request context.
func (q *request) ctx() context.Context { return q.r.Context() }
