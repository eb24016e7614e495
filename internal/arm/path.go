package arm

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// resourcePath is an ARM request path, parsed once at the edge. Every
// segment has been decoded and checked: a name holds no "/", "\", "%",
// control character or dot segment, and each name in a known position
// (subscription, resource group, resource, child) has passed its type's
// rules. Routing reads seg; authorisation and the store read the named
// fields, and scope renders exactly those fields, so the scope RBAC checks
// is the resource the handler touches.
type resourcePath struct {
	seg []string // decoded segments, without empty ones

	// The resource the path addresses, as far as it names one. Names keep
	// the caller's casing; Namespace and Type get their canonical casing
	// when wif knows the type.
	Subscription  string
	ResourceGroup string
	Namespace     string // e.g. Microsoft.ManagedIdentity
	Type          string // e.g. userAssignedIdentities
	Name          string
	ChildType     string // e.g. federatedIdentityCredentials, or a cluster action
	ChildName     string

	// Extension is "roleAssignments" or "roleDefinitions" when the path
	// continues with providers/Microsoft.Authorization/{Extension}; the
	// fields above then describe the extension's scope, which authz holds
	// the segments of.
	Extension     string
	ExtensionName string
	authz         int // index of "providers/Microsoft.Authorization" in seg, or -1
}

// scope renders the canonical id of the resource the path addresses: the
// root, a subscription, a resource group, a resource or a child resource.
// Collections and actions have the scope of their parent.
func (p resourcePath) scope() string {
	if p.Subscription == "" {
		return "/"
	}
	s := "/subscriptions/" + p.Subscription
	if p.ResourceGroup == "" {
		return s
	}
	s += "/resourceGroups/" + p.ResourceGroup
	if p.Name == "" {
		return s
	}
	s += "/providers/" + p.Namespace + "/" + p.Type + "/" + p.Name
	if p.ChildName != "" {
		s += "/" + p.ChildType + "/" + p.ChildName
	}
	return s
}

// scopeSegments is the number of leading segments that the scope names.
func (p resourcePath) scopeSegments() int {
	switch {
	case p.Subscription == "":
		return 0
	case p.ResourceGroup == "":
		return 2
	case p.Name == "":
		return 4
	case p.ChildName == "":
		return 8
	}
	return 10
}

// resourceKind is what wif knows of a resource type: the canonical
// casing, the rule of its names and the rule of its children's names.
type resourceKind struct {
	namespace, typ string
	name           nameRule
	children       map[string]childKind // by lower-cased child type
}

type childKind struct {
	typ  string
	name nameRule
}

// nameRule checks one name and says what is wrong with it in ARM's words.
type nameRule func(name string) *Error

