package armapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWireShapes pins the JSON of the shapes az 2.45, armmsi and the SDKs
// read and send: field names and casing, what is omitted and what is sent
// as null or [].
func TestWireShapes(t *testing.T) {
	subject := "system:serviceaccount:ns:sa"
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"identity", Identity{TrackedResource: TrackedResource{ID: "/i", Name: "i", Type: TypeIdentity, Location: "eastus", Tags: map[string]string{}},
			Properties: &IdentityProperties{TenantID: "t", PrincipalID: "p", ClientID: "c", IsolationScope: "None"}},
			`{"id":"/i","name":"i","type":"Microsoft.ManagedIdentity/userAssignedIdentities","location":"eastus","tags":{},"properties":{"tenantId":"t","principalId":"p","clientId":"c","isolationScope":"None"}}`},
		{"identity request as the CLI sends it", Identity{TrackedResource: TrackedResource{Location: "eastus"}},
			`{"location":"eastus","tags":null}`},
		{"credential with a subject", FederatedIdentityCredential{ProxyResource: ProxyResource{Name: "f"},
			Properties: &FederatedIdentityCredentialProperties{Issuer: "https://i/", Subject: &subject, Audiences: []string{"api://AzureADTokenExchange"}}},
			`{"name":"f","properties":{"issuer":"https://i/","subject":"system:serviceaccount:ns:sa","audiences":["api://AzureADTokenExchange"]}}`},
		{"credential with an expression", FederatedIdentityCredentialProperties{Issuer: "https://i/", Audiences: []string{"a"},
			ClaimsMatchingExpression: &ClaimsMatchingExpression{Value: "x", LanguageVersion: 1}},
			`{"issuer":"https://i/","audiences":["a"],"claimsMatchingExpression":{"value":"x","languageVersion":1}}`},
		{"role assignment sends ARM's nulls", RoleAssignmentProperties{RoleDefinitionID: "/r", PrincipalID: "p", PrincipalType: "ServicePrincipal", Scope: "/s"},
			`{"roleDefinitionId":"/r","principalId":"p","principalType":"ServicePrincipal","scope":"/s","condition":null,"conditionVersion":null,"createdBy":null,"updatedBy":null,"delegatedManagedIdentityResourceId":null,"description":null}`},
		{"vault properties", VaultProperties{SKU: &VaultSKU{Family: "A", Name: "standard"}, AccessPolicies: []json.RawMessage{}, EnableSoftDelete: Bool(true), EnabledForDeployment: Bool(false), SoftDeleteRetentionInDays: Int(90)},
			`{"sku":{"family":"A","name":"standard"},"accessPolicies":[],"enabledForDeployment":false,"enableSoftDelete":true,"softDeleteRetentionInDays":90}`},
		{"group", ResourceGroup{TrackedResource: TrackedResource{ID: "/g", Name: "g", Type: TypeResourceGroup, Location: "l", Tags: map[string]string{}}, Properties: &ResourceGroupProperties{ProvisioningState: "Succeeded"}},
			`{"id":"/g","name":"g","type":"Microsoft.Resources/resourceGroups","location":"l","tags":{},"properties":{"provisioningState":"Succeeded"}}`},
		{"empty page", Page[Identity]{Value: []Identity{}}, `{"value":[]}`},
		{"error", ErrorResponse{Error: ErrorBody{Code: "ResourceNotFound", Message: "m"}}, `{"error":{"code":"ResourceNotFound","message":"m"}}`},
		{"cluster seed: the issuer profile is off and securityProfile empty", ClusterSeed{}.Properties()["oidcIssuerProfile"], `{"enabled":false}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, b, c.want)
		}
	}
}

// TestOpenPartsIgnoreUnknownFields: the parts marked open accept fields
// wif does not model even under a strict decoder, and keep type errors.
func TestOpenPartsIgnoreUnknownFields(t *testing.T) {
	strict := func(s string, v any) error {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
	var kv Vault
	if err := strict(`{"location":"l","properties":{"sku":{"family":"A","name":"premium"},"networkAcls":{"bypass":"x"},"enableRbacAuthorization":false}}`, &kv); err != nil {
		t.Fatal(err)
	}
	if kv.Properties.SKU.Name != "premium" || *kv.Properties.EnableRbacAuthorization {
		t.Errorf("vault: %+v", kv.Properties)
	}
	var c ManagedCluster
	if err := strict(`{"location":"l","sku":{"name":"Base","tier":"Free","x":1},"identity":{"type":"SystemAssigned","userAssignedIdentities":null},"properties":{"anything":{"at":"all"}}}`, &c); err != nil {
		t.Fatal(err)
	}
	var g ResourceGroup
	if err := strict(`{"location":"l","properties":{"provisioningState":"Succeeded","x":1}}`, &g); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		body string
		v    any
	}{
		{`{"location":"l","colour":1}`, &Vault{}},
		{`{"location":"l","properties":{"sku":"standard"}}`, &Vault{}},
		{`{"location":"l","properties":{"colour":1}}`, &Identity{}},
		{`{"properties":{"issuer":"i","colour":1}}`, &FederatedIdentityCredential{}},
	} {
		if err := strict(bad.body, bad.v); err == nil {
			t.Errorf("%s: decoded, want an error", bad.body)
		}
	}
}

func TestClusterProperties(t *testing.T) {
	p := ManagedClusterProperties{"securityProfile": map[string]any{"defender": map[string]any{"x": true}}}
	p.SetOIDCIssuer(OIDCIssuerProfile{Enabled: true})
	p.SetWorkloadIdentity(true)
	if !p.OIDCIssuer().Enabled || !p.WorkloadIdentity() {
		t.Errorf("properties: %v", p)
	}
	want := map[string]any{"defender": map[string]any{"x": true}, "workloadIdentity": map[string]any{"enabled": true}}
	if diff := cmp.Diff(want, p["securityProfile"]); diff != "" {
		t.Errorf("SetWorkloadIdentity must keep the profile's other settings (-want +got):\n%s", diff)
	}
	if (ManagedClusterProperties{}).WorkloadIdentity() || (ManagedClusterProperties{}).OIDCIssuer().Enabled {
		t.Error("absent profiles are off")
	}
}
