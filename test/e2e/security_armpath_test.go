package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSecurityARMPath (issue 13, item 6): encoded separators, dot segments,
// control characters, over-long names and bad api-versions get ARM's 400
// before RBAC or the store sees them; a Contributor on rgA gets 400 for
// rgA%2F..%2FrgB paths (not 200, 403 or 404) and cannot touch rgB.
func TestSecurityARMPath(t *testing.T) {
	e := rmSetup(t)
	e.rmCreateIdentity(t, rmRGB, "victim")
	c := e.rmNewCaller(t, rmContributor, rmAtGroup)
	before := amSnapshot(t, e.w, e.admin)

	sub := "/subscriptions/" + e.sub
	mi := "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/victim"
	for _, rg := range []string{"rgA%2F..%2FrgB", "rgA%2f..%2frgB", "rgA%5C..%5CrgB", "rgA%2F%2E%2E%2FrgB", "rgA%252F..%252FrgB"} {
		for _, tail := range []string{"", mi, mi + "/federatedIdentityCredentials/fic1", "/providers/Microsoft.Authorization/roleAssignments",
			"/providers/Microsoft.KeyVault/vaults/kvvictim", "/resources"} {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				path := sub + "/resourceGroups/" + rg + tail
				r := e.rmDo(t, c.token, m, path, map[string]any{"location": "eastus", "tags": map[string]string{"pwned": "1"}})
				if code, _ := r.rmError(); r.Status != http.StatusBadRequest || code != "InvalidResourceGroup" {
					t.Errorf("contributor %s %s: %d %s, want 400 InvalidResourceGroup", m, path, r.Status, amShort(string(r.Raw)))
				}
			}
		}
	}
	// The plain path to rgB is RBAC's to refuse.
	if r := e.rmDo(t, c.token, http.MethodDelete, e.rmIdentity(rmRGB, "victim"), nil); r.Status != http.StatusForbidden {
		t.Errorf("contributor DELETE in rgB: %d %s, want 403", r.Status, r.Raw)
	}

	// Every name position, as the admin (whose role would allow anything).
	rg := sub + "/resourceGroups/" + rmRGA
	for _, tc := range []struct{ path, code string }{
		{sub + "/resourceGroups/a%2Fb", "InvalidResourceGroup"},
		{sub + "/resourceGroups/a%00b", "InvalidResourceGroup"},
		{sub + "/resourceGroups/a%0Ab", "InvalidResourceGroup"},
		{sub + "/resourceGroups/ends.", "InvalidResourceGroup"},
		{sub + "/resourceGroups/" + strings.Repeat("g", 91), "InvalidResourceGroup"},
		{sub + "/resourceGroups/..", "InvalidRequestUri"},
		{sub + "/resourceGroups/%2E", "InvalidRequestUri"},
		{sub + "/resourceGroups/%2e%2e", "InvalidRequestUri"},
		{"/subscriptions/a%2Fb/resourceGroups/" + rmRGA, "InvalidSubscriptionId"},
		{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a%5Cb", "InvalidResourceName"},
		{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ab", "InvalidResourceName"},
		{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + strings.Repeat("i", 129), "InvalidResourceName"},
		{e.rmIdentity(rmRGA, rmTargetID) + "/federatedIdentityCredentials/" + strings.Repeat("f", 121), "BadRequest"},
		{e.rmIdentity(rmRGA, rmTargetID) + "/federatedIdentityCredentials/f%0Ax", "BadRequest"},
		{rg + "/providers/Microsoft.KeyVault/vaults/" + strings.Repeat("k", 25), "VaultNameNotValid"},
		{rg + "/providers/Microsoft.KeyVault/vaults/kv%2F..%2Fother", "VaultNameNotValid"},
		{rg + "/providers/Microsoft.Foo/bars/" + strings.Repeat("x", 261), "InvalidRequestUri"},
		{rg + "/providers/Microsoft.Foo%2F..%2FMicrosoft.KeyVault/vaults/x", "InvalidRequestUri"},
	} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			r := e.rmDo(t, e.admin, m, tc.path, map[string]any{"location": "eastus"})
			if code, _ := r.rmError(); r.Status != http.StatusBadRequest || code != tc.code {
				t.Errorf("admin %s %s: %d %s, want 400 %s", m, amShort(tc.path), r.Status, amShort(string(r.Raw)), tc.code)
			}
		}
	}
	for q, code := range map[string]string{
		"": "MissingApiVersionParameter", "?api-version=": "MissingApiVersionParameter",
		"?api-version=latest": "InvalidApiVersionParameter", "?api-version=2021-04-01%00": "InvalidApiVersionParameter",
	} {
		r := amDo(t, e.w, http.MethodGet, rg+q, nil, amBearer(e.admin))
		if got, _, _ := r.armError(); r.Status != http.StatusBadRequest || got != code {
			t.Errorf("GET rgA%s: %d %s, want 400 %s", q, r.Status, amShort(string(r.Body)), code)
		}
	}

	if diff := cmp.Diff(before, amSnapshot(t, e.w, e.admin)); diff != "" {
		t.Errorf("refused requests changed state (-before +after):\n%s", diff)
	}
}