var (
	groupChars   = regexp.MustCompile(`^[-\p{L}\p{N}_.()]*$`)
	identityName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$`)
	// The federated identity credential name of Azure/azure-rest-api-specs
	// (msi, FederatedIdentityCredential.tsp).
	ficName     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$`)
	clusterName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9]$|^[a-zA-Z0-9]$`)
	vaultName   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)
)

// resourceKinds are the resource types wif serves, by lower-cased
// namespace/type.
var resourceKinds = map[string]resourceKind{
	"microsoft.managedidentity/userassignedidentities": {
		namespace: "Microsoft.ManagedIdentity", typ: "userAssignedIdentities", name: identityNameRule,
		children: map[string]childKind{"federatedidentitycredentials": {"federatedIdentityCredentials", ficNameRule}},
	},
	"microsoft.keyvault/vaults": {
		namespace: "Microsoft.KeyVault", typ: "vaults", name: vaultNameRule,
		children: map[string]childKind{"secrets": {"secrets", genericName}},
	},
	"microsoft.containerservice/managedclusters": {
		namespace: "Microsoft.ContainerService", typ: "managedClusters", name: clusterNameRule,
	},
}

// maxSegment bounds any other segment: the generic rule for names whose
// exact rules wif does not model.
const maxSegment = 260

// genericName is the rule of any segment that has no rule of its own: 1 to
// 260 characters of valid UTF-8, no control character, no "/", "\" or "%"
// (after decoding, so neither an encoded separator nor a double encoding
// passes), and not a dot segment.
func genericName(s string) *Error {
	if reason := genericProblem(s); reason != "" {
		return errf(http.StatusBadRequest, "InvalidRequestUri", "The request URI is invalid: the path segment '%s' %s.", s, reason)
	}
	return nil
}

func genericProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case s == "." || s == "..":
		return "is a dot segment"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(s) > maxSegment:
		return "is longer than 260 characters"
	}
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || r == '%':
			return "contains '" + string(r) + "'"
		case unicode.IsControl(r):
			return "contains a control character"
		}
	}
	return ""
}

func subscriptionRule(s string) *Error {
	if genericProblem(s) != "" {
		return errf(http.StatusBadRequest, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", s)
	}
	return nil
}

// groupNameRule is ARM's resource group rule: 1 to 90 letters, digits,
// '_', '-', '.', '(' and ')', not ending in '.'.
func groupNameRule(name string) *Error {
	var reason string
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name) || !groupChars.MatchString(name):
		reason = "has these invalid characters: '" + invalidGroupChars(name) + "'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'"
	case n == 0 || n > 90:
		reason = "must be 1 to 90 characters long"
	case strings.HasSuffix(name, "."):
		reason = "must not end with a period"
	default:
		return nil
	}
	return errf(http.StatusBadRequest, "InvalidResourceGroup", "The provided resource group name '%s' %s.", name, reason)
}

func invalidGroupChars(name string) string {
	var b strings.Builder
	seen := map[rune]bool{}
	for _, r := range strings.ToValidUTF8(name, "\uFFFD") {
		if !groupChars.MatchString(string(r)) && !seen[r] {
			seen[r] = true
			b.WriteRune(r)
		}
	}
	return b.String()
}

func identityNameRule(name string) *Error {
	if !identityName.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidResourceName", "Resource name '%s' is invalid. The name must be 3 to 128 characters long, start with a letter or digit, and contain only letters, digits, '-' and '_'.", name)
	}
	return nil
}

func ficNameRule(name string) *Error {
	if !ficName.MatchString(name) {
		return errf(http.StatusBadRequest, "BadRequest", "The federated identity credential name '%s' is invalid. It must be 3 to 120 characters long, start with a letter or digit, and contain only letters, digits, '-' and '_'.", name)
	}
	return nil
}

func clusterNameRule(name string) *Error {
	if !clusterName.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidResourceName", "The cluster name '%s' is invalid: 1-63 letters, digits, '-' and '_', starting and ending with a letter or digit.", name)
	}
	return nil
}

func validVaultName(name string) bool {
	return vaultName.MatchString(name) && !strings.Contains(name, "--")
}

func vaultNameRule(name string) *Error {
	if !validVaultName(name) {
		return vaultNameError(name)
	}
	return nil
}

func vaultNameError(name string) *Error {
	return errf(http.StatusBadRequest, "VaultNameNotValid", "The vault name '%s' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.", name)
}

func roleAssignmentNameRule(name string) *Error {
	if !guidRule.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	return nil
}

// parseResourcePath decodes and checks an escaped ARM path. It is pure: it
// runs before authentication and before any store lookup, and a path it
// refuses gets a 400 with ARM's code for the first bad segment.
func parseResourcePath(escaped string) (resourcePath, error) {
	p := resourcePath{authz: -1}
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return resourcePath{}, errf(http.StatusBadRequest, "InvalidRequestUri", "The request URI is invalid: %v", err)
		}
		if d == "." || d == ".." {
			return resourcePath{}, errf(http.StatusBadRequest, "InvalidRequestUri", "The request URI is invalid: path segment %q is not allowed.", d)
		}
		p.seg = append(p.seg, d)
	}
	rest := p.seg
	if k := authzIndex(p.seg); k >= 0 {
		p.authz = k
		rest = p.seg[:k]
		ext := p.seg[k+2:]
		if err := genericName(p.seg[k]); err != nil {
			return resourcePath{}, err
		}
		if err := genericName(p.seg[k+1]); err != nil {
			return resourcePath{}, err
		}
		for i, s := range ext {
			rule := genericName
			if i == 1 && strings.EqualFold(ext[0], "roleAssignments") {
				rule = roleAssignmentNameRule
			}
			if err := rule(s); err != nil {
				return resourcePath{}, err
			}
		}
		switch strings.ToLower(ext[0]) {
		case "roleassignments":
			p.Extension = "roleAssignments"
		case "roledefinitions":
			p.Extension = "roleDefinitions"
		}
		if len(ext) == 2 {
			p.ExtensionName = ext[1]
		}
	}
	if err := p.parseScope(rest); err != nil {
		return resourcePath{}, err
	}
	return p, nil
}

// parseScope checks seg, the path up to any extension, position by
// position, and fills in the resource it names.
func (p *resourcePath) parseScope(seg []string) error {
	at := func(i int, word string) bool { return i < len(seg) && strings.EqualFold(seg[i], word) }
	rules := make([]nameRule, len(seg))
	for i := range rules {
		rules[i] = genericName
	}
	var kind resourceKind
	known := false
	if at(0, "subscriptions") && len(seg) >= 2 {
		rules[1] = subscriptionRule
		if at(2, "resourceGroups") && len(seg) >= 4 {
			rules[3] = groupNameRule
			if at(4, "providers") && len(seg) >= 8 {
				kind, known = resourceKinds[strings.ToLower(seg[5]+"/"+seg[6])]
				if known {
					rules[7] = kind.name
					if len(seg) >= 10 {
						if c, ok := kind.children[strings.ToLower(seg[8])]; ok {
							rules[9] = c.name
						}
					}
				}
			}
		}
	}
	for i, s := range seg {
		if err := rules[i](s); err != nil {
			return err
		}
	}
	if !at(0, "subscriptions") || len(seg) < 2 {
		return nil
	}
	p.Subscription = seg[1]
	if !at(2, "resourceGroups") || len(seg) < 4 {
		return nil
	}
	p.ResourceGroup = seg[3]
	if !at(4, "providers") || len(seg) < 8 {
		return nil
	}
	p.Namespace, p.Type, p.Name = seg[5], seg[6], seg[7]
	if known {
		p.Namespace, p.Type = kind.namespace, kind.typ
	}
	if len(seg) < 9 {
		return nil
	}
	p.ChildType = seg[8]
	if c, ok := kind.children[strings.ToLower(seg[8])]; known && ok {
		p.ChildType = c.typ
	}
	if len(seg) >= 10 {
		p.ChildName = seg[9]
	}
	return nil
}

// apiVersion is the form of ARM api-versions: a date, optionally with a
// label such as "-preview".
var apiVersion = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(-[a-zA-Z]{1,20})?$`)

// checkAPIVersion answers as ARM does when api-version is missing or not an
// api-version. wif serves one shape per resource type, so any well-formed
// version is accepted.
func checkAPIVersion(q url.Values) error {
	vs := q["api-version"]
	if len(vs) == 0 || vs[0] == "" {
		return errf(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	for _, v := range vs {
		if apiVersion.MatchString(v) {
			continue
		}
		if len(v) > 64 {
			v = v[:64] + "…"
		}
		return errf(http.StatusBadRequest, "InvalidApiVersionParameter", "The api-version '%s' is invalid. An api-version is a date, yyyy-MM-dd, optionally followed by a label such as '-preview'.", strings.ToValidUTF8(v, "\uFFFD"))
	}
	return nil
}
