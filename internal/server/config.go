// Package server wires wif's parts into one HTTPS server: the token
// service, the control plane, health endpoints, first-start setup and
// graceful shutdown.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/oidc"
	"github.com/wifproject/wif/internal/sts"
)

// Config is everything "wif serve" can be told.
type Config struct {
	DataDir   string
	Listen    string
	PublicURL string // default https://localhost:<port of Listen>
	Store     string // DSN; default SQLite in DataDir
	// ExtraCAFile is added to the system roots for outbound fetches of
	// issuer discovery documents and JWKS.
	ExtraCAFile string
	// IssuerFetchAllow restricts issuer discovery and JWKS fetches to these
	// hosts and CIDR prefixes (--issuer-fetch-allow, see
	// oidc.ParseFetchPolicy); empty allows every address except link-local
	// and cloud-metadata ones.
	IssuerFetchAllow []string

	TokenSigningAlg    string
	TokenLifetime      time.Duration
	TokenReuse         bool
	MaxFICsPerIdentity int
	VaultDNSSuffix     string
	// Audiences are resources, besides the Azure ones wif knows, that the
	// token service issues tokens for (--audience).
	Audiences []string
	// CacheTTL bounds how long changes made by other replicas take to be
	// seen by this one.
	CacheTTL time.Duration
	// Limits bound connections and request bodies.
	Limits Limits
}

// DefaultDataDir is $WIF_DATA_DIR, else wif under the user's data
// directory ($XDG_DATA_HOME or ~/.local/share).
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("WIF_DATA_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "wif")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "wif")
	}
	return filepath.Join(os.TempDir(), "wif")
}

// Complete fills defaults that derive from other fields and validates,
// reporting every problem at once.
func (c *Config) Complete() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %v", c.Listen, err))
	} else if _, err := strconv.Atoi(port); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: port must be a number", c.Listen))
	}
	_ = host
	if c.PublicURL == "" && err == nil {
		c.PublicURL = "https://localhost:" + port
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("--public-url %q: must be an https URL with a host and no path (Azure clients take the tenant from the first path segment)", c.PublicURL))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: required"))
	}
	if c.Store == "" && c.DataDir != "" {
		c.Store = "sqlite://" + filepath.Join(c.DataDir, "wif.db")
	}
	switch c.TokenSigningAlg {
	case "RS256", "ES256":
	default:
		errs = append(errs, fmt.Errorf("--token-signing-alg %q: must be RS256 or ES256", c.TokenSigningAlg))
	}
	if c.TokenLifetime < 10*time.Minute || c.TokenLifetime > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--token-lifetime %v: must be between 10m and 24h (MSAL treats tokens with less than 5 minutes left as expired)", c.TokenLifetime))
	}
	if c.MaxFICsPerIdentity < 1 {
		errs = append(errs, fmt.Errorf("--max-federated-credentials %d: must be at least 1", c.MaxFICsPerIdentity))
	}
	if c.VaultDNSSuffix == "" || strings.Count(c.VaultDNSSuffix, ".") < 1 {
		errs = append(errs, fmt.Errorf("--vault-dns-suffix %q: needs at least two labels (clients reject wildcard certificates for *.<single label>)", c.VaultDNSSuffix))
	}
	if c.ExtraCAFile != "" {
		if _, err := os.Stat(c.ExtraCAFile); err != nil {
			errs = append(errs, fmt.Errorf("--extra-ca-file: %v", err))
		}
	}
	if _, err := oidc.ParseFetchPolicy(c.IssuerFetchAllow); err != nil {
		errs = append(errs, fmt.Errorf("--issuer-fetch-allow: %w", err))
	}
	for _, a := range c.Audiences {
		if err := sts.CheckAudience(a); err != nil {
			errs = append(errs, fmt.Errorf("--audience: %w", err))
		}
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 5 * time.Second
	}
	errs = append(errs, c.Limits.validate()...)
	return errors.Join(errs...)
}

// vaultURL returns the data-plane URL of a vault: its own host under the
// vault DNS suffix, with the public URL's port unless it is 443.
func (c *Config) vaultURL(name string) string {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	host := strings.ToLower(name) + "." + c.VaultDNSSuffix
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	return "https://" + host + "/"
}

// publicHost returns the host of the public URL, without port.
func (c *Config) publicHost() string {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
