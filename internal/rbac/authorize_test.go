package rbac_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/wifproject/wif/internal/rbac"
)

const (
	principal = "11111111-2222-3333-4444-555555555555"
	sub       = "/subscriptions/00000000-0000-0000-0000-00000000000a"
	rg        = sub + "/resourceGroups/rg1"
	identity  = rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	fic       = identity + "/federatedIdentityCredentials/fic1"
	vault     = rg + "/providers/Microsoft.KeyVault/vaults/kv1"
	secret    = vault + "/secrets/s1"
	account   = rg + "/providers/Microsoft.Storage/storageAccounts/st1"
	container = account + "/blobServices/default/containers/c1"

	// Assignments here must never apply to anything under rg1: a string
	// prefix of rg1 that is a different resource group, another
	// subscription whose id is a string prefix, and an unrelated group.
	siblingPrefixRG = sub + "/resourceGroups/rg"
	siblingSub      = "/subscriptions/00000000-0000-0000-0000-00000000000"
	siblingRG       = sub + "/resourceGroups/rg2"
)

// operation is one guarded operation: the request scope it touches, and the
// resource whose own assignment should cover it.
type operation struct {
	action   string
	data     bool
	target   string // Request.Scope
	resource string // "assignment at the resource itself"
}

var operations = map[string]operation{
	"rg/read":   {"Microsoft.Resources/subscriptions/resourceGroups/read", false, rg, rg},
	"rg/write":  {"Microsoft.Resources/subscriptions/resourceGroups/write", false, rg, rg},
	"rg/delete": {"Microsoft.Resources/subscriptions/resourceGroups/delete", false, rg, rg},

	"id/read":   {"Microsoft.ManagedIdentity/userAssignedIdentities/read", false, identity, identity},
	"id/write":  {"Microsoft.ManagedIdentity/userAssignedIdentities/write", false, identity, identity},
	"id/delete": {"Microsoft.ManagedIdentity/userAssignedIdentities/delete", false, identity, identity},
	"id/assign": {"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", false, identity, identity},

	"fic/read":   {"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read", false, fic, identity},
	"fic/write":  {"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write", false, fic, identity},
	"fic/delete": {"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete", false, fic, identity},

	"ra/read":   {"Microsoft.Authorization/roleAssignments/read", false, vault, vault},
	"ra/write":  {"Microsoft.Authorization/roleAssignments/write", false, vault, vault},
	"ra/delete": {"Microsoft.Authorization/roleAssignments/delete", false, vault, vault},

	"kv/read":   {"Microsoft.KeyVault/vaults/read", false, vault, vault},
	"kv/write":  {"Microsoft.KeyVault/vaults/write", false, vault, vault},
	"kv/delete": {"Microsoft.KeyVault/vaults/delete", false, vault, vault},

	"secret/get":    {"Microsoft.KeyVault/vaults/secrets/getSecret/action", true, secret, vault},
	"secret/set":    {"Microsoft.KeyVault/vaults/secrets/setSecret/action", true, secret, vault},
	"secret/delete": {"Microsoft.KeyVault/vaults/secrets/delete", true, secret, vault},
	"secret/meta":   {"Microsoft.KeyVault/vaults/secrets/readMetadata/action", true, secret, vault},
	"secret/purge":  {"Microsoft.KeyVault/vaults/secrets/purge/action", true, secret, vault},

	"container/read": {"Microsoft.Storage/storageAccounts/blobServices/containers/read", false, container, account},
	"blob/read":      {"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", true, container, account},
	"blob/write":     {"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", true, container, account},
}

