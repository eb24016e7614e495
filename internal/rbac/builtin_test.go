package rbac_test

import (
	"go/build"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wifproject/wif/internal/rbac"
)

// TestBuiltinsUniqueAndComplete pins every built-in's GUID (as published by
// Azure) and checks the set is well formed: unique GUIDs, unique names,
// sorted, BuiltInRole, assignable at "/".
func TestBuiltinsUniqueAndComplete(t *testing.T) {
	want := map[string]string{
		"Owner":                         "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
		"Contributor":                   "b24988ac-6180-42a0-ab88-20f7382dd24c",
		"Reader":                        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
		"User Access Administrator":     "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
		"Managed Identity Contributor":  "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
		"Managed Identity Operator":     "f1a07417-d97a-45cb-824c-7a7467783830",
		"Key Vault Administrator":       "00482a5a-887f-4fb3-b363-3b7fe8e74483",
		"Key Vault Secrets Officer":     "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
		"Key Vault Secrets User":        "4633458b-17de-408a-b874-0445c86b69e6",
		"Key Vault Reader":              "21090545-7ca7-4776-b22c-e363652d74d2",
		"Storage Blob Data Owner":       "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
		"Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
		"Storage Blob Data Reader":      "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
	}
	defs := rbac.BuiltIns()
	got := map[string]string{}    // roleName -> GUID
	byName := map[string]string{} // lower-case roleName -> GUID
	byGUID := map[string]string{} // lower-case GUID -> roleName
	var names []string
	for _, d := range defs {
		if prev, dup := byName[strings.ToLower(d.RoleName)]; dup {
			t.Errorf("roleName %q used twice (%s, %s)", d.RoleName, prev, d.Name)
		}
		if prev, dup := byGUID[strings.ToLower(d.Name)]; dup {
			t.Errorf("GUID %s used by %q and %q", d.Name, prev, d.RoleName)
		}
		byName[strings.ToLower(d.RoleName)] = d.Name
		byGUID[strings.ToLower(d.Name)] = d.RoleName
		got[d.RoleName] = d.Name
		names = append(names, d.RoleName)

		if g, ok := rbac.RoleDefinitionGUID(d.Name); !ok || g != d.Name {
			t.Errorf("%s: Name %q is not a lower-case GUID", d.RoleName, d.Name)
		}
		if d.RoleType != rbac.RoleTypeBuiltIn {
			t.Errorf("%s: RoleType = %q", d.RoleName, d.RoleType)
		}
		if d.Description == "" {
			t.Errorf("%s: empty description", d.RoleName)
		}
		if diff := cmp.Diff([]string{"/"}, d.AssignableScopes); diff != "" {
			t.Errorf("%s: AssignableScopes (-want +got):\n%s", d.RoleName, diff)
		}
		if len(d.Permissions) != 1 {
			t.Errorf("%s: %d permission blocks, want 1", d.RoleName, len(d.Permissions))
		}
		for _, p := range d.Permissions {
			if p.Actions == nil || p.NotActions == nil || p.DataActions == nil || p.NotDataActions == nil {
				t.Errorf("%s: nil permission list encodes as null, ARM sends []", d.RoleName)
			}
			if len(p.Actions)+len(p.DataActions) == 0 {
				t.Errorf("%s: grants nothing", d.RoleName)
			}
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("BuiltIns not sorted by RoleName: %q", names)
	}
	if len(defs) != len(want) {
		t.Errorf("len(BuiltIns()) = %d, want %d", len(defs), len(want))
	}
	for name, guid := range want {
		if got[name] != guid {
			t.Errorf("%s: GUID %q, want %q", name, got[name], guid)
		}
	}
}

func TestBuiltIn(t *testing.T) {
	tests := []struct {
		in       string
		wantName string // "" means not found
	}{
		{"Owner", "Owner"},
		{"owner", "Owner"},
		{"KEY VAULT SECRETS USER", "Key Vault Secrets User"},
		{"4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User"},
		{"4633458B-17DE-408A-B874-0445C86B69E6", "Key Vault Secrets User"},
		{"/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader"},
		{"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"},
		{"", ""},
		{"Own", ""},
		{"Owner ", ""},
		{"Key Vault Contributor", ""},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"8e3af657-a8ff-443c-a75c-2fe8c4bcb63", ""},
	}
	for _, tt := range tests {
		d, ok := rbac.BuiltIn(tt.in)
		if ok != (tt.wantName != "") || d.RoleName != tt.wantName {
			t.Errorf("BuiltIn(%q) = %q, %v; want %q", tt.in, d.RoleName, ok, tt.wantName)
		}
	}
}

