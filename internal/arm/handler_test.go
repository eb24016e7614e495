package arm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/store/storetest"
	"github.com/wifproject/wif/internal/token"
)

const (
	testTenant    = "7f0c6e5e-1111-4a4a-8a8a-00000000000a"
	testCaller    = "0b1f6471-1bf0-4dda-aec3-00000000c411"
	testOther     = "0b1f6471-1bf0-4dda-aec3-00000000beef"
	roleContrib   = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleReader    = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	testAudience  = "https://management.localhost/"
	testTokenText = "test-token"
)

// Tokens the fake verifier knows besides testTokenText (testCaller's).
const (
	readerToken      = "reader-token"      // testOther, a Reader on the subscription
	expiredToken     = "expired-token"     // token.ErrExpired
	audienceToken    = "audience-token"    // token.ErrAudience
	unavailableToken = "unavailable-token" // token.ErrUnavailable
)

// fakeVerifier accepts testTokenText as the token of testCaller and
// readerToken as testOther's; the other tokens above fail as named.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, raw string, _ ...string) (*token.Claims, error) {
	switch raw {
	case testTokenText:
		return &token.Claims{OID: testCaller, TenantID: testTenant, AppID: testCaller}, nil
	case readerToken:
		return &token.Claims{OID: testOther, TenantID: testTenant, AppID: testOther}, nil
	case expiredToken:
		return nil, token.ErrExpired
	case audienceToken:
		return nil, token.ErrAudience
	case unavailableToken:
		return nil, token.ErrUnavailable
	}
	return nil, token.ErrSignature
}

// testHandler is a Handler on a fresh store with rg1 and rg2, an identity
// in each, and the caller a Contributor on rg1 only.
func testHandler(t *testing.T) (*Handler, *store.DB) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(db.CreateTenant(ctx, store.Tenant{ID: testTenant}))
	check(db.CreateSubscription(ctx, store.Subscription{ID: testSub, TenantID: testTenant, DisplayName: "s", State: "Enabled"}))
	check(db.CreatePrincipal(ctx, store.Principal{ObjectID: testCaller, ClientID: testCaller, TenantID: testTenant, Kind: store.KindServicePrincipal, DisplayName: "caller"}))
	check(db.CreatePrincipal(ctx, store.Principal{ObjectID: testOther, ClientID: testOther, TenantID: testTenant, Kind: store.KindServicePrincipal, DisplayName: "other"}))
	for i, rg := range []string{"rg1", "rg2"} {
		_, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: testSub, Name: rg, Location: "eastus"})
		check(err)
		_, _, err = db.PutIdentity(ctx, store.Principal{ObjectID: guidN(10 + i), ClientID: guidN(20 + i), TenantID: testTenant, Kind: store.KindManagedIdentity,
			DisplayName: "id1", SubscriptionID: testSub, ResourceGroup: rg, Name: "id1", Location: "eastus"})
		check(err)
	}
	for _, a := range []store.RoleAssignment{
		{ID: guidN(1), Scope: "/subscriptions/" + testSub + "/resourceGroups/rg1", RoleDefinitionID: roleContrib, PrincipalID: testCaller},
		{ID: guidN(2), Scope: "/subscriptions/" + testSub, RoleDefinitionID: roleReader, PrincipalID: testOther},
		{ID: guidN(3), Scope: "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", RoleDefinitionID: roleReader, PrincipalID: testOther},
		{ID: guidN(4), Scope: "/subscriptions/" + testSub + "/resourceGroups/rg2", RoleDefinitionID: roleReader, PrincipalID: testOther},
		{ID: guidN(5), Scope: "/subscriptions/" + testSub + "/resourceGroups/rg10", RoleDefinitionID: roleReader, PrincipalID: testOther},
	} {
		a.PrincipalType, a.CreatedAt = "ServicePrincipal", now()
		_, _, err := db.PutRoleAssignment(ctx, a)
		check(err)
	}
	h := NewHandler(Config{PublicURL: "https://localhost", Audiences: []string{testAudience}, MaxFICsPerIdentity: 20,
		VaultURL: func(n string) string { return "https://" + n + ".vault.localhost/" }}, db, fakeVerifier{}, now)
	return h, db
}

