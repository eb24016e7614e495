package arm

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/rbac"
)

const testSub = "5b3c2d1e-2222-4b4b-9b9b-00000000000a"

func TestParseResourcePath(t *testing.T) {
	sub := "/subscriptions/" + testSub
	rg := sub + "/resourceGroups/rg1"
	mi := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	for _, tc := range []struct {
		path  string
		scope string
		want  resourcePath // fields only; seg and authz are not compared
	}{
		{"/", "/", resourcePath{}},
		{"/subscriptions", "/", resourcePath{}},
		{sub, sub, resourcePath{Subscription: testSub}},
		{sub + "/resourcegroups", sub, resourcePath{Subscription: testSub}},
		{rg, rg, resourcePath{Subscription: testSub, ResourceGroup: "rg1"}},
		{sub + "/resourceGroups/" + url.PathEscape("ñame-ü.(x)_1"), sub + "/resourceGroups/ñame-ü.(x)_1", resourcePath{Subscription: testSub, ResourceGroup: "ñame-ü.(x)_1"}},
		{rg + "/resources", rg, resourcePath{Subscription: testSub, ResourceGroup: "rg1"}},
		{strings.ToLower(mi), mi, resourcePath{Subscription: testSub, ResourceGroup: "rg1", Namespace: "Microsoft.ManagedIdentity", Type: "userAssignedIdentities", Name: "id1"}},
		{mi + "/federatedIdentityCredentials", mi, resourcePath{Subscription: testSub, ResourceGroup: "rg1", Namespace: "Microsoft.ManagedIdentity", Type: "userAssignedIdentities", Name: "id1", ChildType: "federatedIdentityCredentials"}},
		{mi + "/FederatedIdentityCredentials/fic-1", mi + "/federatedIdentityCredentials/fic-1", resourcePath{Subscription: testSub, ResourceGroup: "rg1", Namespace: "Microsoft.ManagedIdentity", Type: "userAssignedIdentities", Name: "id1", ChildType: "federatedIdentityCredentials", ChildName: "fic-1"}},
		{rg + "/providers/Microsoft.ContainerService/managedClusters/c1/rotateServiceAccountSigningKeys", rg + "/providers/Microsoft.ContainerService/managedClusters/c1",
			resourcePath{Subscription: testSub, ResourceGroup: "rg1", Namespace: "Microsoft.ContainerService", Type: "managedClusters", Name: "c1", ChildType: "rotateServiceAccountSigningKeys"}},
		{rg + "/providers/Microsoft.Authorization/roleAssignments/0b1f6471-1bf0-4dda-aec3-111122223333", rg,
			resourcePath{Subscription: testSub, ResourceGroup: "rg1", Extension: "roleAssignments", ExtensionName: "0b1f6471-1bf0-4dda-aec3-111122223333"}},
		{"/providers/Microsoft.Authorization/roleDefinitions", "/", resourcePath{Extension: "roleDefinitions"}},
		{rg + "/providers/Microsoft.KeyVault/vaults/kv1/secrets/s1/providers/Microsoft.Authorization/roleAssignments", rg + "/providers/Microsoft.KeyVault/vaults/kv1/secrets/s1",
			resourcePath{Subscription: testSub, ResourceGroup: "rg1", Namespace: "Microsoft.KeyVault", Type: "vaults", Name: "kv1", ChildType: "secrets", ChildName: "s1", Extension: "roleAssignments"}},
		{"//subscriptions//" + testSub + "/", sub, resourcePath{Subscription: testSub}},
	} {
		p, err := parseResourcePath(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := p.scope(); got != tc.scope {
			t.Errorf("%s: scope %q, want %q", tc.path, got, tc.scope)
		}
		p.seg, p.authz = nil, 0
		if diff := cmp.Diff(tc.want, p, cmp.AllowUnexported(resourcePath{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.path, diff)
		}
	}
}

func TestParseResourcePathRefuses(t *testing.T) {
	sub := "/subscriptions/" + testSub
	rg := func(name string) string { return sub + "/resourceGroups/" + name }
	mi := func(name string) string {
		return rg("rg1") + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	}
	fic := func(name string) string { return mi("id1") + "/federatedIdentityCredentials/" + name }
	vault := func(name string) string { return rg("rg1") + "/providers/Microsoft.KeyVault/vaults/" + name }
	cluster := func(name string) string {
		return rg("rg1") + "/providers/Microsoft.ContainerService/managedClusters/" + name
	}
	ra := func(name string) string {
		return rg("rg1") + "/providers/Microsoft.Authorization/roleAssignments/" + name
	}
	for _, tc := range []struct {
		path, code string
	}{
		// The traversal of issue 13: a resource group name holding "/..".
		{rg("rg1%2F..%2Frg2") + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", "InvalidResourceGroup"},
		{rg("rg1%2f..%2frg2"), "InvalidResourceGroup"},
		{rg("rg1%5C..%5Crg2"), "InvalidResourceGroup"},
		{rg("rg1%2F..%2Frg2") + "/providers/Microsoft.Authorization/roleAssignments", "InvalidResourceGroup"},
		{rg("rg1%252F..%252Frg2"), "InvalidResourceGroup"}, // double encoding
		{rg("a%00b"), "InvalidResourceGroup"},
		{rg("a%0Ab"), "InvalidResourceGroup"},
		{rg("a%20b"), "InvalidResourceGroup"},
		{rg("%FF%FE"), "InvalidResourceGroup"},
		{rg("ends."), "InvalidResourceGroup"},
		{rg(strings.Repeat("a", 91)), "InvalidResourceGroup"},
		{rg(".."), "InvalidRequestUri"},
		{rg("%2e%2E"), "InvalidRequestUri"},
		{rg("."), "InvalidRequestUri"},
		{sub + "/resourceGroups/rg1/../rg2", "InvalidRequestUri"},
		{"/subscriptions/a%2Fb", "InvalidSubscriptionId"},
		{"/subscriptions/a%00b/resourceGroups/rg1", "InvalidSubscriptionId"},
		{"/subscriptions/" + strings.Repeat("a", 261), "InvalidSubscriptionId"},
		{mi("id1%2F..%2Fid2"), "InvalidResourceName"},
		{mi("ab"), "InvalidResourceName"},
		{mi(strings.Repeat("a", 129)), "InvalidResourceName"},
		{mi("a%0Abc"), "InvalidResourceName"},
		{fic("f%2Fx"), "BadRequest"},
		{fic("ab"), "BadRequest"},
		{fic(strings.Repeat("f", 121)), "BadRequest"},
		{vault("kv%2F..%2Fkv2"), "VaultNameNotValid"},
		{vault("k"), "VaultNameNotValid"},
		{vault(strings.Repeat("k", 25)), "VaultNameNotValid"},
		{cluster("c%5Cx"), "InvalidResourceName"},
		{cluster(strings.Repeat("c", 64)), "InvalidResourceName"},
		{ra("not-a-guid"), "InvalidRoleAssignmentId"},
		{ra("0b1f6471-1bf0-4dda-aec3-111122223333%2F..%2Fx"), "InvalidRoleAssignmentId"},
		// Segments without a rule of their own get the generic one.
		{rg("rg1") + "/providers/Microsoft.Foo%2F..%2Fbar/things/x", "InvalidRequestUri"},
		{rg("rg1") + "/providers/Microsoft.Foo/things/x%00y", "InvalidRequestUri"},
		{rg("rg1") + "/providers/Microsoft.Foo/things/" + strings.Repeat("x", 261), "InvalidRequestUri"},
		{rg("rg1") + "/providers/Microsoft.KeyVault/vaults/kv1/secrets/a%2Fb/providers/Microsoft.Authorization/roleAssignments", "InvalidRequestUri"},
		{"/tenants%2F..", "InvalidRequestUri"},
		{"/providers/Microsoft.Authorization/roleDefinitions/a%5Cb", "InvalidRequestUri"},
	} {
		_, err := parseResourcePath(tc.path)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Status != 400 {
			t.Errorf("%s: %v, want 400 %s", tc.path, err, tc.code)
		}
	}
}

func TestGroupNameRule(t *testing.T) {
	for name, valid := range map[string]bool{
		"a": true, "rg-1_(x).y": true, strings.Repeat("a", 90): true, "ñame-ü": true, "Ωmega": true,
		"": false, strings.Repeat("a", 91): false, "a.": false, "a b": false, "a/b": false, "a\\b": false,
		"a%b": false, "a\x00": false, "a\u0085b": false, "rg-😀": false, "\xff": false,
	} {
		if got := groupNameRule(name) == nil; got != valid {
			t.Errorf("groupNameRule(%q) valid = %v, want %v", name, got, valid)
		}
	}
}

func TestGenericName(t *testing.T) {
	for name, valid := range map[string]bool{
		"x": true, "Microsoft.KeyVault": true, strings.Repeat("é", 260): true, "a b": true,
		"": false, ".": false, "..": false, strings.Repeat("a", 261): false, "a/b": false, "a\\b": false,
		"a%2Fb": false, "a\nb": false, "a\x7fb": false, "\xff": false,
	} {
		if got := genericName(name) == nil; got != valid {
			t.Errorf("genericName(%q) valid = %v, want %v", name, got, valid)
		}
	}
}

func TestCheckAPIVersion(t *testing.T) {
	for raw, code := range map[string]string{
		"api-version=2021-04-01":                        "",
		"api-version=2022-01-31-preview":                "",
		"api-version=2021-04-01&api-version=2021-04-01": "",
		"":                                     "MissingApiVersionParameter",
		"api-version=":                         "MissingApiVersionParameter",
		"api-version=latest":                   "InvalidApiVersionParameter",
		"api-version=2021-04-01%00":            "InvalidApiVersionParameter",
		"api-version=2021-04-01/../x":          "InvalidApiVersionParameter",
		"api-version=7.6":                      "InvalidApiVersionParameter",
		"api-version=2021-04-01&api-version=x": "InvalidApiVersionParameter",
	} {
		q, _ := url.ParseQuery(raw)
		err := checkAPIVersion(q)
		var e *Error
		switch {
		case code == "" && err != nil:
			t.Errorf("%q: %v", raw, err)
		case code != "" && (!errors.As(err, &e) || e.Code != code || e.Status != 400):
			t.Errorf("%q: %v, want 400 %s", raw, err, code)
		}
	}
}

// FuzzParseResourcePath: whatever the path, an accepted one names only
// checked segments, its scope is canonical (it parses back to the same
// resource), and RBAC's containment of that scope in a resource group
// agrees with the resource group the handlers pass to the store. So a
// caller whose role is on rg1 is authorised for a path exactly when the
// handler then touches rg1.
func FuzzParseResourcePath(f *testing.F) {
	sub := "/subscriptions/" + testSub
	for _, s := range []string{
		"/", sub, sub + "/resourceGroups/rg1",
		sub + "/resourceGroups/rg1%2F..%2Frg2/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1",
		sub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/f1",
		sub + "/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/secrets/s1/providers/Microsoft.Authorization/roleAssignments",
		sub + "/resourceGroups/rg1/providers/Microsoft.Authorization/roleAssignments/0b1f6471-1bf0-4dda-aec3-111122223333",
		sub + "/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1/listServiceAccountSigningKeys",
		sub + "/resourcegroups/%C3%B1ame/resources", "/subscriptions/a%5Cb", sub + "/resourceGroups/rg1/../rg2",
	} {
		f.Add(s, "rg1")
	}
	f.Fuzz(func(t *testing.T, escaped, otherGroup string) {
		p, err := parseResourcePath(escaped)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("refusal %v is not a 400 ARM error", err)
			}
			return
		}
		for _, s := range p.seg {
			if genericProblem(s) != "" {
				t.Fatalf("segment %q passed unchecked", s)
			}
		}
		for _, name := range []string{p.Subscription, p.ResourceGroup, p.Namespace, p.Type, p.Name, p.ChildType, p.ChildName} {
			if strings.ContainsAny(name, "/\\%") || name == "." || name == ".." {
				t.Fatalf("name %q in %+v", name, p)
			}
		}
		scope := p.scope()
		if n := len(strings.Split(strings.Trim(scope, "/"), "/")); scope != "/" && n != p.scopeSegments() {
			t.Fatalf("scope %q has %d segments, want %d", scope, n, p.scopeSegments())
		}
		back, err := parseResourcePath(scope)
		if err != nil {
			t.Fatalf("scope %q of %q does not parse: %v", scope, escaped, err)
		}
		if back.scope() != scope || back.ResourceGroup != p.ResourceGroup || back.Subscription != p.Subscription ||
			back.Name != p.Name || (p.ChildName != "" && back.ChildName != p.ChildName) {
			t.Fatalf("scope %q parses to %+v, not %+v", scope, back, p)
		}
		if p.ResourceGroup == "" || groupNameRule(otherGroup) != nil {
			return
		}
		granted := rbac.ScopeContains(groupScope(p.Subscription, otherGroup), scope)
		if granted != strings.EqualFold(otherGroup, p.ResourceGroup) {
			t.Fatalf("a role on group %q covers %q = %v, but the handler touches group %q", otherGroup, scope, granted, p.ResourceGroup)
		}
	})
}