// allowed lists, per built-in role, exactly the operations Azure documents it
// may perform; every other operation in the table above must be denied.
var allowed = map[string][]string{
	"Owner": {
		"rg/read", "rg/write", "rg/delete",
		"id/read", "id/write", "id/delete", "id/assign",
		"fic/read", "fic/write", "fic/delete",
		"ra/read", "ra/write", "ra/delete",
		"kv/read", "kv/write", "kv/delete",
		"container/read",
	},
	// Contributor: everything Owner has except writing or deleting role
	// assignments (NotActions Microsoft.Authorization/*/Write, */Delete).
	"Contributor": {
		"rg/read", "rg/write", "rg/delete",
		"id/read", "id/write", "id/delete", "id/assign",
		"fic/read", "fic/write", "fic/delete",
		"ra/read",
		"kv/read", "kv/write", "kv/delete",
		"container/read",
	},
	"Reader": {
		"rg/read", "id/read", "fic/read", "ra/read", "kv/read", "container/read",
	},
	"User Access Administrator": {
		"rg/read", "id/read", "fic/read", "kv/read", "container/read",
		"ra/read", "ra/write", "ra/delete",
	},
	// No assign/action: that is Managed Identity Operator's.
	"Managed Identity Contributor": {
		"rg/read", "ra/read",
		"id/read", "id/write", "id/delete",
		"fic/read", "fic/write", "fic/delete",
	},
	// userAssignedIdentities/*/read and */assign/action: read and assign,
	// including reading FICs, but no writes.
	"Managed Identity Operator": {
		"rg/read", "ra/read", "id/read", "id/assign", "fic/read",
	},
	"Key Vault Administrator": {
		"rg/read", "ra/read", "kv/read",
		"secret/get", "secret/set", "secret/delete", "secret/meta", "secret/purge",
	},
	"Key Vault Secrets Officer": {
		"rg/read", "ra/read", "kv/read",
		"secret/get", "secret/set", "secret/delete", "secret/meta", "secret/purge",
	},
	"Key Vault Secrets User": {
		"secret/get", "secret/meta",
	},
	"Key Vault Reader": {
		"rg/read", "ra/read", "kv/read", "secret/meta",
	},
	"Storage Blob Data Owner": {
		"container/read", "blob/read", "blob/write",
	},
	"Storage Blob Data Contributor": {
		"container/read", "blob/read", "blob/write",
	},
	"Storage Blob Data Reader": {
		"container/read", "blob/read",
	},
}

func TestAuthorizeMatrix(t *testing.T) {
	if len(allowed) != len(rbac.BuiltIns()) {
		t.Fatalf("matrix covers %d roles, BuiltIns has %d", len(allowed), len(rbac.BuiltIns()))
	}
	for _, role := range rbac.BuiltIns() {
		allow, ok := allowed[role.RoleName]
		if !ok {
			t.Errorf("no matrix row for %q", role.RoleName)
			continue
		}
		set := map[string]bool{}
		for _, op := range allow {
			if _, ok := operations[op]; !ok {
				t.Fatalf("%s: unknown operation %q", role.RoleName, op)
			}
			set[op] = true
		}
		roleID := "/subscriptions/00000000-0000-0000-0000-00000000000a/providers/Microsoft.Authorization/roleDefinitions/" + role.Name
		for name, op := range operations {
			req := rbac.Request{PrincipalID: principal, Action: op.action, DataAction: op.data, Scope: op.target}
			levels := []struct {
				level string
				scope string
				want  bool
			}{
				{"root", "/", set[name]},
				{"subscription", sub, set[name]},
				{"resource group", rg, set[name]},
				{"resource", op.resource, set[name]},
				{"target", op.target, set[name]},
				{"sibling prefix rg", siblingPrefixRG, false},
				{"sibling rg", siblingRG, false},
				{"sibling subscription", siblingSub, false},
			}
			for _, l := range levels {
				a := rbac.Assignment{Scope: l.scope, RoleDefinitionID: roleID, PrincipalID: principal}
				d := rbac.Authorize(req, []rbac.Assignment{a}, rbac.BuiltIn)
				if d.Allowed != l.want {
					t.Errorf("%s at %s: %s = %v, want %v (%s)", role.RoleName, l.level, name, d.Allowed, l.want, d.Reason)
				}
				if d.Allowed && (d.Assignment == nil || *d.Assignment != a) {
					t.Errorf("%s at %s: %s granted by %+v, want %+v", role.RoleName, l.level, name, d.Assignment, a)
				}
				if !d.Allowed && d.Assignment != nil {
					t.Errorf("%s at %s: %s denied but names assignment %+v", role.RoleName, l.level, name, d.Assignment)
				}
				if d.Reason == "" {
					t.Errorf("%s at %s: %s: empty reason", role.RoleName, l.level, name)
				}
			}
		}
	}
}

