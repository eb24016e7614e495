package sts

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/store"
)

// Handler serves the token service's HTTP endpoints.
type Handler struct {
	svc *Service
	now func() time.Time
}

// NewHandler returns the HTTP face of svc.
func NewHandler(svc *Service, now func() time.Time) *Handler {
	return &Handler{svc: svc, now: now}
}

// Register adds the token service's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", h.discovery)
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", h.discovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", h.jwks)
	mux.HandleFunc("GET /{tenant}/discovery/keys", h.jwks)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", h.token)
	mux.HandleFunc("POST /{tenant}/oauth2/token", h.token)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", h.notPost)
	mux.HandleFunc("/{tenant}/oauth2/token", h.notPost)
	mux.HandleFunc("GET /adfs/.well-known/openid-configuration", h.adfsDiscovery)
	mux.HandleFunc("GET /common/discovery/instance", h.instanceDiscovery)
}

// baseURL is wif's configured public URL, which discovery documents and
// error URIs name whatever Host the request carried: reflecting the Host
// header would let anyone who can steer it (a proxy, a shared cache, a
// rebinding DNS name) point a client's token endpoint and keys elsewhere.
// Tokens are issued by the public URL too, so MSAL's issuer check holds
// for clients configured with it.
func (h *Handler) baseURL() string {
	return h.svc.cfg.PublicURL
}

// publicHost is the host (and port) of the public URL.
func (h *Handler) publicHost() string {
	if u, err := url.Parse(h.svc.cfg.PublicURL); err == nil {
		return u.Host
	}
	return ""
}

// tenantFound reports whether tenant exists, answering the request with
// AADSTS90002 (or the store's failure) when it does not.
func (h *Handler) tenantFound(w http.ResponseWriter, r *http.Request, tenant string) bool {
	ok, err := h.svc.dir.TenantExists(r.Context(), tenant)
	switch {
	case err != nil:
		h.fail(w, r, err)
	case !ok:
		h.fail(w, r, errorf(90002, "invalid_tenant", "Tenant '%s' not found.", truncate(tenant)))
	}
	return err == nil && ok
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !tenantAliases[strings.ToLower(tenant)] && !h.tenantFound(w, r, tenant) {
		return
	}
	doc := discoveryDoc(h.baseURL(), tenant)
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, doc)
}

func discoveryDoc(base, tenant string) map[string]any {
	t := base + "/" + tenant
	return map[string]any{
		"issuer":                                t + "/v2.0",
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"grant_types_supported":                 []string{GrantClientCredentials, GrantTokenExchange},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "azp", "appid", "idtyp", "ver"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "wif",
		"request_uri_parameter_supported":       false,
	}
}

// adfsDiscovery serves the ADFS-style authority that az 2.45 uses offline:
// MSAL takes the tenant "adfs" from the token endpoint path, and the token
// endpoint resolves the real tenant from the client id.
func (h *Handler) adfsDiscovery(w http.ResponseWriter, r *http.Request) {
	doc := discoveryDoc(h.baseURL(), "adfs")
	doc["issuer"] = h.baseURL() + "/adfs"
	doc["token_endpoint"] = h.baseURL() + "/adfs/oauth2/token"
	writeJSON(w, http.StatusOK, doc)
}

// instanceDiscovery answers MSAL's instance discovery, for clients whose
// login.microsoftonline.com resolves to wif. The tenant discovery endpoint
// is under the public URL, and the public host is the alias that lets
// MSAL accept the issuer there; the authority the client asked about is
// neither reflected nor needed (MSAL caches a fallback entry for a host
// the metadata does not list).
func (h *Handler) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant := "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if seg := strings.Split(strings.TrimPrefix(u.Path, "/"), "/"); len(seg) > 0 && seg[0] != "" {
				tenant = seg[0]
			}
		}
	}
	host := h.publicHost()
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": h.baseURL() + "/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}, {
			"preferred_network": "login.microsoftonline.com",
			"preferred_cache":   "login.windows.net",
			"aliases":           []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"},
		}},
	})
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !h.tenantFound(w, r, tenant) {
		return
	}
	b, err := h.svc.signer.JWKS(r.Context(), tenant)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300, public")
	w.Write(b)
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	form, perr := readForm(w, r)
	if perr != nil {
		h.fail(w, r, perr)
		return
	}
	req, perr := ParseRequest(form)
	if perr != nil {
		h.fail(w, r, perr)
		return
	}
	if !h.svc.cfg.Resources.Known(req.Audience) {
		h.fail(w, r, unknownResource(req.Audience, r.PathValue("tenant")))
		return
	}
	iss, err := h.svc.Exchange(r.Context(), r.PathValue("tenant"), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	expiresIn := int64(iss.ExpiresAt.Sub(h.now()).Seconds())
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Hand-built: this is the hot path, and every field is known safe for
	// JSON (digits, and a JWT's base64url alphabet).
	var b strings.Builder
	b.Grow(len(iss.AccessToken) + 160)
	b.WriteString(`{"token_type":"Bearer","expires_in":`)
	b.WriteString(strconv.FormatInt(expiresIn, 10))
	b.WriteString(`,"ext_expires_in":`)
	b.WriteString(strconv.FormatInt(expiresIn, 10))
	if req.Grant == GrantTokenExchange {
		b.WriteString(`,"issued_token_type":"` + TokenTypeAccessToken + `"`)
	}
	b.WriteString(`,"access_token":"`)
	b.WriteString(iss.AccessToken)
	b.WriteString(`"}`)
	w.Write([]byte(b.String()))
}

// notPost answers the token endpoint's other methods as Entra does.
func (h *Handler) notPost(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, errorf(900561, "invalid_request", "The endpoint only accepts POST requests. Received a %s request.", truncate(r.Method)))
}

// fail renders err as Entra's error JSON. Errors that are not *Error are
// internal failures.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	status := http.StatusBadRequest
	switch {
	case errors.As(err, &e):
		if e.Code == 7000215 || e.Code == 7000218 {
			status = http.StatusUnauthorized
		}
	case store.IsUnavailable(err):
		// Entra's transient error; MSAL and azidentity retry a 503.
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = &Error{Code: 90033, Err: "temporarily_unavailable", Desc: "A transient error has occurred. Please try again."}
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(store.RetryAfter))
	default:
		reqlog.Add(r.Context(), slog.String("error", err.Error()))
		e = &Error{Code: 50000, Err: "temporarily_unavailable", Desc: "There was an error issuing a token. Try again later."}
		status = http.StatusInternalServerError
	}
	reqlog.Add(r.Context(), slog.Int("aadsts", e.Code))
	traceID := reqlog.ID(r.Context())
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = r.URL.Query().Get("client-request-id")
	}
	if _, err := parseGUID(corr); err != nil {
		corr = traceID
	}
	ts := h.now().UTC()
	writeJSON(w, status, map[string]any{
		"error":             e.Err,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.Code, e.Desc, traceID, corr, ts.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{e.Code},
		"timestamp":         ts.Format("2006-01-02 15:04:05Z"),
		"trace_id":          traceID,
		"correlation_id":    corr,
		"error_uri":         h.baseURL() + "/error?code=" + strconv.Itoa(e.Code),
	})
}

// parseGUID accepts only a GUID, so that no user input is echoed as an id.
func parseGUID(s string) (string, error) {
	if len(s) != 36 {
		return "", errors.New("not a GUID")
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", errors.New("not a GUID")
			}
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		default:
			return "", errors.New("not a GUID")
		}
	}
	return s, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