func guidN(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }

type testResponse struct {
	status int
	code   string
	body   []byte
	header http.Header
}

func serve(h http.Handler, method, path, body string) testResponse {
	return serveAs(h, "Bearer "+testTokenText, method, path, body)
}

// serveAs sends a request with the Authorization header authz (none when
// empty).
func serveAs(h http.Handler, authz, method, path, body string) testResponse {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "https://localhost"+path, rd)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &e)
	return testResponse{status: w.Code, code: e.Error.Code, body: w.Body.Bytes(), header: w.Header()}
}

// traversals are paths a Contributor on rg1 could try to reach rg2 with.
func traversals() []string {
	sub := "/subscriptions/" + testSub
	mi := "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	var out []string
	for _, rg := range []string{"rg1%2F..%2Frg2", "rg1%2f..%2frg2", "rg1%5C..%5Crg2", "rg1%2F%2E%2E%2Frg2", "rg1%252F..%252Frg2", "rg1%00", "rg1%0A"} {
		for _, tail := range []string{"", mi, mi + "/federatedIdentityCredentials/fic1", "/providers/Microsoft.Authorization/roleAssignments",
			"/providers/Microsoft.KeyVault/vaults/kv1", "/providers/Microsoft.ContainerService/managedClusters/c1", "/resources"} {
			out = append(out, sub+"/resourceGroups/"+rg+tail+"?api-version=2024-11-30")
		}
	}
	return out
}

// TestTraversalIsRefusedBeforeRBAC: a Contributor on rg1 gets 400
// InvalidResourceGroup for rg1%2F..%2Frg2 paths, whatever the method, and
// rg2 is untouched; the plain rg2 path is denied by RBAC.
func TestTraversalIsRefusedBeforeRBAC(t *testing.T) {
	h, db := testHandler(t)
	for _, path := range traversals() {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			r := serve(h, m, path, `{"location":"eastus","tags":{"pwned":"1"}}`)
			if r.status != http.StatusBadRequest || r.code != "InvalidResourceGroup" {
				t.Errorf("%s %s: %d %s, want 400 InvalidResourceGroup", m, path, r.status, r.body)
			}
		}
	}
	p, err := db.GetIdentity(context.Background(), testSub, "rg2", "id1")
	if err != nil || len(p.Tags) != 0 {
		t.Errorf("rg2's identity: %+v, %v", p, err)
	}
	if _, err := db.GetResourceGroup(context.Background(), testSub, "rg2"); err != nil {
		t.Errorf("rg2: %v", err)
	}
	mi := "/subscriptions/" + testSub + "/resourceGroups/%s/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1?api-version=2024-11-30"
	if r := serve(h, http.MethodDelete, strings.Replace(mi, "%s", "rg2", 1), ""); r.status != http.StatusForbidden || r.code != "AuthorizationFailed" {
		t.Errorf("DELETE in rg2: %d %s, want 403 AuthorizationFailed", r.status, r.body)
	}
	if r := serve(h, http.MethodGet, strings.Replace(mi, "%s", "rg1", 1), ""); r.status != http.StatusOK {
		t.Errorf("GET in rg1: %d %s, want 200", r.status, r.body)
	}
}

// TestBadPathsNeverReachTheStore: with the store closed, any use of it
// would answer 500; refused paths still get their 400.
func TestBadPathsNeverReachTheStore(t *testing.T) {
	h, db := testHandler(t)
	db.Close()
	good := "/subscriptions/" + testSub + "/resourceGroups/rg1?api-version=2021-04-01"
	if r := serve(h, http.MethodGet, good, ""); r.status != http.StatusInternalServerError {
		t.Fatalf("a good path on a closed store: %d %s, want 500 (the check below would prove nothing)", r.status, r.body)
	}
	paths := traversals()
	sub := "/subscriptions/" + testSub
	paths = append(paths,
		sub+"/resourceGroups/"+strings.Repeat("a", 91)+"?api-version=2021-04-01",
		sub+"/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a%2Fb?api-version=2024-11-30",
		sub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv%00?api-version=2023-07-01",
		sub+"/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1/federatedIdentityCredentials/"+strings.Repeat("f", 121)+"?api-version=2024-11-30",
		sub+"/resourceGroups/rg1/..?api-version=2021-04-01",
		"/subscriptions/a%2Fb/resourceGroups/rg1?api-version=2021-04-01",
		sub+"/resourceGroups/rg1",                           // no api-version
		sub+"/resourceGroups/rg1?api-version=latest",        // bad api-version
		sub+"/resourceGroups/rg1?api-version=2021-04-01%0A", // bad api-version
	)
	for _, path := range paths {
		if r := serve(h, http.MethodGet, path, ""); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, r.status, r.body)
		}
	}
}

