package sts

import (
	"fmt"
	"net/url"
	"strings"
)

// Resources is the set of resources (token audiences) the token service
// issues tokens for. Entra knows only the resources of service principals
// in its tenants and answers any other with AADSTS500011; wif knows the
// resources it serves or that Azure clients ask for by name, and those an
// operator adds. The zero value and nil know nothing.
//
// Resources compare as Entra compares them: scheme and host without regard
// to case, the default port 443 of https implied, the path exactly but for
// trailing slashes ("https://management.azure.com/" and
// "https://management.azure.com" are one resource). A resource with user
// information, a query or a fragment is never known.
type Resources struct {
	exact map[string]bool // canonical forms
	// domains hold resources of the form https://{suffix} and
	// https://{label}.{suffix}: the vaults and storage accounts.
	domains []resourceDomain
}

type resourceDomain struct {
	suffix  string // lower-case DNS name
	apex    bool   // https://{suffix} itself is a resource
	anyPort bool   // any port, or none
}

// builtinResources are the Azure resources that clients of wif name.
var builtinResources = []string{
	"https://management.azure.com/",             // ARM (Azure SDKs' default)
	"https://management.core.windows.net/",      // ARM (az's classic audience)
	"https://vault.azure.net",                   // Key Vault
	"https://storage.azure.com/",                // Storage
	"https://database.windows.net/",             // Azure SQL
	"https://ossrdbms-aad.database.windows.net", // Azure Database for PostgreSQL and MySQL
}

// NewResources returns the resources of a wif at publicURL whose vaults are
// under vaultDNSSuffix, and the extra audiences an operator added (each an
// absolute URI with a host, or a GUID; see [CheckAudience]):
//
//   - ARM: the public URL (also with the "/graph" path that az's cloud
//     registration names as Microsoft Graph), https://management.azure.com/
//     and https://management.core.windows.net/;
//   - Key Vault: https://vault.azure.net and https://{vault}.vault.azure.net,
//     and https://{vaultDNSSuffix} and https://{vault}.{vaultDNSSuffix} with
//     any port, since the vault hosts carry the public URL's port and clients
//     take the resource from a challenge that names it;
//   - Storage: https://storage.azure.com/ and https://{account}.blob.core.windows.net;
//   - Azure SQL: https://database.windows.net/; PostgreSQL and MySQL:
//     https://ossrdbms-aad.database.windows.net.
func NewResources(publicURL, vaultDNSSuffix string, extra []string) (*Resources, error) {
	rs := &Resources{exact: map[string]bool{}}
	public := strings.TrimSuffix(publicURL, "/")
	for _, s := range append([]string{public, public + "/graph"}, builtinResources...) {
		c, ok := canonicalResource(s)
		if !ok {
			return nil, fmt.Errorf("sts: resource %q is not an absolute URI with a host", s)
		}
		rs.exact[c] = true
	}
	for _, s := range extra {
		if err := CheckAudience(s); err != nil {
			return nil, err
		}
		c, _ := canonicalResource(s)
		rs.exact[c] = true
	}
	rs.domains = []resourceDomain{
		{suffix: "vault.azure.net"},
		{suffix: "blob.core.windows.net"},
	}
	if d := strings.ToLower(strings.Trim(vaultDNSSuffix, ".")); d != "" {
		rs.domains = append(rs.domains, resourceDomain{suffix: d, apex: true, anyPort: true})
	}
	return rs, nil
}

// CheckAudience reports whether s can be added as an audience: an absolute
// URI with a host (https://api.contoso.com, api://orders) or a GUID (an
// application id), without control characters and at most maxScope bytes.
func CheckAudience(s string) error {
	if len(s) > maxScope {
		return fmt.Errorf("audience %.40q…: longer than %d bytes", s, maxScope)
	}
	if i := strings.IndexFunc(s, unprintable); i >= 0 {
		return fmt.Errorf("audience %q: contains the control or formatting character %U", s, []rune(s[i:])[0])
	}
	if _, ok := canonicalResource(s); !ok {
		return fmt.Errorf("audience %q: must be an absolute URI with a host (such as https://api.contoso.com or api://orders) or a GUID, without user information, query or fragment", s)
	}
	return nil
}

// Known reports whether wif issues tokens for resource.
func (rs *Resources) Known(resource string) bool {
	if rs == nil {
		return false
	}
	c, ok := canonicalResource(resource)
	if !ok {
		return false
	}
	if rs.exact[c] {
		return true
	}
	scheme, rest, _ := strings.Cut(c, "://")
	if scheme != "https" || strings.Contains(rest, "/") {
		return false
	}
	host, port, _ := strings.Cut(rest, ":")
	for _, d := range rs.domains {
		if port != "" && !d.anyPort {
			continue
		}
		if host == d.suffix && d.apex {
			return true
		}
		if label, ok := strings.CutSuffix(host, "."+d.suffix); ok && dnsLabel(label) {
			return true
		}
	}
	return false
}

// canonicalResource returns the form in which resources compare:
// lower-case scheme and host, no default port, the escaped path without
// trailing slashes; for a GUID, the lower-case GUID. ok is false for anything
// else, and for user information, a query or a fragment.
func canonicalResource(s string) (string, bool) {
	if g, err := parseGUID(s); err == nil {
		return strings.ToLower(g), true
	}
	if !strings.Contains(s, "://") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-:") != "" {
		return "", false // also refuses percent-escapes in the host
	}
	if strings.Contains(host, ":") {
		if !strings.HasPrefix(u.Host, "[") {
			return "", false
		}
		host = "[" + host + "]" // IPv6
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "https" && port == "443" {
		port = ""
	}
	c := scheme + "://" + host
	if port != "" {
		c += ":" + port
	}
	return c + strings.TrimRight(u.EscapedPath(), "/"), true
}

// dnsLabel reports whether s is one DNS label (letters, digits, inner
// hyphens; 1 to 63 characters), as vault and storage account names are.
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// unknownResource is Entra's answer to a resource it does not know.
func unknownResource(resource, tenant string) *Error {
	return errorf(500011, "invalid_resource", "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", truncate(resource), truncate(tenant))
}
