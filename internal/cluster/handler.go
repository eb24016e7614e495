package cluster

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/store"
)

// issuerStore is what the issuer endpoints read.
type issuerStore interface {
	GetClusterByIssuer(ctx context.Context, issuerID string) (store.Cluster, error)
	ListClusterKeys(ctx context.Context, issuerID string) ([]store.ClusterKey, error)
}

// IssuerHandler serves every cluster's OIDC issuer, without
// authentication, under /oidc/{tenant}/{issuer-id}/:
// .well-known/openid-configuration and openid/v1/jwks.
type IssuerHandler struct {
	st        issuerStore
	publicURL string
	now       func() time.Time
}

// NewIssuerHandler returns the handler; publicURL is wif's base URL.
func NewIssuerHandler(st issuerStore, publicURL string, now func() time.Time) *IssuerHandler {
	return &IssuerHandler{st: st, publicURL: publicURL, now: now}
}

func (h *IssuerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// oidc / tenant / issuer / rest...
	if len(seg) < 4 || seg[0] != "oidc" {
		http.NotFound(w, r)
		return
	}
	tenant, issuerID, rest := seg[1], seg[2], strings.Join(seg[3:], "/")
	c, err := h.st.GetClusterByIssuer(r.Context(), issuerID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(c.TenantID, tenant)):
		http.NotFound(w, r)
		return
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	issuer := IssuerURL(h.publicURL, c.TenantID, c.IssuerID)
	var body []byte
	switch rest {
	case ".well-known/openid-configuration":
		body, err = Discovery(issuer)
	case "openid/v1/jwks":
		var keys []store.ClusterKey
		if keys, err = h.st.ListClusterKeys(r.Context(), c.IssuerID); err == nil {
			body, err = JWKS(Published(keys, h.now()))
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Relying parties refetch on an unknown kid; a short max-age bounds how
	// long a removed key stays trusted elsewhere.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}