// TestListRoleAssignments: ARM lists the assignments at, above and below
// the scope, or at and above with atScope(), optionally for one principal,
// and the store does the selecting.
func TestListRoleAssignments(t *testing.T) {
	h, _ := testHandler(t)
	sub := "/subscriptions/" + testSub
	list := func(scope, filter string) []string {
		t.Helper()
		path := scope + "/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
		if filter != "" {
			path += "&$filter=" + strings.ReplaceAll(filter, " ", "%20")
		}
		r := serve(h, http.MethodGet, path, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var page struct {
			Value []struct {
				Name string `json:"name"`
			} `json:"value"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, v := range page.Value {
			out = append(out, v.Name)
		}
		sort.Strings(out)
		return out
	}
	rg1 := sub + "/resourceGroups/rg1"
	for _, tc := range []struct {
		scope, filter string
		want          []string
	}{
		{rg1, "", []string{guidN(1), guidN(2), guidN(3)}},
		{rg1, "atScope()", []string{guidN(1), guidN(2)}},
		{rg1, "principalId eq '" + testOther + "'", []string{guidN(2), guidN(3)}},
		{rg1, "atScope() and assignedTo('" + strings.ToUpper(testOther) + "')", []string{guidN(2)}},
		{rg1 + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", "", []string{guidN(1), guidN(2), guidN(3)}},
	} {
		if diff := cmp.Diff(tc.want, list(tc.scope, tc.filter)); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", tc.scope, tc.filter, diff)
		}
	}
	// The caller reads assignments only where it has a role.
	if r := serve(h, http.MethodGet, sub+"/resourceGroups/rg2/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", ""); r.status != http.StatusForbidden {
		t.Errorf("list at rg2: %d %s, want 403", r.status, r.body)
	}
	if r := serve(h, http.MethodGet, rg1+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=bogus", ""); r.code != "InvalidFilter" {
		t.Errorf("bad filter: %d %s", r.status, r.body)
	}
}

// TestNullBodyIsInvalidContent: a JSON null decodes as an empty object in
// Go; a PUT or PATCH whose content is null must be refused as ARM does,
// and must leave the resource as it was.
func TestNullBodyIsInvalidContent(t *testing.T) {
	h, db := testHandler(t)
	rg := "/subscriptions/" + testSub + "/resourceGroups/rg1"
	mi := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	for _, c := range []struct{ method, path string }{
		{http.MethodPut, rg + "?api-version=2021-04-01"},
		{http.MethodPatch, rg + "?api-version=2021-04-01"},
		{http.MethodPut, mi + "?api-version=2023-01-31"},
		{http.MethodPatch, mi + "?api-version=2023-01-31"},
		{http.MethodPut, mi + "/federatedIdentityCredentials/fic1?api-version=2023-01-31"},
	} {
		for _, body := range []string{"null", " null\n", "\tnull "} {
			res := serve(h, c.method, c.path, body)
			if res.status != http.StatusBadRequest || res.code != "InvalidRequestContent" {
				t.Errorf("%s %s body %q: %d %s, want 400 InvalidRequestContent: %s", c.method, c.path, body, res.status, res.code, res.body)
			}
		}
	}
	g, err := db.GetResourceGroup(context.Background(), testSub, "rg1")
	if err != nil || g.Location != "eastus" {
		t.Fatalf("rg1 after null bodies: %+v, %v", g, err)
	}
	if res := serve(h, http.MethodPatch, rg+"?api-version=2021-04-01", "{}"); res.status != http.StatusOK {
		t.Errorf("PATCH {} (no change): %d %s, want 200", res.status, res.body)
	}
}
