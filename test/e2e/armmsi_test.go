package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// amAPIVersions records the api-version of every request a client sends.
type amAPIVersions struct {
	mu   sync.Mutex
	seen map[string]int
}

func (p *amAPIVersions) Do(req *policy.Request) (*http.Response, error) {
	v := req.Raw().URL.Query().Get("api-version")
	p.mu.Lock()
	if p.seen == nil {
		p.seen = map[string]int{}
	}
	p.seen[v]++
	p.mu.Unlock()
	return req.Next()
}

func (p *amAPIVersions) versions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for v := range p.seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// amResponseError asserts err is an *azcore.ResponseError with status and
// code, and returns it.
func amResponseError(t *testing.T, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *azcore.ResponseError %d %s", err, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Errorf("response error = %d %s, want %d %s\n%v", re.StatusCode, re.ErrorCode, status, code, err)
	}
	return re
}

// TestArmMSI drives identities and federated credentials with the real
// armmsi client over azidentity's client-secret credential.
func TestArmMSI(t *testing.T) {
	w := startWif(t)
	ctx := context.Background()
	b := w.Boot
	w.cli(t, "group", "create", "-n", "msiRG", "-l", "eastus")

	cred, err := azidentity.NewClientSecretCredential(b.TenantID, b.ClientID, b.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: amCloud(w), Transport: w.HTTP},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	versions := &amAPIVersions{}
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: amCloud(w), Transport: w.HTTP,
		PerCallPolicies: []policy.Policy{versions},
		Retry:           policy.RetryOptions{MaxRetries: -1},
	}}
	factory, err := armmsi.NewClientFactory(b.SubscriptionID, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	ids := factory.NewUserAssignedIdentitiesClient()
	fics := factory.NewFederatedIdentityCredentialsClient()
	const rg, name = "msiRG", "sdk-identity"
	issuer := "https://issuer.example.com/cluster-1"

	// Create and check the properties.
	created, err := ids.CreateOrUpdate(ctx, rg, name, armmsi.Identity{Location: to.Ptr("eastus"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatalf("CreateOrUpdate identity: %v", err)
	}
	p := created.Properties
	if p == nil || p.ClientID == nil || p.PrincipalID == nil || p.TenantID == nil {
		t.Fatalf("identity properties missing: %+v", created.Identity)
	}
	for field, v := range map[string]string{"clientId": *p.ClientID, "principalId": *p.PrincipalID, "tenantId": *p.TenantID} {
		if uuid.Validate(v) != nil {
			t.Errorf("%s = %q is not a GUID", field, v)
		}
	}
	if *p.TenantID != b.TenantID {
		t.Errorf("tenantId = %s, want %s", *p.TenantID, b.TenantID)
	}
	if *p.ClientID == *p.PrincipalID {
		t.Errorf("clientId and principalId are equal (%s)", *p.ClientID)
	}
	wantID := "/subscriptions/" + b.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	if created.ID == nil || !strings.EqualFold(*created.ID, wantID) {
		t.Errorf("id = %s, want %s", amJSON(created.ID), wantID)
	}
	if rid, err := arm.ParseResourceID(*created.ID); err != nil || rid.Name != name || rid.ResourceGroupName != rg || rid.SubscriptionID != b.SubscriptionID {
		t.Errorf("ParseResourceID(%s) = %+v, %v", *created.ID, rid, err)
	}
	if got := fmt.Sprint(*created.Name, " ", *created.Type, " ", *created.Location, " ", *created.Tags["env"]); got != name+" Microsoft.ManagedIdentity/userAssignedIdentities eastus test" {
		t.Errorf("name type location tag = %q", got)
	}

	// PUT again is idempotent: same IDs.
	again, err := ids.CreateOrUpdate(ctx, rg, name, armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	if err != nil {
		t.Fatalf("second CreateOrUpdate: %v", err)
	}
	if *again.Properties.ClientID != *p.ClientID || *again.Properties.PrincipalID != *p.PrincipalID {
		t.Errorf("re-PUT changed IDs: %s/%s, was %s/%s", *again.Properties.ClientID, *again.Properties.PrincipalID, *p.ClientID, *p.PrincipalID)
	}

	got, err := ids.Get(ctx, rg, name, nil)
	if err != nil {
		t.Fatalf("Get identity: %v", err)
	}
	if *got.Properties.ClientID != *p.ClientID || *got.Properties.PrincipalID != *p.PrincipalID || !strings.EqualFold(*got.ID, wantID) {
		t.Errorf("Get = %+v", got.Identity)
	}

	if _, err := ids.CreateOrUpdate(ctx, rg, "second-identity", armmsi.Identity{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for pager := ids.NewListByResourceGroupPager(rg, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListByResourceGroup: %v", err)
		}
		for _, v := range page.Value {
			listed = append(listed, *v.Name)
		}
	}
	sort.Strings(listed)
	if diff := cmp.Diff([]string{"sdk-identity", "second-identity"}, listed); diff != "" {
		t.Errorf("ListByResourceGroup (-want +got):\n%s", diff)
	}

	upd, err := ids.Update(ctx, rg, name, armmsi.IdentityUpdate{Tags: map[string]*string{"env": to.Ptr("prod"), "team": to.Ptr("blue")}}, nil)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if len(upd.Tags) != 2 || *upd.Tags["env"] != "prod" || *upd.Tags["team"] != "blue" || *upd.Properties.ClientID != *p.ClientID || *upd.Location != "eastus" {
		t.Errorf("Update = tags %v, %+v", upd.Tags, upd.Identity)
	}
	if g, _ := ids.Get(ctx, rg, name, nil); g.Tags["team"] == nil || *g.Tags["team"] != "blue" {
		t.Errorf("Update did not persist: tags %v", g.Tags)
	}

	// Federated identity credentials.
	fic := func(subject string, audiences ...string) armmsi.FederatedIdentityCredential {
		props := &armmsi.FederatedIdentityCredentialProperties{Issuer: to.Ptr(issuer), Subject: to.Ptr(subject), Audiences: []*string{}}
		for _, a := range audiences {
			props.Audiences = append(props.Audiences, to.Ptr(a))
		}
		return armmsi.FederatedIdentityCredential{Properties: props}
	}
	for _, c := range []struct{ name, subject string }{{"fic-one", "system:serviceaccount:default:one"}, {"fic-two", "system:serviceaccount:default:two"}} {
		r, err := fics.CreateOrUpdate(ctx, rg, name, c.name, fic(c.subject, "api://AzureADTokenExchange"), nil)
		if err != nil {
			t.Fatalf("CreateOrUpdate FIC %s: %v", c.name, err)
		}
		if *r.Name != c.name || *r.Properties.Subject != c.subject || *r.Properties.Issuer != issuer ||
			len(r.Properties.Audiences) != 1 || *r.Properties.Audiences[0] != "api://AzureADTokenExchange" ||
			*r.Type != "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials" ||
			!strings.EqualFold(*r.ID, wantID+"/federatedIdentityCredentials/"+c.name) {
			t.Errorf("FIC %s = %s", c.name, amJSON(r.FederatedIdentityCredential))
		}
	}
	g, err := fics.Get(ctx, rg, name, "fic-two", nil)
	if err != nil {
		t.Fatalf("Get FIC: %v", err)
	}
	if *g.Properties.Subject != "system:serviceaccount:default:two" {
		t.Errorf("Get FIC = %s", amJSON(g.FederatedIdentityCredential))
	}
	listFICs := func() []string {
		t.Helper()
		var names []string
		for pager := fics.NewListPager(rg, name, nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("List FICs: %v", err)
			}
			for _, v := range page.Value {
				names = append(names, *v.Name)
			}
		}
		sort.Strings(names)
		return names
	}
	if diff := cmp.Diff([]string{"fic-one", "fic-two"}, listFICs()); diff != "" {
		t.Errorf("List FICs (-want +got):\n%s", diff)
	}
	if _, err := fics.Delete(ctx, rg, name, "fic-one", nil); err != nil {
		t.Fatalf("Delete FIC: %v", err)
	}
	if diff := cmp.Diff([]string{"fic-two"}, listFICs()); diff != "" {
		t.Errorf("List FICs after delete (-want +got):\n%s", diff)
	}
	_, err = fics.Get(ctx, rg, name, "fic-one", nil)
	amResponseError(t, err, http.StatusNotFound, "ResourceNotFound")

	t.Run("validation errors", func(t *testing.T) {
		cases := []struct {
			name, rg, identity, fic string
			body                    armmsi.FederatedIdentityCredential
			status                  int
			code, contain           string
		}{
			{name: "invalid name", fic: "a", body: fic("s:invalid-name", "api://AzureADTokenExchange"), status: 400, code: "BadRequest", contain: "'a'"},
			{name: "invalid name characters", fic: "bad.name", body: fic("s:invalid-name", "api://AzureADTokenExchange"), status: 400, code: "BadRequest", contain: "'bad.name'"},
			{name: "zero audiences", fic: "zero-aud", body: fic("s:zero"), status: 400, code: "BadRequest", contain: "exactly one audience"},
			{name: "two audiences", fic: "two-aud", body: fic("s:two", "api://a", "api://b"), status: 400, code: "BadRequest", contain: "exactly one audience"},
			{name: "duplicate issuer and subject", fic: "dup", body: fic("system:serviceaccount:default:two", "api://AzureADTokenExchange"), status: 400, code: "BadRequest", contain: "Issuer and subject combination already exists"},
			{name: "http issuer", fic: "http-issuer", body: armmsi.FederatedIdentityCredential{Properties: &armmsi.FederatedIdentityCredentialProperties{
				Issuer: to.Ptr("http://insecure.example.com"), Subject: to.Ptr("s"), Audiences: []*string{to.Ptr("api://AzureADTokenExchange")}}}, status: 400, code: "BadRequest"},
			{name: "missing parent identity", identity: "no-such-identity", fic: "orphan", body: fic("s:orphan", "api://AzureADTokenExchange"), status: 404, code: "ParentResourceNotFound"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				rgName, idName := rg, name
				if c.identity != "" {
					idName = c.identity
				}
				_, err := fics.CreateOrUpdate(ctx, rgName, idName, c.fic, c.body, nil)
				re := amResponseError(t, err, c.status, c.code)
				if c.contain != "" && !strings.Contains(re.Error(), c.contain) {
					t.Errorf("error does not mention %q:\n%v", c.contain, err)
				}
			})
		}
		// Nothing the failures touched was written.
		if diff := cmp.Diff([]string{"fic-two"}, listFICs()); diff != "" {
			t.Errorf("List FICs after failures (-want +got):\n%s", diff)
		}
	})

	t.Run("missing resource group", func(t *testing.T) {
		_, err := ids.CreateOrUpdate(ctx, "no-such-rg", "orphan-identity", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
		amResponseError(t, err, http.StatusNotFound, "ResourceGroupNotFound")
		_, err = ids.Get(ctx, "no-such-rg", "orphan-identity", nil)
		amResponseError(t, err, http.StatusNotFound, "ResourceGroupNotFound")
		_, err = ids.Get(ctx, rg, "no-such-identity", nil)
		amResponseError(t, err, http.StatusNotFound, "ResourceNotFound")
		_, err = ids.CreateOrUpdate(ctx, rg, "x", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
		amResponseError(t, err, http.StatusBadRequest, "InvalidResourceName")
	})

	t.Run("twenty credentials, not twenty-one", func(t *testing.T) {
		const full = "full-identity"
		if _, err := ids.CreateOrUpdate(ctx, rg, full, armmsi.Identity{Location: to.Ptr("eastus")}, nil); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 20; i++ {
			if _, err := fics.CreateOrUpdate(ctx, rg, full, fmt.Sprintf("fic-%02d", i), fic(fmt.Sprintf("s:%d", i), "api://AzureADTokenExchange"), nil); err != nil {
				t.Fatalf("FIC %d: %v", i, err)
			}
		}
		_, err := fics.CreateOrUpdate(ctx, rg, full, "fic-21", fic("s:21", "api://AzureADTokenExchange"), nil)
		re := amResponseError(t, err, http.StatusBadRequest, "BadRequest")
		if !strings.Contains(re.Error(), "20") {
			t.Errorf("limit error does not name the maximum: %v", err)
		}
		// Updating one of the twenty is still allowed at the limit.
		if _, err := fics.CreateOrUpdate(ctx, rg, full, "fic-20", fic("s:20-updated", "api://AzureADTokenExchange"), nil); err != nil {
			t.Errorf("update at the limit: %v", err)
		}
		n := 0
		for pager := fics.NewListPager(rg, full, nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		if n != 20 {
			t.Errorf("%d credentials listed, want 20", n)
		}
	})

	t.Run("claimsMatchingExpression through raw PUT", func(t *testing.T) {
		token := amARMToken(t, w)
		path := "/subscriptions/" + b.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "/federatedIdentityCredentials/"
		body := func(expr string) []byte {
			return []byte(fmt.Sprintf(`{"properties":{"issuer":%q,"audiences":["api://AzureADTokenExchange"],"claimsMatchingExpression":{"value":%q,"languageVersion":1}}}`, issuer, expr))
		}
		r := amDo(t, w, http.MethodPut, path+"bad-expr?api-version=2024-11-30", body("claims['sub'] like 'x'"), amBearer(token))
		code, msg, ok := r.armError()
		if r.Status != http.StatusBadRequest || !ok || code != "BadRequest" || !strings.Contains(msg, "offset") {
			t.Errorf("bad expression: %d %s", r.Status, r.Body)
		}
		r = amDo(t, w, http.MethodPut, path+"good-expr?api-version=2024-11-30", body("claims['sub'] matches 'system:serviceaccount:team-*:app'"), amBearer(token))
		if r.Status != http.StatusCreated {
			t.Fatalf("good expression: %d %s", r.Status, r.Body)
		}
		// The SDK reads a credential with an expression (and no subject).
		g, err := fics.Get(ctx, rg, name, "good-expr", nil)
		if err != nil || g.Properties.Subject != nil || *g.Properties.Issuer != issuer {
			t.Errorf("Get expression credential = %s, %v", amJSON(g.FederatedIdentityCredential), err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := ids.Delete(ctx, rg, "second-identity", nil); err != nil {
			t.Fatalf("Delete identity: %v", err)
		}
		_, err := ids.Get(ctx, rg, "second-identity", nil)
		amResponseError(t, err, http.StatusNotFound, "ResourceNotFound")
		// Deleting again is not an error.
		if _, err := ids.Delete(ctx, rg, "second-identity", nil); err != nil {
			t.Errorf("second Delete identity: %v", err)
		}
	})

	if diff := cmp.Diff([]string{"2024-11-30"}, versions.versions()); diff != "" {
		t.Errorf("api-versions sent by armmsi (-want +got):\n%s", diff)
	}
	t.Logf("armmsi api-versions accepted: %v", versions.versions())
}

func amJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
