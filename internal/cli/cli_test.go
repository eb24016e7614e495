package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFicName(t *testing.T) {
	if got := ficName("myCluster", "default", "my-app-sa"); got != "myCluster-default-my-app-sa" {
		t.Errorf("ficName = %q", got)
	}
	long := ficName(strings.Repeat("c", 100), "ns", strings.Repeat("s", 60))
	if len(long) > 120 || !strings.HasPrefix(long, "sa-") {
		t.Errorf("long names must be hashed into a valid name: %q", long)
	}
	if ficName("a.b", "n", "s") != "a-b-n-s" {
		t.Errorf("invalid characters must be replaced: %q", ficName("a.b", "n", "s"))
	}
}

func TestFlattenMirrorsAz(t *testing.T) {
	in := map[string]any{
		"id":         "/subscriptions/s/resourcegroups/myRG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
		"name":       "x",
		"properties": map[string]any{"clientId": "c", "principalId": "p"},
	}
	want := map[string]any{"id": in["id"], "name": "x", "clientId": "c", "principalId": "p", "resourceGroup": "myRG"}
	if diff := cmp.Diff(want, flatten(in)); diff != "" {
		t.Errorf("flatten (-want +got):\n%s", diff)
	}
	cluster := clusterOut(map[string]any{"properties": map[string]any{"oidcIssuerProfile": map[string]any{"enabled": true, "issuerURL": "https://i/"}}})
	if got := cluster["oidcIssuerProfile"].(map[string]any); got["issuerUrl"] != "https://i/" || got["issuerURL"] != nil {
		t.Errorf("az prints issuerURL as issuerUrl: %v", got)
	}
}

func TestScopeAndTags(t *testing.T) {
	if !scopeContains("/subscriptions/a", "/subscriptions/a/resourceGroups/rg") || scopeContains("/subscriptions/a", "/subscriptions/ab") {
		t.Error("scopeContains must compare whole segments")
	}
	if diff := cmp.Diff(map[string]string{"a": "b", "c": ""}, parseTags([]string{"a=b", "c"})); diff != "" {
		t.Errorf("parseTags (-want +got):\n%s", diff)
	}
	if parseTags(nil) != nil {
		t.Error("no --tags means no change")
	}
}

// TestBadQueryRejectedFirst: like az, a bad --query or -o fails before any
// request (there is no server here: reaching the network would fail differently).
func TestBadQueryRejectedFirst(t *testing.T) {
	env := func(string) string { return "" }
	var out, errOut bytes.Buffer
	err := Run(t.Context(), []string{"group", "list", "--query", "["}, nil, &out, &errOut, env)
	if err == nil || !strings.Contains(err.Error(), "argument --query: invalid jmespath_type value") {
		t.Errorf("bad --query: %v", err)
	}
	err = Run(t.Context(), []string{"group", "list", "-o", "xml"}, nil, &out, &errOut, env)
	if err == nil || !strings.Contains(err.Error(), "invalid output format") {
		t.Errorf("bad -o: %v", err)
	}
}
