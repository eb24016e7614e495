package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestListRoleAssignmentsAround: Below selects the assignments under a
// scope, by whole segments ("rg1" is not under "rg"), and with AtOrAbove
// and a principal it selects exactly what ARM lists at a scope.
func TestListRoleAssignmentsAround(t *testing.T) {
	ctx := context.Background()
	db := openTempSQLite(t)
	p1, p2 := guid("obj", 1), guid("obj", 2)
	sub := "/subscriptions/" + subA
	rg := sub + "/resourceGroups/RG"
	role := "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7"
	for _, r := range []RoleAssignment{
		{ID: "root", Scope: "/", PrincipalID: p1},
		{ID: "sub", Scope: sub, PrincipalID: p2},
		{ID: "rg", Scope: rg, PrincipalID: p1},
		{ID: "rg-p2", Scope: rg, PrincipalID: p2},
		{ID: "below", Scope: rg + "/providers/Microsoft.KeyVault/vaults/kv", PrincipalID: p1},
		{ID: "deeper", Scope: rg + "/providers/Microsoft.KeyVault/vaults/kv/secrets/s", PrincipalID: p2},
		{ID: "prefix-trap", Scope: rg + "1", PrincipalID: p1},               // "rg1": a sibling
		{ID: "paren-trap", Scope: rg + "(x)", PrincipalID: p1},              // '(' sorts before '/'
		{ID: "other-sub", Scope: "/subscriptions/" + subB, PrincipalID: p1}, // unrelated
	} {
		r.RoleDefinitionID, r.PrincipalType, r.CreatedAt = role, "ServicePrincipal", t0
		if _, _, err := db.PutRoleAssignment(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    RoleAssignmentFilter
		want []string
	}{
		{"below rg", RoleAssignmentFilter{Scope: strings.ToUpper(rg), Below: true}, []string{"rg", "rg-p2", "below", "deeper"}},
		{"around rg", RoleAssignmentFilter{Scope: rg + "/", AtOrAbove: true, Below: true}, []string{"root", "sub", "rg", "rg-p2", "below", "deeper"}},
		{"around rg for p1", RoleAssignmentFilter{Scope: rg, AtOrAbove: true, Below: true, PrincipalID: strings.ToUpper(p1)}, []string{"root", "rg", "below"}},
		{"around vault", RoleAssignmentFilter{Scope: rg + "/providers/Microsoft.KeyVault/vaults/KV", AtOrAbove: true, Below: true}, []string{"root", "sub", "rg", "rg-p2", "below", "deeper"}},
		{"around root", RoleAssignmentFilter{Scope: "/", AtOrAbove: true, Below: true, PrincipalID: p2}, []string{"sub", "rg-p2", "deeper"}},
		{"below a secret", RoleAssignmentFilter{Scope: rg + "/providers/Microsoft.KeyVault/vaults/kv/secrets/s", Below: true}, []string{"deeper"}},
	} {
		rs, err := db.ListRoleAssignments(ctx, tc.f)
		must(t, err)
		got := []string{}
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: ids (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestRoleAssignmentQueriesUseIndexes: the lookups of every ARM request
// (a principal at a scope and above) and of role assignment lists never
// scan the table.
func TestRoleAssignmentQueriesUseIndexes(t *testing.T) {
	db := openTempSQLite(t)
	rg := "/subscriptions/" + subA + "/resourceGroups/rg"
	for _, tc := range []struct {
		name string
		f    RoleAssignmentFilter
		want string // in the plan
	}{
		{"authorize", RoleAssignmentFilter{Scope: rg, AtOrAbove: true, PrincipalID: "p"}, "role_assignments_principal_scope (principal_key=? AND scope_key=?)"},
		{"list for a principal", RoleAssignmentFilter{Scope: rg, AtOrAbove: true, Below: true, PrincipalID: "p"}, "role_assignments_principal_scope (principal_key=?)"},
		{"list at a scope", RoleAssignmentFilter{Scope: rg, AtOrAbove: true, Below: true}, "(scope_key>? AND scope_key<?)"},
		{"list at a scope only", RoleAssignmentFilter{Scope: rg, AtOrAbove: true}, "(scope_key=?)"},
		{"a principal's", RoleAssignmentFilter{PrincipalID: "p"}, "role_assignments_principal_scope (principal_key=?)"},
	} {
		q, args := roleAssignmentQuery(tc.f)
		joined := queryPlan(t, db, q, args...)
		if !strings.Contains(joined, tc.want) || strings.Contains(joined, "SCAN role_assignments") {
			t.Errorf("%s: plan %q, want %q and no scan", tc.name, joined, tc.want)
		}
	}
}