func TestAuthorize(t *testing.T) {
	reader := "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.ReaderID
	owner := "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.OwnerID
	kvUser := "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.KeyVaultSecretsUserID
	custom := rbac.RoleDefinition{
		Name:     "99999999-9999-9999-9999-999999999999",
		RoleName: "Split",
		RoleType: "CustomRole",
		Permissions: []rbac.Permission{
			{Actions: []string{"Microsoft.KeyVault/*"}, NotActions: []string{"Microsoft.KeyVault/vaults/write"}},
			{Actions: []string{"Microsoft.KeyVault/vaults/write"}},
			{Actions: []string{"Microsoft.ManagedIdentity/*"}, NotActions: []string{"*/delete"}},
			{DataActions: []string{"Microsoft.KeyVault/vaults/secrets/*"}, NotDataActions: []string{"Microsoft.KeyVault/vaults/secrets/getSecret/action"}},
		},
		AssignableScopes: []string{"/"},
	}
	roles := func(guid string) (rbac.RoleDefinition, bool) {
		if guid == custom.Name {
			return custom, true
		}
		return rbac.BuiltIn(guid)
	}
	readVault := rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/read", Scope: vault}

	tests := []struct {
		name        string
		req         rbac.Request
		assignments []rbac.Assignment
		roles       func(string) (rbac.RoleDefinition, bool)
		want        int // index of the granting assignment, -1 for denied
	}{
		{"no assignments", readVault, nil, roles, -1},
		{"other principal", readVault, []rbac.Assignment{asg(sub, reader, "99999999-2222-3333-4444-555555555555")}, roles, -1},
		{"principal case-insensitive", readVault, []rbac.Assignment{asg(sub, reader, strings.ToUpper(principal))}, roles, 0},
		{"scope case-insensitive", readVault, []rbac.Assignment{asg(strings.ToUpper(rg), reader, principal)}, roles, 0},
		{"bare GUID role id", readVault, []rbac.Assignment{asg(rg, rbac.ReaderID, principal)}, roles, 0},
		{"unknown role", readVault, []rbac.Assignment{asg(rg, "/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-000000000000", principal)}, roles, -1},
		{"malformed role id", readVault, []rbac.Assignment{asg(rg, "Reader", principal)}, roles, -1},
		{"nil role lookup", readVault, []rbac.Assignment{asg(rg, reader, principal)}, nil, -1},
		{"empty principal", rbac.Request{Action: readVault.Action, Scope: vault}, []rbac.Assignment{asg(rg, reader, "")}, roles, -1},
		{"empty action", rbac.Request{PrincipalID: principal, Scope: vault}, []rbac.Assignment{asg(rg, owner, principal)}, roles, -1},
		{"relative request scope", rbac.Request{PrincipalID: principal, Action: readVault.Action, Scope: ""}, []rbac.Assignment{asg("", owner, principal)}, roles, -1},
		{"relative assignment scope", readVault, []rbac.Assignment{asg("subscriptions/00000000-0000-0000-0000-00000000000a", owner, principal)}, roles, -1},
		{"below the request scope does not apply", readVault, []rbac.Assignment{asg(secret, owner, principal)}, roles, -1},
		{"first granting assignment wins", readVault, []rbac.Assignment{
			asg(siblingRG, owner, principal), asg(rg, kvUser, principal), asg(rg, reader, principal), asg(sub, owner, principal),
		}, roles, 2},
		{"owner has no data actions", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: secret},
			[]rbac.Assignment{asg(sub, owner, principal)}, roles, -1},
		{"data role does not grant the action of the same name", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", Scope: secret},
			[]rbac.Assignment{asg(sub, kvUser, principal)}, roles, -1},
		{"assignment at the secret itself", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: secret},
			[]rbac.Assignment{asg(secret, kvUser, principal)}, roles, 0},
		{"assignment at another secret", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: secret},
			[]rbac.Assignment{asg(vault+"/secrets/s", kvUser, principal)}, roles, -1},
		// NotActions subtract only within their own permission block.
		{"other block re-grants a NotAction", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/write", Scope: vault},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, 0},
		{"NotAction blocks within its block", rbac.Request{PrincipalID: principal, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/delete", Scope: identity},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, -1},
		{"NotAction wildcard is case-insensitive", rbac.Request{PrincipalID: principal, Action: "MICROSOFT.MANAGEDIDENTITY/USERASSIGNEDIDENTITIES/DELETE", Scope: identity},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, -1},
		{"block allows the rest", rbac.Request{PrincipalID: principal, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/write", Scope: identity},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, 0},
		{"NotDataAction", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: secret},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, -1},
		{"DataAction beside NotDataAction", rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/secrets/setSecret/action", DataAction: true, Scope: secret},
			[]rbac.Assignment{asg(rg, custom.Name, principal)}, roles, 0},
		{"contributor cannot write role assignments", rbac.Request{PrincipalID: principal, Action: "Microsoft.Authorization/roleAssignments/write", Scope: rg},
			[]rbac.Assignment{asg(sub, "/providers/Microsoft.Authorization/roleDefinitions/"+rbac.ContributorID, principal)}, roles, -1},
		{"contributor cannot elevate", rbac.Request{PrincipalID: principal, Action: "Microsoft.Authorization/elevateAccess/action", Scope: "/"},
			[]rbac.Assignment{asg("/", "/providers/Microsoft.Authorization/roleDefinitions/"+rbac.ContributorID, principal)}, roles, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rbac.Authorize(tt.req, tt.assignments, tt.roles)
			if d.Reason == "" {
				t.Error("empty Reason")
			}
			if tt.want < 0 {
				if d.Allowed || d.Assignment != nil {
					t.Fatalf("Authorize = %+v, want denied", d)
				}
				return
			}
			if !d.Allowed || d.Assignment == nil {
				t.Fatalf("Authorize = %+v, want allowed by assignment %d", d, tt.want)
			}
			if diff := cmp.Diff(tt.assignments[tt.want], *d.Assignment); diff != "" {
				t.Errorf("granting assignment (-want +got):\n%s", diff)
			}
		})
	}
}

func asg(scope, roleDefinitionID, principalID string) rbac.Assignment {
	return rbac.Assignment{Scope: scope, RoleDefinitionID: roleDefinitionID, PrincipalID: principalID}
}

// TestAuthorizeDoesNotAlias makes sure the granting assignment is a copy.
func TestAuthorizeDoesNotAlias(t *testing.T) {
	as := []rbac.Assignment{asg(rg, rbac.ReaderID, principal)}
	d := rbac.Authorize(rbac.Request{PrincipalID: principal, Action: "Microsoft.KeyVault/vaults/read", Scope: vault}, as, rbac.BuiltIn)
	if !d.Allowed {
		t.Fatalf("denied: %s", d.Reason)
	}
	d.Assignment.Scope = "/"
	if as[0].Scope != rg {
		t.Errorf("Decision.Assignment aliases the caller's slice")
	}
}

func TestActionMatches(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.KeyVault/vaults/read", true},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"*/read", "Microsoft.Resources/subscriptions/resourceGroups/read", true},
		{"*/read", "Microsoft.Resources/subscriptions/resourceGroups/write", false},
		{"*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", false},
		{"*/read", "read", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*/Write", "microsoft.authorization/ROLEASSIGNMENTS/WRITE", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/policies/audit/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/read", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.AuthorizationX/roleAssignments/write", false},
		{"Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*", "Microsoft.Authorization", false},
		{"Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
		{"Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/secretsX/getSecret/action", false},
		{"Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/keys/read", false},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
		{"Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/getsecret/ACTION", true},
		{"Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/getSecret/actions", false},
		// A '*' filling a whole segment also matches the empty segment.
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/write", false},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentitiesread", false},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", false},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/read", false},
		{"a/*/*/b", "a/b", true},
		{"a/*/*/b", "a/x/b", true},
		{"a/**/b", "a/b", false},
		{"a/**/b", "a//b", true},
		{"a*b", "ab", true},
		{"a*b", "a/x/b", true},
		{"a*", "b", false},
		{"Microsoft.*/read", "Microsoft.Web/sites/read", true},
		{"Microsoft.Web/*", "Microsoft.WebX/sites/read", false},
		{"K", "\u212a", true}, // Kelvin sign folds to k, as in regexp (?i)
		{"\xff", "\xff", false},
	}
	for _, tt := range tests {
		if got := rbac.ActionMatches(tt.pattern, tt.action); got != tt.want {
			t.Errorf("ActionMatches(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
		}
	}
}

// referenceRegexp is ActionMatches written as a regular expression: each '*'
// becomes ".*", except that a '*' between two slashes may also, with the
// slash after it, match nothing.
func referenceRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)\A`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '*' && i > 0 && rs[i-1] == '/' && i+1 < len(rs) && rs[i+1] == '/':
			b.WriteString(`(?:.*/)?`)
			i++ // the slash after the star is inside the group
		case rs[i] == '*':
			b.WriteString(`.*`)
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func FuzzActionMatches(f *testing.F) {
	f.Add("*/read", "Microsoft.Resources/subscriptions/resourceGroups/read")
	f.Add("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write")
	f.Add("Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action")
	f.Add("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
	f.Add("a/*/*/b", "a/b")
	f.Add("/*/", "/")
	f.Add("K*", "\u212a")
	f.Fuzz(func(t *testing.T, pattern, action string) {
		if len(pattern) > 200 || len(action) > 200 {
			return
		}
		got := rbac.ActionMatches(pattern, action)
		if !utf8.ValidString(pattern) || !utf8.ValidString(action) {
			if got {
				t.Fatalf("ActionMatches(%q, %q) = true on invalid UTF-8", pattern, action)
			}
			return
		}
		if want := referenceRegexp(pattern).MatchString(action); got != want {
			t.Fatalf("ActionMatches(%q, %q) = %v, regexp reference says %v", pattern, action, got, want)
		}
		if !strings.Contains(pattern, "*") && !rbac.ActionMatches(pattern, pattern) {
			t.Fatalf("ActionMatches(%q, itself) = false", pattern)
		}
	})
}

func TestScopeContains(t *testing.T) {
	tests := []struct {
		scope, resource string
		want            bool
	}{
		{"/", "/", true},
		{"/", sub, true},
		{"/", secret, true},
		{sub, sub, true},
		{sub, rg, true},
		{sub, secret, true},
		{sub, "/subscriptions/00000000-0000-0000-0000-00000000000ab", false},
		{"/subscriptions/a", "/subscriptions/ab", false},
		{"/subscriptions/a", "/subscriptions/a/resourceGroups/x", true},
		{"/subscriptions/A", "/SUBSCRIPTIONS/a", true},
		{"/subscriptions/a/", "/subscriptions/a", true},
		{"/subscriptions/a", "/subscriptions/a/", true},
		{rg, sub, false},
		{secret, vault, false},
		{siblingPrefixRG, rg, false},
		{siblingPrefixRG, vault, false},
		{siblingSub, rg, false},
		{"", "", true},
		{"", "/", false},
		{"/", "", false},
		{"subscriptions/a", "subscriptions/a/resourceGroups/b", false},
		{"subscriptions/a", "SUBSCRIPTIONS/A", true},
	}
	for _, tt := range tests {
		if got := rbac.ScopeContains(tt.scope, tt.resource); got != tt.want {
			t.Errorf("ScopeContains(%q, %q) = %v, want %v", tt.scope, tt.resource, got, tt.want)
		}
	}
}

func FuzzScopeContains(f *testing.F) {
	f.Add("/", sub)
	f.Add(sub, rg)
	f.Add("/subscriptions/a", "/subscriptions/ab")
	f.Add(rg, sub)
	f.Add("", "/")
	f.Add("//a//", "/A/b")
	f.Fuzz(func(t *testing.T, scope, resource string) {
		got := rbac.ScopeContains(scope, resource)
		for _, s := range []string{scope, resource} {
			if !rbac.ScopeContains(s, s) {
				t.Fatalf("ScopeContains(%q, itself) = false", s)
			}
		}
		if strings.HasPrefix(resource, "/") && !rbac.ScopeContains("/", resource) {
			t.Fatalf("root does not contain %q", resource)
		}
		if got && rbac.ScopeContains(resource, scope) != strings.EqualFold(norm(scope), norm(resource)) {
			t.Fatalf("ScopeContains(%q, %q) and the reverse disagree with equality", scope, resource)
		}
		// A child is always contained by its parent.
		if strings.HasPrefix(scope, "/") && !strings.Contains(resource, "/") && resource != "" &&
			!rbac.ScopeContains(scope, scope+"/"+resource) {
			t.Fatalf("ScopeContains(%q, %q) = false", scope, scope+"/"+resource)
		}
	})
}

// norm joins the non-empty segments of a slash path; other strings are kept.
func norm(s string) string {
	if !strings.HasPrefix(s, "/") {
		return s
	}
	var segs []string
	for _, p := range strings.Split(s, "/") {
		if p != "" {
			segs = append(segs, p)
		}
	}
	return "/" + strings.Join(segs, "/")
}

func TestAuthorizationFailedMessage(t *testing.T) {
	got := rbac.AuthorizationFailedMessage("p1", "Microsoft.ManagedIdentity/userAssignedIdentities/write", identity)
	want := "The client 'p1' with object id 'p1' does not have authorization to perform action " +
		"'Microsoft.ManagedIdentity/userAssignedIdentities/write' over scope '" + identity +
		"' or the scope is invalid. If access was recently granted, please refresh your credentials."
	if got != want {
		t.Errorf("AuthorizationFailedMessage:\n got %q\nwant %q", got, want)
	}
	if rbac.ErrorCodeAuthorizationFailed != "AuthorizationFailed" {
		t.Errorf("ErrorCodeAuthorizationFailed = %q", rbac.ErrorCodeAuthorizationFailed)
	}
}
