package arm

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/store"
)

const (
	roleOwner = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	sub       = "/subscriptions/" + testSub
	rg1       = sub + "/resourceGroups/rg1"
	rg2       = sub + "/resourceGroups/rg2"
	rg3       = sub + "/resourceGroups/rg3"
	ghost     = sub + "/resourceGroups/ghost" // the caller is a Contributor on it, but it does not exist
	mi1       = rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	v         = "?api-version=2024-11-30"
)

// step is one request of a table, run in order against one handler, and
// what it must answer.
type step struct {
	name         string
	token        string // default testTokenText
	method, path string
	body         string
	status       int
	code         string // the ARM error code, "" for success
	check        func(t *testing.T, r testResponse)
}

func run(t *testing.T, h http.Handler, steps []step) {
	t.Helper()
	for _, s := range steps {
		authz := "Bearer " + testTokenText
		if s.token != "" {
			authz = "Bearer " + s.token
		}
		r := serveAs(h, authz, s.method, s.path, s.body)
		if r.status != s.status || r.code != s.code {
			t.Errorf("%s: %s %s: %d %q, want %d %q: %s", s.name, s.method, s.path, r.status, r.code, s.status, s.code, r.body)
			continue
		}
		if s.check != nil {
			s.check(t, r)
		}
	}
}

// fixture extends testHandler: rg3 exists and the caller is a
// Contributor on it, and a Contributor on the missing group "ghost".
func fixture(t *testing.T) (*Handler, *store.DB) {
	t.Helper()
	h, db := testHandler(t)
	ctx := context.Background()
	if _, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: testSub, Name: "rg3", Location: "westus"}); err != nil {
		t.Fatal(err)
	}
	for i, scope := range []string{rg3, ghost} {
		if _, _, err := db.PutRoleAssignment(ctx, store.RoleAssignment{ID: guidN(30 + i), Scope: scope, RoleDefinitionID: roleContrib, PrincipalID: testCaller, PrincipalType: "ServicePrincipal"}); err != nil {
			t.Fatal(err)
		}
	}
	return h, db
}

func grantOwner(t *testing.T, db *store.DB) {
	t.Helper()
	if _, _, err := db.PutRoleAssignment(context.Background(), store.RoleAssignment{ID: guidN(40), Scope: sub, RoleDefinitionID: roleOwner, PrincipalID: testCaller, PrincipalType: "ServicePrincipal"}); err != nil {
		t.Fatal(err)
	}
}

// into decodes a response body into a wire type.
func into[T any](t *testing.T, r testResponse) T {
	t.Helper()
	var out T
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return out
}

func names[T any](t *testing.T, r testResponse, name func(T) string) []string {
	t.Helper()
	var out []string
	for _, it := range into[armapi.Page[T]](t, r).Value {
		out = append(out, name(it))
	}
	return out
}

func wantNames(want ...string) func(t *testing.T, r testResponse) {
	return func(t *testing.T, r testResponse) {
		t.Helper()
		got := names(t, r, func(g armapi.GenericResource) string { return g.Name })
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("names %v, want %v", got, want)
		}
	}
}

func wantHeader(name string) func(t *testing.T, r testResponse) {
	return func(t *testing.T, r testResponse) {
		t.Helper()
		if r.header.Get(name) == "" {
			t.Errorf("no %s header", name)
		}
	}
}