// TestBuiltInReturnsCopies guards the table against callers that modify a
// returned definition.
func TestBuiltInReturnsCopies(t *testing.T) {
	d, _ := rbac.BuiltIn("Reader")
	d.Permissions[0].Actions[0] = "*"
	d.AssignableScopes[0] = "/subscriptions/x"
	all := rbac.BuiltIns()
	all[0].Permissions[0].DataActions = append(all[0].Permissions[0].DataActions, "*")

	again, _ := rbac.BuiltIn("Reader")
	if diff := cmp.Diff([]string{"*/read"}, again.Permissions[0].Actions); diff != "" {
		t.Errorf("Reader actions changed by a caller (-want +got):\n%s", diff)
	}
	if again.AssignableScopes[0] != "/" {
		t.Errorf("Reader AssignableScopes changed by a caller: %q", again.AssignableScopes)
	}
	if first := rbac.BuiltIns()[0]; first.RoleName != "Contributor" || len(first.Permissions[0].DataActions) != 0 {
		t.Errorf("%s DataActions changed by a caller: %q", first.RoleName, first.Permissions[0].DataActions)
	}
}

func TestRoleDefinitionGUID(t *testing.T) {
	const g = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	tests := []struct {
		in   string
		want string // "" means not ok
	}{
		{g, g},
		{strings.ToUpper(g), g},
		{"/providers/Microsoft.Authorization/roleDefinitions/" + g, g},
		{"/providers/microsoft.authorization/roledefinitions/" + g, g},
		{"/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/providers/Microsoft.Authorization/roleDefinitions/" + g, g},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleDefinitions/" + g, g},
		{"", ""},
		{"not-a-guid", ""},
		{g + "/", ""},
		{"/" + g, ""},
		{"/subscriptions/s/" + g, ""},
		{"/providers/Microsoft.Authorization/roleAssignments/" + g, ""},
		{"/providers/Microsoft.Authorization/roleDefinitions/", ""},
		{"subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/" + g, ""},
		{"/subscriptions/s//providers/Microsoft.Authorization/roleDefinitions/" + g, ""},
		{"8e3af657a8ff443ca75c2fe8c4bcb635", ""},
		{"8e3af657-a8ff-443c-a75c-2fe8c4bcb63g", ""},
		{"{" + g + "}", ""},
	}
	for _, tt := range tests {
		got, ok := rbac.RoleDefinitionGUID(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("RoleDefinitionGUID(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func FuzzRoleDefinitionGUID(f *testing.F) {
	f.Add("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
	f.Add("/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
	f.Add("/subscriptions/s/providers/microsoft.authorization/roledefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635")
	f.Add("/providers/Microsoft.Authorization/roleDefinitions/")
	f.Fuzz(func(t *testing.T, id string) {
		g, ok := rbac.RoleDefinitionGUID(id)
		if !ok {
			if g != "" {
				t.Fatalf("RoleDefinitionGUID(%q) = %q with ok=false", id, g)
			}
			return
		}
		if len(g) != 36 || strings.ToLower(g) != g || !strings.HasSuffix(strings.ToLower(id), g) {
			t.Fatalf("RoleDefinitionGUID(%q) = %q: not a lower-case GUID suffix of the id", id, g)
		}
		if again, ok := rbac.RoleDefinitionGUID(g); !ok || again != g {
			t.Fatalf("RoleDefinitionGUID(%q) = %q, %v; not idempotent", g, again, ok)
		}
	})
}

// TestImportsStdlibOnly keeps the policy package pure: no wif package and no
// third-party module may be imported by non-test code.
func TestImportsStdlibOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("build.ImportDir: %v", err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") {
			t.Errorf("rbac imports %q; it must use the standard library only", imp)
		}
	}
	if len(pkg.Imports) == 0 {
		t.Error("no imports found; is the check looking at the right package?")
	}
}
