// Package webhook is wif's mutating admission webhook. It keeps the
// azure-workload-identity (v1.5.x, stable) contract: pods labelled
// azure.workload.identity/use=true get AZURE_CLIENT_ID, AZURE_TENANT_ID,
// AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST plus a projected service
// account token, so that unmodified Azure SDK clients (WorkloadIdentityCredential,
// DefaultAzureCredential) obtain tokens from wif.
//
// Mutate is the pure policy; Handler decodes AdmissionReviews, looks up the
// service account and turns Mutate's result into add-only JSON patch
// operations; Serve wires TLS, routes and the service account informer.
package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultAudience is the audience of the projected token when Config.Audience is empty.
const DefaultAudience = "api://AzureADTokenExchange"

// ErrInvalidConfig is wrapped by every problem Config.Validate reports.
var ErrInvalidConfig = errors.New("invalid config")

// Config is what the webhook injects; build it in cmd and Validate it once.
type Config struct {
	// TenantID is the default AZURE_TENANT_ID (SA annotation tenant-id wins).
	TenantID string
	// AuthorityHost is wif's token endpoint base, e.g. https://wif.example:8443/,
	// injected as AZURE_AUTHORITY_HOST. The Azure SDKs require https.
	AuthorityHost string
	// Audience of the projected service account token; "" means DefaultAudience.
	Audience string
	// CABundle, when set, opts every mutated pod into trusting wif's CA.
	CABundle *CABundle
}

// CABundle names the ConfigMap (in the pod's namespace) holding wif's CA
// certificate(s) in PEM form. The ConfigMap must exist in every namespace
// that runs labelled pods (as kube-root-ca.crt does); a pod whose ConfigMap is
// missing stays in ContainerCreating, which is louder than a TLS failure.
type CABundle struct {
	ConfigMapName string
	Key           string // e.g. "ca.crt"
}

// audience returns the effective token audience.
func (c Config) audience() string {
	if c.Audience == "" {
		return DefaultAudience
	}
	return c.Audience
}

// Validate reports every problem with c at once (joined); each wraps ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhook: config: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.TenantID == "":
		bad("tenant ID is required")
	case strings.TrimSpace(c.TenantID) != c.TenantID || strings.ContainsAny(c.TenantID, " \t\r\n/"):
		bad("tenant ID %q contains whitespace or '/'", c.TenantID)
	}
	if c.AuthorityHost == "" {
		bad("authority host is required")
	} else if u, err := url.Parse(c.AuthorityHost); err != nil {
		bad("authority host %q: %v", c.AuthorityHost, err)
	} else {
		if u.Scheme != "https" {
			bad("authority host %q: scheme must be https (the Azure SDKs refuse anything else)", c.AuthorityHost)
		}
		if u.Host == "" {
			bad("authority host %q: missing host", c.AuthorityHost)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("authority host %q: must not carry userinfo, query or fragment", c.AuthorityHost)
		}
	}
	if strings.TrimSpace(c.Audience) != c.Audience {
		bad("audience %q has surrounding whitespace", c.Audience)
	}
	if c.CABundle != nil {
		if c.CABundle.ConfigMapName == "" {
			bad("CA bundle ConfigMap name is required")
		} else if msgs := validation.IsDNS1123Subdomain(c.CABundle.ConfigMapName); len(msgs) > 0 {
			bad("CA bundle ConfigMap name %q: %s", c.CABundle.ConfigMapName, strings.Join(msgs, "; "))
		}
		if c.CABundle.Key == "" {
			bad("CA bundle key is required")
		} else if msgs := validation.IsConfigMapKey(c.CABundle.Key); len(msgs) > 0 {
			bad("CA bundle key %q: %s", c.CABundle.Key, strings.Join(msgs, "; "))
		}
	}
	return errors.Join(errs...)
}