func TestAuthenticationAndAPIVersion(t *testing.T) {
	h, db := fixture(t)
	ctx := context.Background()
	if err := db.CreateTenant(ctx, store.Tenant{ID: guidN(50)}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSubscription(ctx, store.Subscription{ID: guidN(51), TenantID: guidN(50), DisplayName: "x", State: "Enabled"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, authz, path string
		status            int
		code              string
	}{
		{"no header", "", rg1 + v, 401, "AuthenticationFailed"},
		{"not bearer", "Basic abc", rg1 + v, 401, "AuthenticationFailed"},
		{"bad token", "Bearer nope", rg1 + v, 401, "InvalidAuthenticationToken"},
		{"expired", "Bearer " + expiredToken, rg1 + v, 401, "ExpiredAuthenticationToken"},
		{"audience", "Bearer " + audienceToken, rg1 + v, 401, "InvalidAuthenticationTokenAudience"},
		{"verifier unavailable", "Bearer " + unavailableToken, rg1 + v, 503, "ServiceUnavailable"},
		{"bearer is case-insensitive", "bearer " + testTokenText, rg1 + v, 200, ""},
		{"no api-version", "Bearer " + testTokenText, rg1, 400, "MissingApiVersionParameter"},
		{"empty api-version", "Bearer " + testTokenText, rg1 + "?api-version=", 400, "MissingApiVersionParameter"},
		{"bad api-version", "Bearer " + testTokenText, rg1 + "?api-version=2021-4-1", 400, "InvalidApiVersionParameter"},
		{"second api-version bad", "Bearer " + testTokenText, rg1 + v + "&api-version=x", 400, "InvalidApiVersionParameter"},
		{"preview api-version", "Bearer " + testTokenText, rg1 + "?api-version=2022-01-31-preview", 200, ""},
		{"az 2.45's groups api-version", "Bearer " + testTokenText, sub + "/resourcegroups/rg1?api-version=2021-04-01", 200, ""},
		{"unknown subscription", "Bearer " + testTokenText, "/subscriptions/" + guidN(52) + v, 404, "SubscriptionNotFound"},
		{"another tenant's subscription", "Bearer " + testTokenText, "/subscriptions/" + guidN(51) + v, 401, "InvalidAuthenticationTokenTenant"},
		{"unknown path", "Bearer " + testTokenText, sub + "/bogus" + v, 404, "NoRegisteredProviderFound"},
		{"unknown provider type", "Bearer " + testTokenText, rg1 + "/providers/Microsoft.Storage/storageAccounts/sa1" + v, 404, "NoRegisteredProviderFound"},
		{"unknown namespace", "Bearer " + testTokenText, sub + "/providers/Microsoft.Nope" + v, 404, "InvalidResourceNamespace"},
	} {
		r := serveAs(h, c.authz, http.MethodGet, c.path, "")
		if r.status != c.status || r.code != c.code {
			t.Errorf("%s: %d %q, want %d %q: %s", c.name, r.status, r.code, c.status, c.code, r.body)
		}
	}
	// The metadata endpoint needs no token and no api-version.
	r := serveAs(h, "", http.MethodGet, "/metadata/endpoints", "")
	if md := into[armapi.CloudMetadata](t, r); r.status != 200 || md.Authentication.LoginEndpoint != "https://localhost/" || len(md.Authentication.Audiences) != 2 {
		t.Errorf("metadata: %d %s", r.status, r.body)
	}
}

func TestSubscriptionsTenantsProviders(t *testing.T) {
	h, _ := fixture(t)
	run(t, h, []step{
		{name: "subscriptions with a role", method: "GET", path: "/subscriptions" + v, status: 200, check: func(t *testing.T, r testResponse) {
			p := into[armapi.Page[armapi.Subscription]](t, r)
			if len(p.Value) != 1 || p.Value[0].SubscriptionID != testSub || p.Value[0].TenantID != testTenant || p.Value[0].ManagedByTenants == nil {
				t.Errorf("subscriptions: %s", r.body)
			}
		}},
		{name: "subscription", method: "GET", path: sub + v, status: 200},
		{name: "tenants", method: "GET", path: "/tenants" + v, status: 200, check: func(t *testing.T, r testResponse) {
			if p := into[armapi.Page[armapi.Tenant]](t, r); len(p.Value) != 1 || p.Value[0].TenantID != testTenant {
				t.Errorf("tenants: %s", r.body)
			}
		}},
		{name: "providers", method: "GET", path: "/providers" + v, status: 200},
		{name: "a provider", method: "GET", path: sub + "/providers/microsoft.managedidentity" + v, status: 200, check: func(t *testing.T, r testResponse) {
			if p := into[armapi.Provider](t, r); p.Namespace != "Microsoft.ManagedIdentity" || p.RegistrationState != "Registered" {
				t.Errorf("provider: %s", r.body)
			}
		}},
		{name: "operation status", method: "GET", path: sub + "/providers/Microsoft.Resources/operationStatuses/" + guidN(7) + v, status: 200, check: func(t *testing.T, r testResponse) {
			if s := into[armapi.OperationStatus](t, r); s.Status != "Succeeded" {
				t.Errorf("operation: %s", r.body)
			}
		}},
		{name: "operation result", method: "GET", path: sub + "/providers/Microsoft.Resources/operationResults/" + guidN(7) + v, status: 200},
		{name: "operation id not a GUID", method: "GET", path: sub + "/providers/Microsoft.Resources/operationStatuses/abc" + v, status: 404, code: "OperationNotFound"},
	})
}

func TestResourceGroups(t *testing.T) {
	h, db := fixture(t)
	run(t, h, []step{
		{name: "get", method: "GET", path: rg1 + v, status: 200, check: func(t *testing.T, r testResponse) {
			g := into[armapi.ResourceGroup](t, r)
			if g.ID != rg1 || g.Type != armapi.TypeResourceGroup || g.Location != "eastus" || g.Tags == nil || g.Properties.ProvisioningState != "Succeeded" {
				t.Errorf("group: %s", r.body)
			}
		}},
		{name: "head", method: "HEAD", path: rg1 + v, status: 204},
		{name: "get denied", method: "GET", path: rg2 + v, status: 403, code: "AuthorizationFailed"},
		{name: "get missing", method: "GET", path: ghost + v, status: 404, code: "ResourceGroupNotFound"},
		{name: "patch missing", method: "PATCH", path: ghost + v, body: `{"tags":{}}`, status: 404, code: "ResourceGroupNotFound"},
		{name: "put without location", method: "PUT", path: rg1 + v, body: `{}`, status: 400, code: "LocationRequired"},
		{name: "put unknown field", method: "PUT", path: rg1 + v, body: `{"location":"eastus","colour":"red"}`, status: 400, code: "InvalidRequestContent"},
		{name: "put malformed", method: "PUT", path: rg1 + v, body: `{"location":`, status: 400, code: "InvalidRequestContent"},
		{name: "put trailing data", method: "PUT", path: rg1 + v, body: `{"location":"eastus"}}`, status: 400, code: "InvalidRequestContent"},
		{name: "put wrong type", method: "PUT", path: rg1 + v, body: `{"location":5}`, status: 400, code: "InvalidRequestContent"},
		{name: "put as az group update sends it", method: "PUT", path: rg1 + v, body: `{"location":"eastus","managedBy":null,"tags":{"a":"b"},"properties":{"provisioningState":"Succeeded","extra":1}}`, status: 200},
		{name: "patch keeps location", method: "PATCH", path: rg1 + v, body: `{"location":"westus","tags":{"c":"d"}}`, status: 200, check: func(t *testing.T, r testResponse) {
			if g := into[armapi.ResourceGroup](t, r); g.Location != "eastus" || g.Tags["c"] != "d" {
				t.Errorf("patched group: %s", r.body)
			}
		}},
		{name: "patch keeps tags", method: "PATCH", path: rg1 + v, body: `{}`, status: 200, check: func(t *testing.T, r testResponse) {
			if g := into[armapi.ResourceGroup](t, r); g.Tags["c"] != "d" {
				t.Errorf("patched group: %s", r.body)
			}
		}},
		{name: "create denied (Contributor on rg1 only)", method: "PUT", path: sub + "/resourceGroups/rg9" + v, body: `{"location":"eastus"}`, status: 403, code: "AuthorizationFailed"},
		{name: "create on a scope the caller holds", method: "PUT", path: ghost + v, body: `{"location":"eastus"}`, status: 201},
		{name: "put again", method: "PUT", path: ghost + v, body: `{"location":"eastus"}`, status: 200},
		{name: "list denied", method: "GET", path: sub + "/resourcegroups" + v, status: 403, code: "AuthorizationFailed"},
		{name: "list as Reader", token: readerToken, method: "GET", path: sub + "/resourcegroups" + v, status: 200, check: func(t *testing.T, r testResponse) {
			got := names(t, r, func(g armapi.ResourceGroup) string { return g.Name })
			if strings.Join(got, ",") != "ghost,rg1,rg2,rg3" {
				t.Errorf("groups %v", got)
			}
		}},
		{name: "Reader may not write", token: readerToken, method: "PATCH", path: rg1 + v, body: `{}`, status: 403, code: "AuthorizationFailed"},
		{name: "post", method: "POST", path: rg1 + v, status: 405, code: "MethodNotAllowed"},
		{name: "delete denied", method: "DELETE", path: rg2 + v, status: 403, code: "AuthorizationFailed"},
		{name: "delete", method: "DELETE", path: ghost + v, status: 202, check: wantHeader("Location")},
		{name: "delete again: the group's role assignments went with it", method: "DELETE", path: ghost + v, status: 403, code: "AuthorizationFailed"},
	})
	grantOwner(t, db)
	run(t, h, []step{{name: "delete a missing group", method: "DELETE", path: ghost + v, status: 404, code: "ResourceGroupNotFound"}})
	if _, err := db.GetResourceGroup(context.Background(), testSub, "rg2"); err != nil {
		t.Errorf("rg2 after a denied delete: %v", err)
	}
}

func TestIdentities(t *testing.T) {
	h, db := fixture(t)
	id2 := rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id2"
	var clientID string
	run(t, h, []step{
		{name: "get", method: "GET", path: mi1 + v, status: 200, check: func(t *testing.T, r testResponse) {
			p := into[armapi.Identity](t, r)
			if p.Type != armapi.TypeIdentity || p.Properties.ClientID != guidN(20) || p.Properties.PrincipalID != guidN(10) || p.Properties.TenantID != testTenant {
				t.Errorf("identity: %s", r.body)
			}
			// az derives the group from the id, which armmsi and az spell "resourcegroups".
			if !strings.Contains(p.ID, "/resourcegroups/rg1/") {
				t.Errorf("id %s", p.ID)
			}
		}},
		{name: "get missing", method: "GET", path: id2 + v, status: 404, code: "ResourceNotFound"},
		{name: "get in a missing group", method: "GET", path: ghost + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x1x" + v, status: 404, code: "ResourceGroupNotFound"},
		{name: "put in a missing group", method: "PUT", path: ghost + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x1x" + v, body: `{"location":"eastus"}`, status: 404, code: "ResourceGroupNotFound"},
		{name: "get denied", method: "GET", path: rg2 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1" + v, status: 403, code: "AuthorizationFailed"},
		{name: "put without location", method: "PUT", path: id2 + v, body: `{}`, status: 400, code: "LocationRequired"},
		{name: "put read-only property unknown", method: "PUT", path: id2 + v, body: `{"location":"eastus","properties":{"colour":"red"}}`, status: 400, code: "InvalidRequestContent"},
		{name: "create", method: "PUT", path: id2 + v, body: `{"location":"eastus","tags":{"a":"b"}}`, status: 201, check: func(t *testing.T, r testResponse) {
			clientID = into[armapi.Identity](t, r).Properties.ClientID
		}},
		{name: "put again keeps the ids", method: "PUT", path: id2 + v, body: `{"location":"eastus"}`, status: 200, check: func(t *testing.T, r testResponse) {
			if got := into[armapi.Identity](t, r).Properties.ClientID; got != clientID {
				t.Errorf("client id %s, want %s", got, clientID)
			}
		}},
		{name: "patch tags", method: "PATCH", path: id2 + v, body: `{"tags":{"x":"y"}}`, status: 200, check: func(t *testing.T, r testResponse) {
			if p := into[armapi.Identity](t, r); p.Tags["x"] != "y" || p.Location != "eastus" {
				t.Errorf("patched: %s", r.body)
			}
		}},
		{name: "patch missing", method: "PATCH", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id9" + v, body: `{}`, status: 404, code: "ResourceNotFound"},
		{name: "null body", method: "PATCH", path: id2 + v, body: `null`, status: 400, code: "InvalidRequestContent"},
		{name: "Reader may not write", token: readerToken, method: "PUT", path: id2 + v, body: `{"location":"eastus"}`, status: 403, code: "AuthorizationFailed"},
		{name: "post", method: "POST", path: id2 + v, status: 405, code: "MethodNotAllowed"},
		{name: "list group", method: "GET", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + v, status: 200, check: wantNames("id1", "id2")},
		{name: "list missing group", method: "GET", path: ghost + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + v, status: 404, code: "ResourceGroupNotFound"},
		{name: "list subscription denied", method: "GET", path: sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + v, status: 403, code: "AuthorizationFailed"},
		{name: "list subscription as Reader", token: readerToken, method: "GET", path: sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + v, status: 200, check: wantNames("id1", "id2", "id1")},
		{name: "list non-GET", method: "PUT", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + v, body: `{}`, status: 404, code: "NoRegisteredProviderFound"},
		{name: "delete", method: "DELETE", path: id2 + v, status: 200},
		{name: "delete again", method: "DELETE", path: id2 + v, status: 204},
		{name: "delete denied", method: "DELETE", path: rg2 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1" + v, status: 403, code: "AuthorizationFailed"},
	})
	if _, err := db.GetIdentity(context.Background(), testSub, "rg2", "id1"); err != nil {
		t.Errorf("rg2's identity after a denied delete: %v", err)
	}
}

func TestFederatedIdentityCredentials(t *testing.T) {
	h, _ := fixture(t)
	fics := mi1 + "/federatedIdentityCredentials"
	const good = `{"properties":{"issuer":"https://issuer.example/","subject":"system:serviceaccount:ns:sa","audiences":["api://AzureADTokenExchange"]}}`
	run(t, h, []step{
		{name: "create", method: "PUT", path: fics + "/fic1" + v, body: good, status: 201, check: func(t *testing.T, r testResponse) {
			f := into[armapi.FederatedIdentityCredential](t, r)
			if f.Type != armapi.TypeFederatedCredential || f.Properties.Subject == nil || *f.Properties.Subject != "system:serviceaccount:ns:sa" || len(f.Properties.Audiences) != 1 {
				t.Errorf("credential: %s", r.body)
			}
		}},
		{name: "put again", method: "PUT", path: fics + "/fic1" + v, body: good, status: 200},
		{name: "same issuer and subject under another name", method: "PUT", path: fics + "/fic2" + v, body: good, status: 400, code: "BadRequest"},
		{name: "expression", method: "PUT", path: fics + "/fic3" + v, body: `{"properties":{"issuer":"https://issuer.example/","claimsMatchingExpression":{"value":"claims['sub'] matches 'system:serviceaccount:ns:*'","languageVersion":1}}}`, status: 201, check: func(t *testing.T, r testResponse) {
			f := into[armapi.FederatedIdentityCredential](t, r)
			if f.Properties.Subject != nil || f.Properties.ClaimsMatchingExpression == nil || f.Properties.Audiences[0] != "api://AzureADTokenExchange" {
				t.Errorf("credential: %s", r.body)
			}
		}},
		{name: "no properties", method: "PUT", path: fics + "/fic4" + v, body: `{}`, status: 400, code: "BadRequest"},
		{name: "no audience", method: "PUT", path: fics + "/fic4" + v, body: `{"properties":{"issuer":"https://issuer.example/","subject":"s","audiences":[]}}`, status: 400, code: "BadRequest"},
		{name: "empty expression", method: "PUT", path: fics + "/fic4" + v, body: `{"properties":{"issuer":"https://issuer.example/","claimsMatchingExpression":{"value":""}}}`, status: 400, code: "BadRequest"},
		{name: "unknown property", method: "PUT", path: fics + "/fic4" + v, body: `{"properties":{"issuer":"https://issuer.example/","subject":"s","colour":1}}`, status: 400, code: "InvalidRequestContent"},
		{name: "patch", method: "PATCH", path: fics + "/fic1" + v, body: good, status: 405, code: "MethodNotAllowed"},
		{name: "get", method: "GET", path: fics + "/fic1" + v, status: 200},
		{name: "get missing", method: "GET", path: fics + "/fic9" + v, status: 404, code: "ResourceNotFound"},
		{name: "list", method: "GET", path: fics + v, status: 200, check: wantNames("fic1", "fic3")},
		{name: "parent missing", method: "GET", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id9/federatedIdentityCredentials" + v, status: 404, code: "ParentResourceNotFound"},
		{name: "put under a missing parent", method: "PUT", path: rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id9/federatedIdentityCredentials/fic1" + v, body: good, status: 404, code: "ParentResourceNotFound"},
		{name: "denied in rg2", method: "PUT", path: rg2 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/fic1" + v, body: good, status: 403, code: "AuthorizationFailed"},
		{name: "Reader may read", token: readerToken, method: "GET", path: fics + "/fic1" + v, status: 200},
		{name: "Reader may not delete", token: readerToken, method: "DELETE", path: fics + "/fic1" + v, status: 403, code: "AuthorizationFailed"},
		{name: "delete", method: "DELETE", path: fics + "/fic1" + v, status: 200},
		{name: "delete again", method: "DELETE", path: fics + "/fic1" + v, status: 204},
		{name: "unknown child type", method: "GET", path: mi1 + "/colours/red" + v, status: 404, code: "NoRegisteredProviderFound"},
	})
}

func TestFederatedCredentialLimit(t *testing.T) {
	h, _ := fixture(t)
	h.cfg.MaxFICsPerIdentity = 1
	fics := mi1 + "/federatedIdentityCredentials"
	run(t, h, []step{
		{name: "first", method: "PUT", path: fics + "/fic1" + v, body: `{"properties":{"issuer":"https://i.example/","subject":"a"}}`, status: 201},
		{name: "over the limit", method: "PUT", path: fics + "/fic2" + v, body: `{"properties":{"issuer":"https://i.example/","subject":"b"}}`, status: 400, code: "BadRequest"},
	})
}

func TestVaults(t *testing.T) {
	h, _ := fixture(t)
	kv := rg1 + "/providers/Microsoft.KeyVault/vaults/kv-one"
	run(t, h, []step{
		{name: "get missing", method: "GET", path: kv + v, status: 404, code: "ResourceNotFound"},
		{name: "patch missing", method: "PATCH", path: kv + v, body: `{}`, status: 404, code: "ResourceNotFound"},
		{name: "put without location", method: "PUT", path: kv + v, body: `{}`, status: 400, code: "LocationRequired"},
		{name: "bad sku", method: "PUT", path: kv + v, body: `{"location":"eastus","properties":{"sku":{"family":"A","name":"gold"}}}`, status: 400, code: "BadRequest"},
		{name: "retention out of range", method: "PUT", path: kv + v, body: `{"location":"eastus","properties":{"softDeleteRetentionInDays":3}}`, status: 400, code: "BadRequest"},
		{name: "another tenant", method: "PUT", path: kv + v, body: `{"location":"eastus","properties":{"tenantId":"` + guidN(99) + `"}}`, status: 400, code: "BadRequest"},
		{name: "sku of the wrong type", method: "PUT", path: kv + v, body: `{"location":"eastus","properties":{"sku":"standard"}}`, status: 400, code: "InvalidRequestContent"},
		{name: "unknown top-level field", method: "PUT", path: kv + v, body: `{"location":"eastus","colour":1}`, status: 400, code: "InvalidRequestContent"},
		{name: "create as az 2.45 sends it", method: "PUT", path: kv + v, body: `{"location":"eastus","properties":{"tenantId":"` + testTenant + `","sku":{"family":"A","name":"Premium"},"accessPolicies":[],"enableRbacAuthorization":true,"softDeleteRetentionInDays":30,"networkAcls":{"bypass":"AzureServices"}}}`, status: 201, check: func(t *testing.T, r testResponse) {
			wantHeader("Azure-AsyncOperation")(t, r)
			p := into[armapi.Vault](t, r).Properties
			if p.SKU.Name != "premium" || *p.SoftDeleteRetentionInDays != 30 || !*p.EnableRbacAuthorization || p.VaultURI != "https://kv-one.vault.localhost/" || p.AccessPolicies == nil || *p.EnableSoftDelete != true {
				t.Errorf("vault: %s", r.body)
			}
		}},
		{name: "patch keeps settings", method: "PATCH", path: kv + v, body: `{"tags":{"a":"b"}}`, status: 200, check: func(t *testing.T, r testResponse) {
			if vt := into[armapi.Vault](t, r); vt.Properties.SKU.Name != "premium" || vt.Tags["a"] != "b" {
				t.Errorf("vault: %s", r.body)
			}
		}},
		{name: "name taken in another group", method: "PUT", path: rg3 + "/providers/Microsoft.KeyVault/vaults/kv-one" + v, body: `{"location":"eastus"}`, status: 409, code: "VaultAlreadyExists"},
		{name: "get", method: "GET", path: kv + v, status: 200},
		{name: "list group", method: "GET", path: rg1 + "/providers/Microsoft.KeyVault/vaults" + v, status: 200, check: wantNames("kv-one")},
		{name: "list subscription as Reader", token: readerToken, method: "GET", path: sub + "/providers/Microsoft.KeyVault/vaults" + v, status: 200, check: wantNames("kv-one")},
		{name: "generic resources by type", method: "GET", path: rg1 + "/resources" + v + "&$filter=resourceType%20eq%20'Microsoft.KeyVault/vaults'", status: 200, check: wantNames("kv-one")},
		{name: "generic resources by name", token: readerToken, method: "GET", path: sub + "/resources" + v + "&$filter=name%20eq%20'id1'", status: 200, check: wantNames("id1", "id1")},
		{name: "generic resources filter", method: "GET", path: sub + "/resources" + v + "&$filter=location%20eq%20'x'", status: 400, code: "InvalidFilter"},
		{name: "generic resources see only what the caller may read", method: "GET", path: sub + "/resources" + v, status: 200, check: wantNames("kv-one", "id1")},
		{name: "name taken", method: "POST", path: sub + "/providers/Microsoft.KeyVault/checkNameAvailability" + v, body: `{"name":"kv-one","type":"Microsoft.KeyVault/vaults"}`, status: 200, check: func(t *testing.T, r testResponse) {
			if a := into[armapi.NameAvailability](t, r); a.NameAvailable || a.Reason != "AlreadyExists" {
				t.Errorf("availability: %s", r.body)
			}
		}},
		{name: "name invalid", method: "POST", path: sub + "/providers/Microsoft.KeyVault/checkNameAvailability" + v, body: `{"name":"a--b","type":"Microsoft.KeyVault/vaults"}`, status: 200, check: func(t *testing.T, r testResponse) {
			if a := into[armapi.NameAvailability](t, r); a.NameAvailable || a.Reason != "AccountNameInvalid" {
				t.Errorf("availability: %s", r.body)
			}
		}},
		{name: "name free", method: "POST", path: sub + "/providers/Microsoft.KeyVault/checkNameAvailability" + v, body: `{"name":"kv-two","type":"Microsoft.KeyVault/vaults"}`, status: 200, check: func(t *testing.T, r testResponse) {
			if a := into[armapi.NameAvailability](t, r); !a.NameAvailable {
				t.Errorf("availability: %s", r.body)
			}
		}},
		{name: "denied in rg2", method: "PUT", path: rg2 + "/providers/Microsoft.KeyVault/vaults/kv-two" + v, body: `{"location":"eastus"}`, status: 403, code: "AuthorizationFailed"},
		{name: "below a vault", method: "GET", path: kv + "/secrets/s1" + v, status: 404, code: "NoRegisteredProviderFound"},
		{name: "bad vault name", method: "GET", path: rg1 + "/providers/Microsoft.KeyVault/vaults/a--b" + v, status: 400, code: "VaultNameNotValid"},
		{name: "delete", method: "DELETE", path: kv + v, status: 200},
		{name: "delete again", method: "DELETE", path: kv + v, status: 204},
	})
}

func TestClusters(t *testing.T) {
	h, _ := fixture(t)
	c1 := rg1 + "/providers/Microsoft.ContainerService/managedClusters/c1"
	issuer := func(t *testing.T, r testResponse) string {
		t.Helper()
		return into[armapi.ManagedCluster](t, r).Properties.OIDCIssuer().IssuerURL
	}
	run(t, h, []step{
		{name: "get missing", method: "GET", path: c1 + v, status: 404, code: "ResourceNotFound"},
		{name: "in a missing group", method: "PUT", path: ghost + "/providers/Microsoft.ContainerService/managedClusters/c1" + v, body: `{"location":"eastus"}`, status: 404, code: "ResourceGroupNotFound"},
		{name: "put without location", method: "PUT", path: c1 + v, body: `{}`, status: 400, code: "LocationRequired"},
		{name: "workload identity without issuer", method: "PUT", path: c1 + v, body: `{"location":"eastus","properties":{"securityProfile":{"workloadIdentity":{"enabled":true}}}}`, status: 400, code: "BadRequest"},
		{name: "create", method: "PUT", path: c1 + v, body: `{"location":"eastus","properties":{"kubernetesVersion":"1.30.0"}}`, status: 201, check: func(t *testing.T, r testResponse) {
			wantHeader("Azure-AsyncOperation")(t, r)
			c := into[armapi.ManagedCluster](t, r)
			if c.Type != armapi.TypeCluster || c.Properties["kubernetesVersion"] != "1.30.0" || c.Properties.OIDCIssuer().Enabled || issuer(t, r) != "" ||
				c.Identity == nil || c.Identity.Type != "SystemAssigned" || c.Properties["identityProfile"] == nil {
				t.Errorf("cluster: %s", r.body)
			}
		}},
		{name: "keys before the issuer", method: "POST", path: c1 + "/listServiceAccountSigningKeys" + v, status: 400, code: "BadRequest"},
		{name: "enable the issuer as az aks update sends it", method: "PUT", path: c1 + v,
			body:   `{"location":"eastus","sku":{"name":"Base","tier":"Free"},"identity":{"type":"SystemAssigned","userAssignedIdentities":null},"properties":{"oidcIssuerProfile":{"enabled":true},"securityProfile":{},"fqdn":"forged"}}`,
			status: 200, check: func(t *testing.T, r testResponse) {
				c := into[armapi.ManagedCluster](t, r)
				if !strings.HasPrefix(issuer(t, r), "https://localhost/") || c.Properties["fqdn"] != "c1-dns.wif.localhost" {
					t.Errorf("cluster: %s", r.body)
				}
			}},
		{name: "workload identity", method: "PATCH", path: c1 + v, body: `{"properties":{"securityProfile":{"workloadIdentity":{"enabled":true}}}}`, status: 200, check: func(t *testing.T, r testResponse) {
			if !into[armapi.ManagedCluster](t, r).Properties.WorkloadIdentity() {
				t.Errorf("cluster: %s", r.body)
			}
		}},
		{name: "an absent profile is unchanged", method: "PATCH", path: c1 + v, body: `{"properties":{"securityProfile":{}}}`, status: 200, check: func(t *testing.T, r testResponse) {
			if !into[armapi.ManagedCluster](t, r).Properties.WorkloadIdentity() {
				t.Errorf("cluster: %s", r.body)
			}
		}},
		{name: "the issuer cannot be disabled", method: "PUT", path: c1 + v, body: `{"location":"eastus","properties":{"oidcIssuerProfile":{"enabled":false}}}`, status: 400, code: "BadRequest"},
		{name: "export keys", method: "POST", path: c1 + "/listServiceAccountSigningKeys" + v, status: 200, check: func(t *testing.T, r testResponse) {
			k := into[armapi.ServiceAccountKeys](t, r)
			if k.Mode != "managed" || k.SigningKey == "" || len(k.PublicKeys) != 1 || k.PublicKeys[0].KID != k.CurrentKeyID {
				t.Errorf("keys: %s", r.body)
			}
		}},
		{name: "rotate", method: "POST", path: c1 + "/rotateServiceAccountSigningKeys" + v, status: 202, check: wantHeader("Location")},
		{name: "two keys published", method: "POST", path: c1 + "/listServiceAccountSigningKeys" + v, status: 200, check: func(t *testing.T, r testResponse) {
			if k := into[armapi.ServiceAccountKeys](t, r); len(k.PublicKeys) != 2 {
				t.Errorf("keys: %s", r.body)
			}
		}},
		{name: "unusable public keys", method: "POST", path: c1 + "/setServiceAccountPublicKeys" + v, body: `{"pem":"junk"}`, status: 400, code: "BadRequest"},
		{name: "Reader may not export", token: readerToken, method: "POST", path: c1 + "/listServiceAccountSigningKeys" + v, status: 403, code: "AuthorizationFailed"},
		{name: "action by GET", method: "GET", path: c1 + "/rotateServiceAccountSigningKeys" + v, status: 405, code: "MethodNotAllowed"},
		{name: "unknown action", method: "POST", path: c1 + "/explode" + v, status: 404, code: "NoRegisteredProviderFound"},
		{name: "list", method: "GET", path: rg1 + "/providers/Microsoft.ContainerService/managedClusters" + v, status: 200, check: wantNames("c1")},
		{name: "list subscription denied", method: "GET", path: sub + "/providers/Microsoft.ContainerService/managedClusters" + v, status: 403, code: "AuthorizationFailed"},
		{name: "delete", method: "DELETE", path: c1 + v, status: 200},
		{name: "delete again", method: "DELETE", path: c1 + v, status: 204},
	})
}

func TestRoleAssignmentsAndDefinitions(t *testing.T) {
	h, db := fixture(t)
	ra := func(id string) string { return rg1 + "/providers/Microsoft.Authorization/roleAssignments/" + id + v }
	body := func(role, principal string) string {
		return `{"properties":{"roleDefinitionId":"` + role + `","principalId":"` + principal + `","principalType":"ServicePrincipal"}}`
	}
	a := "11111111-2222-3333-4444-555555555555"
	run(t, h, []step{
		{name: "Contributor may not assign roles", method: "PUT", path: ra(a), body: body(roleReader, testOther), status: 403, code: "AuthorizationFailed"},
		{name: "role definitions by name", token: readerToken, method: "GET", path: sub + "/providers/Microsoft.Authorization/roleDefinitions" + v + "&$filter=roleName%20eq%20'Reader'", status: 200, check: func(t *testing.T, r testResponse) {
			p := into[armapi.Page[armapi.RoleDefinition]](t, r)
			if len(p.Value) != 1 || p.Value[0].Name != "acdd72a7-3385-48ef-bd42-f606fba81ae7" || p.Value[0].Properties.Type != "BuiltInRole" || len(p.Value[0].Properties.Permissions) == 0 {
				t.Errorf("definitions: %s", r.body)
			}
		}},
		{name: "role definitions need a role at the scope", method: "GET", path: sub + "/providers/Microsoft.Authorization/roleDefinitions" + v, status: 403, code: "AuthorizationFailed"},
		{name: "role definition at the root", method: "GET", path: "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7" + v, status: 200},
		{name: "unknown role definition", method: "GET", path: "/providers/Microsoft.Authorization/roleDefinitions/" + guidN(77) + v, status: 404, code: "RoleDefinitionDoesNotExist"},
		{name: "bad role filter", token: readerToken, method: "GET", path: sub + "/providers/Microsoft.Authorization/roleDefinitions" + v + "&$filter=x", status: 400, code: "InvalidFilter"},
	})
	grantOwner(t, db)
	run(t, h, []step{
		{name: "not a GUID", method: "PUT", path: ra("abc"), body: body(roleReader, testOther), status: 400, code: "InvalidRoleAssignmentId"},
		{name: "no role", method: "PUT", path: ra(a), body: `{"properties":{"principalId":"` + testOther + `"}}`, status: 400, code: "InvalidRequestContent"},
		{name: "unknown role", method: "PUT", path: ra(a), body: body(roleReader[:len(roleReader)-4]+"0000", testOther), status: 400, code: "RoleDefinitionDoesNotExist"},
		{name: "unknown principal", method: "PUT", path: ra(a), body: body(roleReader, guidN(88)), status: 400, code: "PrincipalNotFound"},
		{name: "principal not a GUID", method: "PUT", path: ra(a), body: body(roleReader, "bob"), status: 400, code: "InvalidPrincipalId"},
		{name: "a condition", method: "PUT", path: ra(a), body: `{"properties":{"roleDefinitionId":"` + roleReader + `","principalId":"` + testOther + `","condition":"x"}}`, status: 400, code: "InvalidRoleAssignmentCondition"},
		{name: "a user", method: "PUT", path: ra(a), body: `{"properties":{"roleDefinitionId":"` + roleReader + `","principalId":"` + testOther + `","principalType":"User"}}`, status: 400, code: "PrincipalTypeNotSupported"},
		{name: "create", method: "PUT", path: ra(a), body: body(roleReader, testOther), status: 201, check: func(t *testing.T, r testResponse) {
			got := into[armapi.RoleAssignment](t, r)
			if got.Properties.Scope != rg1 || got.Properties.PrincipalID != testOther || got.Type != armapi.TypeRoleAssignment || !strings.HasSuffix(got.Properties.RoleDefinitionID, "acdd72a7-3385-48ef-bd42-f606fba81ae7") {
				t.Errorf("assignment: %s", r.body)
			}
			// ARM sends the unset nullable fields as null.
			if !strings.Contains(string(r.body), `"condition":null`) {
				t.Errorf("assignment: %s", r.body)
			}
		}},
		{name: "put again", method: "PUT", path: ra(a), body: body(roleReader, testOther), status: 200},
		{name: "another role under the same id", method: "PUT", path: ra(a), body: body(roleContrib, testOther), status: 409, code: "RoleAssignmentUpdateNotPermitted"},
		{name: "the same assignment under another id", method: "PUT", path: ra(guidN(60)), body: body(roleReader, testOther), status: 409, code: "RoleAssignmentExists"},
		{name: "get", method: "GET", path: ra(a), status: 200},
		{name: "get at another scope", method: "GET", path: rg3 + "/providers/Microsoft.Authorization/roleAssignments/" + a + v, status: 404, code: "RoleAssignmentNotFound"},
		{name: "on a missing resource", method: "GET", path: rg1 + "/providers/Microsoft.KeyVault/vaults/kv-none/providers/Microsoft.Authorization/roleAssignments" + v, status: 404, code: "ResourceNotFound"},
		{name: "on a missing group", method: "GET", path: ghost + "/providers/Microsoft.Authorization/roleAssignments" + v, status: 404, code: "ResourceGroupNotFound"},
		{name: "on an identity", method: "GET", path: mi1 + "/providers/Microsoft.Authorization/roleAssignments" + v, status: 200},
		{name: "on an unknown resource type", method: "GET", path: rg1 + "/providers/Microsoft.Storage/storageAccounts/sa1/providers/Microsoft.Authorization/roleAssignments" + v, status: 400, code: "InvalidScope"},
		{name: "delete", method: "DELETE", path: ra(a), status: 200},
		{name: "delete again", method: "DELETE", path: ra(a), status: 204},
	})
}
