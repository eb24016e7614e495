package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runConformance checks the behaviour every backend must share. open
// returns a fresh, empty store that the test may Close; it must be
// reopenable with Open(ctx, db.dsn, WithSealer(db.sealer)) unless that is
// ":memory:".
func runConformance(t *testing.T, open func(t *testing.T) *DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *DB)
	}{
		{"Tenants", testTenants},
		{"Subscriptions", testSubscriptions},
		{"ResourceGroups", testResourceGroups},
		{"Principals", testPrincipals},
		{"Identities", testIdentities},
		{"DeleteIdentityCascades", testDeleteIdentityCascades},
		{"DeleteResourceGroupCascades", testDeleteResourceGroupCascades},
		{"ClientSecrets", testClientSecrets},
		{"FederatedCredentials", testFederatedCredentials},
		{"FederatedCredentialLimit", testFederatedCredentialLimit},
		{"FederatedCredentialConcurrent", testFederatedCredentialConcurrent},
		{"Issuers", testIssuers},
		{"SigningKeys", testSigningKeys},
		{"RoleAssignments", testRoleAssignments},
		{"Generation", testGeneration},
		{"Settings", testSettings},
		{"Times", testTimes},
		{"Leases", testLeases},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("Persistence", func(t *testing.T) { testPersistence(t, open(t)) })
}

// Fixed values shared by the fixtures.
const (
	tenantA = "7f0c6e5e-1111-4a4a-8a8a-00000000000a"
	tenantB = "7f0c6e5e-1111-4a4a-8a8a-00000000000b"
	subA    = "5b3c2d1e-2222-4b4b-9b9b-00000000000a"
	subB    = "5b3c2d1e-2222-4b4b-9b9b-00000000000b"
	issuer1 = "https://issuer.example/one"
	issuer2 = "https://issuer.example/two"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// seed creates tenant A with subscription A and resource group "MyRG".
func seed(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantA, CreatedAt: t0}))
	must(t, db.CreateSubscription(ctx, Subscription{ID: subA, TenantID: tenantA, DisplayName: "A", State: "Enabled", CreatedAt: t0}))
	if _, _, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: "MyRG", Location: "westeurope", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

func guid(prefix string, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", len(prefix)*1000+i, i)
}

func putIdentity(t *testing.T, db *DB, rg, name string, i int) Principal {
	t.Helper()
	p, created, err := db.PutIdentity(context.Background(), Principal{
		ObjectID: guid("obj", i), ClientID: guid("client", i),
		SubscriptionID: subA, ResourceGroup: rg, Name: name, Location: "westeurope", CreatedAt: t0,
	})
	must(t, err)
	if !created {
		t.Fatalf("identity %s/%s not created", rg, name)
	}
	return p
}

func putFIC(db *DB, principalID, name, iss, sub string, max int) (FederatedCredential, bool, error) {
	return db.PutFederatedCredential(context.Background(), FederatedCredential{
		PrincipalID: principalID, Name: name, Issuer: iss, Subject: sub,
		Audience: "api://AzureADTokenExchange", CreatedAt: t0,
	}, max)
}

func testTenants(t *testing.T, db *DB) {
	ctx := context.Background()
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantB, CreatedAt: t0}))
	must(t, db.CreateTenant(ctx, Tenant{ID: strings.ToUpper(tenantA), CreatedAt: t0}))
	wantErr(t, db.CreateTenant(ctx, Tenant{ID: tenantA}), ErrConflict)

	got, err := db.GetTenant(ctx, tenantA)
	must(t, err)
	if diff := cmp.Diff(Tenant{ID: strings.ToUpper(tenantA), CreatedAt: t0}, got); diff != "" {
		t.Errorf("GetTenant (-want +got):\n%s", diff)
	}
	_, err = db.GetTenant(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	list, err := db.ListTenants(ctx)
	must(t, err)
	want := []Tenant{{ID: strings.ToUpper(tenantA), CreatedAt: t0}, {ID: tenantB, CreatedAt: t0}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ListTenants (-want +got):\n%s", diff)
	}
}

func testSubscriptions(t *testing.T, db *DB) {
	ctx := context.Background()
	wantErr(t, db.CreateSubscription(ctx, Subscription{ID: subA, TenantID: tenantA}), ErrParentNotFound)
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantA}))
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantB}))
	a := Subscription{ID: subA, TenantID: strings.ToUpper(tenantA), DisplayName: "A", State: "Enabled", CreatedAt: t0}
	must(t, db.CreateSubscription(ctx, a))
	wantErr(t, db.CreateSubscription(ctx, Subscription{ID: strings.ToUpper(subA), TenantID: tenantB}), ErrConflict)
	b := Subscription{ID: subB, TenantID: tenantB, DisplayName: "B", State: "Enabled", CreatedAt: t0}
	must(t, db.CreateSubscription(ctx, b))

	a.TenantID = tenantA // the tenant's stored casing
	got, err := db.GetSubscription(ctx, strings.ToUpper(subA))
	must(t, err)
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("GetSubscription (-want +got):\n%s", diff)
	}
	_, err = db.GetSubscription(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	for _, tc := range []struct {
		tenant string
		want   []Subscription
	}{
		{"", []Subscription{a, b}},
		{strings.ToUpper(tenantA), []Subscription{a}},
		{tenantB, []Subscription{b}},
		{"other", []Subscription{}},
	} {
		got, err := db.ListSubscriptions(ctx, tc.tenant)
		must(t, err)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ListSubscriptions(%q) (-want +got):\n%s", tc.tenant, diff)
		}
	}
}

func testResourceGroups(t *testing.T, db *DB) {
	ctx := context.Background()
	_, _, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: "rg"})
	wantErr(t, err, ErrParentNotFound)
	seed(t, db) // creates MyRG

	g, created, err := db.PutResourceGroup(ctx, ResourceGroup{
		SubscriptionID: strings.ToUpper(subA), Name: "myrg", Location: "eastus",
		Tags: map[string]string{"env": "prod"}, CreatedAt: t0.Add(time.Hour),
	})
	must(t, err)
	if created {
		t.Error("update reported created")
	}
	want := ResourceGroup{SubscriptionID: subA, Name: "MyRG", Location: "westeurope", Tags: map[string]string{"env": "prod"}, CreatedAt: t0}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("PutResourceGroup update (-want +got):\n%s", diff)
	}
	got, err := db.GetResourceGroup(ctx, subA, "MYRG")
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetResourceGroup (-want +got):\n%s", diff)
	}

	for _, n := range []string{"b", "A", "c"} {
		g, created, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: n, Location: "x", CreatedAt: t0})
		must(t, err)
		if !created || g.Name != n {
			t.Errorf("PutResourceGroup(%s) = %+v, %v", n, g, created)
		}
	}
	list, err := db.ListResourceGroups(ctx, strings.ToUpper(subA))
	must(t, err)
	var names []string
	for _, g := range list {
		names = append(names, g.Name)
	}
	if diff := cmp.Diff([]string{"A", "b", "c", "MyRG"}, names); diff != "" {
		t.Errorf("ListResourceGroups names (-want +got):\n%s", diff)
	}

	_, err = db.GetResourceGroup(ctx, subA, "nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.DeleteResourceGroup(ctx, subA, "nope"), ErrNotFound)
	must(t, db.DeleteResourceGroup(ctx, subA, "B"))
	_, err = db.GetResourceGroup(ctx, subA, "b")
	wantErr(t, err, ErrNotFound)
}

func testPrincipals(t *testing.T, db *DB) {
	ctx := context.Background()
	sp := Principal{ObjectID: guid("obj", 1), ClientID: guid("client", 1), TenantID: tenantA, DisplayName: "app", CreatedAt: t0}
	wantErr(t, db.CreatePrincipal(ctx, sp), ErrParentNotFound)
	seed(t, db)
	must(t, db.CreatePrincipal(ctx, sp))
	sp.Kind = KindServicePrincipal

	dupObject := sp
	dupObject.ClientID = guid("client", 2)
	dupObject.ObjectID = strings.ToUpper(sp.ObjectID)
	wantErr(t, db.CreatePrincipal(ctx, dupObject), ErrConflict)
	dupClient := sp
	dupClient.ObjectID = guid("obj", 2)
	dupClient.ClientID = strings.ToUpper(sp.ClientID)
	wantErr(t, db.CreatePrincipal(ctx, dupClient), ErrConflict)

	got, err := db.GetPrincipal(ctx, strings.ToUpper(sp.ObjectID))
	must(t, err)
	if diff := cmp.Diff(sp, got); diff != "" {
		t.Errorf("GetPrincipal (-want +got):\n%s", diff)
	}
	got, err = db.GetPrincipalByClientID(ctx, strings.ToUpper(sp.ClientID))
	must(t, err)
	if diff := cmp.Diff(sp, got); diff != "" {
		t.Errorf("GetPrincipalByClientID (-want +got):\n%s", diff)
	}
	_, err = db.GetPrincipal(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = db.GetPrincipalByClientID(ctx, sp.ObjectID)
	wantErr(t, err, ErrNotFound)

	mi := putIdentity(t, db, "MyRG", "id1", 3)
	for _, tc := range []struct {
		tenant string
		want   []Principal
	}{
		{"", []Principal{sp, mi}},
		{strings.ToUpper(tenantA), []Principal{sp, mi}},
		{tenantB, []Principal{}},
	} {
		got, err := db.ListPrincipals(ctx, tc.tenant)
		must(t, err)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ListPrincipals(%q) (-want +got):\n%s", tc.tenant, diff)
		}
	}
}

func testIdentities(t *testing.T, db *DB) {
	ctx := context.Background()
	_, _, err := db.PutIdentity(ctx, Principal{ObjectID: guid("o", 1), ClientID: guid("c", 1), SubscriptionID: subA, ResourceGroup: "MyRG", Name: "x"})
	wantErr(t, err, ErrParentNotFound)
	seed(t, db)
	_, _, err = db.PutIdentity(ctx, Principal{ObjectID: guid("o", 1), ClientID: guid("c", 1), SubscriptionID: subA, ResourceGroup: "other", Name: "x"})
	wantErr(t, err, ErrParentNotFound)
	if _, _, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: "Other", Location: "x"}); err != nil {
		t.Fatal(err)
	}

	mi, created, err := db.PutIdentity(ctx, Principal{
		ObjectID: guid("obj", 1), ClientID: guid("client", 1),
		SubscriptionID: strings.ToUpper(subA), ResourceGroup: "myrg", Name: "Web-Id", Location: "westeurope",
		Tags: map[string]string{"a": "1"}, CreatedAt: t0,
	})
	must(t, err)
	want := Principal{
		ObjectID: guid("obj", 1), ClientID: guid("client", 1), TenantID: tenantA,
		Kind: KindManagedIdentity, DisplayName: "Web-Id",
		SubscriptionID: subA, ResourceGroup: "MyRG", Name: "Web-Id", Location: "westeurope",
		Tags: map[string]string{"a": "1"}, CreatedAt: t0,
	}
	if diff := cmp.Diff(want, mi); diff != "" || !created {
		t.Errorf("PutIdentity create (created=%v) (-want +got):\n%s", created, diff)
	}

	// Update: new GUIDs, location and casing are ignored; tags replace.
	mi, created, err = db.PutIdentity(ctx, Principal{
		ObjectID: guid("obj", 9), ClientID: guid("client", 9),
		SubscriptionID: subA, ResourceGroup: "MYRG", Name: "WEB-ID", Location: "eastus",
		Tags: map[string]string{"b": "2"}, CreatedAt: t0.Add(time.Hour),
	})
	must(t, err)
	want.Tags = map[string]string{"b": "2"}
	if diff := cmp.Diff(want, mi); diff != "" || created {
		t.Errorf("PutIdentity update (created=%v) (-want +got):\n%s", created, diff)
	}
	got, err := db.GetIdentity(ctx, strings.ToUpper(subA), "myRG", "web-id")
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetIdentity (-want +got):\n%s", diff)
	}
	if _, err := db.GetPrincipal(ctx, guid("obj", 9)); !errors.Is(err, ErrNotFound) {
		t.Errorf("update inserted the new object id: %v", err)
	}
	got, err = db.GetPrincipalByClientID(ctx, guid("client", 1))
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetPrincipalByClientID (-want +got):\n%s", diff)
	}

	// Duplicate GUIDs on a new name are a conflict.
	_, _, err = db.PutIdentity(ctx, Principal{ObjectID: guid("obj", 1), ClientID: guid("client", 5), SubscriptionID: subA, ResourceGroup: "MyRG", Name: "other"})
	wantErr(t, err, ErrConflict)
	_, _, err = db.PutIdentity(ctx, Principal{ObjectID: guid("obj", 5), ClientID: strings.ToUpper(guid("client", 1)), SubscriptionID: subA, ResourceGroup: "MyRG", Name: "other"})
	wantErr(t, err, ErrConflict)

	a := putIdentity(t, db, "MyRG", "a-id", 2)
	o := putIdentity(t, db, "Other", "z-id", 3)
	for _, tc := range []struct {
		rg   string
		want []Principal
	}{
		{"", []Principal{a, want, o}},
		{"MYRG", []Principal{a, want}},
		{"other", []Principal{o}},
		{"none", []Principal{}},
	} {
		got, err := db.ListIdentities(ctx, subA, tc.rg)
		must(t, err)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ListIdentities(%q) (-want +got):\n%s", tc.rg, diff)
		}
	}
	_, err = db.GetIdentity(ctx, subA, "MyRG", "nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.DeleteIdentity(ctx, subA, "MyRG", "nope"), ErrNotFound)
	must(t, db.DeleteIdentity(ctx, subA, "myrg", "A-ID"))
	_, err = db.GetPrincipal(ctx, a.ObjectID)
	wantErr(t, err, ErrNotFound)
}

func testDeleteIdentityCascades(t *testing.T, db *DB) {
	ctx := context.Background()
	seed(t, db)
	victim := putIdentity(t, db, "MyRG", "victim", 1)
	keeper := putIdentity(t, db, "MyRG", "keeper", 2)
	for _, p := range []Principal{victim, keeper} {
		if _, _, err := putFIC(db, p.ObjectID, "fic", issuer1, "sub", 20); err != nil {
			t.Fatal(err)
		}
		must(t, db.AddClientSecret(ctx, ClientSecret{PrincipalID: p.ObjectID, KeyID: "k", Hash: []byte{1}, CreatedAt: t0}))
		if _, _, err := db.PutRoleAssignment(ctx, RoleAssignment{
			ID: "ra-" + p.Name, Scope: "/subscriptions/" + subA, RoleDefinitionID: "/roles/reader", PrincipalID: p.ObjectID,
		}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, db.DeleteIdentity(ctx, subA, "MyRG", "Victim"))

	fics, err := db.ListFederatedCredentials(ctx, victim.ObjectID)
	must(t, err)
	secrets, err := db.ListClientSecrets(ctx, victim.ObjectID)
	must(t, err)
	ras, err := db.ListRoleAssignments(ctx, RoleAssignmentFilter{PrincipalID: victim.ObjectID})
	must(t, err)
	if len(fics)+len(secrets)+len(ras) != 0 {
		t.Errorf("left behind: %d credentials, %d secrets, %d role assignments", len(fics), len(secrets), len(ras))
	}
	fics, err = db.ListFederatedCredentials(ctx, keeper.ObjectID)
	must(t, err)
	secrets, err = db.ListClientSecrets(ctx, keeper.ObjectID)
	must(t, err)
	ras, err = db.ListRoleAssignments(ctx, RoleAssignmentFilter{})
	must(t, err)
	if len(fics) != 1 || len(secrets) != 1 || len(ras) != 1 || ras[0].ID != "ra-keeper" {
		t.Errorf("keeper lost rows: %d credentials, %d secrets, role assignments %+v", len(fics), len(secrets), ras)
	}
	// The name is free again, for new GUIDs.
	putIdentity(t, db, "MyRG", "victim", 3)
}

func testDeleteResourceGroupCascades(t *testing.T, db *DB) {
	ctx := context.Background()
	seed(t, db)
	if _, _, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: "MyRG2", Location: "x"}); err != nil {
		t.Fatal(err)
	}
	inRG := putIdentity(t, db, "MyRG", "in", 1)
	outside := putIdentity(t, db, "MyRG2", "out", 2)
	for _, p := range []Principal{inRG, outside} {
		if _, _, err := putFIC(db, p.ObjectID, "fic", issuer1, "s-"+p.Name, 20); err != nil {
			t.Fatal(err)
		}
		must(t, db.AddClientSecret(ctx, ClientSecret{PrincipalID: p.ObjectID, KeyID: "k", Hash: []byte{1}}))
	}
	rgScope := "/subscriptions/" + subA + "/resourceGroups/MyRG"
	ras := map[string]struct {
		scope, principal string
		survives         bool
	}{
		"at-rg":            {strings.ToUpper(rgScope), outside.ObjectID, false},
		"at-rg-slash":      {rgScope + "/", outside.ObjectID, false},
		"below-rg":         {strings.ToLower(rgScope) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/in", outside.ObjectID, false},
		"of-identity":      {"/subscriptions/" + subA, inRG.ObjectID, false},
		"sibling-prefix":   {rgScope + "2", outside.ObjectID, true},
		"sibling-below":    {rgScope + "2/providers/x/y/z", outside.ObjectID, true},
		"subscription":     {"/subscriptions/" + subA, outside.ObjectID, true},
		"other-sub-rg":     {"/subscriptions/" + subB + "/resourceGroups/MyRG", outside.ObjectID, true},
		"root":             {"/", outside.ObjectID, true},
		"rg-name-is-infix": {"/subscriptions/" + subA + "/resourceGroups/x/providers/p/MyRG", outside.ObjectID, true},
	}
	for id, ra := range ras {
		if _, _, err := db.PutRoleAssignment(ctx, RoleAssignment{ID: id, Scope: ra.scope, RoleDefinitionID: "/roles/" + id, PrincipalID: ra.principal}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, db.DeleteResourceGroup(ctx, strings.ToUpper(subA), "myrg"))

	if _, err := db.GetIdentity(ctx, subA, "MyRG", "in"); !errors.Is(err, ErrNotFound) {
		t.Errorf("identity survived: %v", err)
	}
	if _, err := db.GetPrincipal(ctx, inRG.ObjectID); !errors.Is(err, ErrNotFound) {
		t.Errorf("principal survived: %v", err)
	}
	fics, err := db.ListFederatedCredentials(ctx, inRG.ObjectID)
	must(t, err)
	secrets, err := db.ListClientSecrets(ctx, inRG.ObjectID)
	must(t, err)
	if len(fics) != 0 || len(secrets) != 0 {
		t.Errorf("left behind %d credentials, %d secrets", len(fics), len(secrets))
	}
	if n, err := db.CountFederatedCredentials(ctx); err != nil || n != 1 {
		t.Errorf("CountFederatedCredentials = %d, %v; want 1", n, err)
	}
	if _, err := db.GetIdentity(ctx, subA, "MyRG2", "out"); err != nil {
		t.Errorf("identity in sibling group: %v", err)
	}
	for id, ra := range ras {
		_, err := db.GetRoleAssignment(ctx, id)
		if survived := err == nil; survived != ra.survives {
			t.Errorf("role assignment %s at %s: survived=%v (%v), want %v", id, ra.scope, survived, err, ra.survives)
		}
	}
}

func testClientSecrets(t *testing.T, db *DB) {
	ctx := context.Background()
	seed(t, db)
	sp := Principal{ObjectID: guid("obj", 1), ClientID: guid("client", 1), TenantID: tenantA}
	must(t, db.CreatePrincipal(ctx, sp))
	s1 := ClientSecret{PrincipalID: sp.ObjectID, KeyID: "k1", Hash: []byte("h1"), Hint: "abc", ExpiresAt: t0.Add(24 * time.Hour), CreatedAt: t0.Add(time.Minute)}
	s2 := ClientSecret{PrincipalID: strings.ToUpper(sp.ObjectID), KeyID: "k2", Hash: []byte("h2"), Hint: "def", CreatedAt: t0}
	must(t, db.AddClientSecret(ctx, s1))
	must(t, db.AddClientSecret(ctx, s2))
	wantErr(t, db.AddClientSecret(ctx, ClientSecret{PrincipalID: sp.ObjectID, KeyID: "k1", Hash: []byte("x")}), ErrConflict)
	wantErr(t, db.AddClientSecret(ctx, ClientSecret{PrincipalID: "nope", KeyID: "k1", Hash: []byte("x")}), ErrParentNotFound)

	got, err := db.ListClientSecrets(ctx, strings.ToUpper(sp.ObjectID))
	must(t, err)
	s2.PrincipalID = sp.ObjectID
	if diff := cmp.Diff([]ClientSecret{s2, s1}, got); diff != "" {
		t.Errorf("ListClientSecrets (-want +got):\n%s", diff)
	}
	got, err = db.ListClientSecrets(ctx, "nope")
	must(t, err)
	if len(got) != 0 {
		t.Errorf("ListClientSecrets(nope) = %v", got)
	}
}

func testFederatedCredentials(t *testing.T, db *DB) {
	ctx := context.Background()
	_, _, err := putFIC(db, guid("obj", 1), "f", issuer1, "s", 20)
	wantErr(t, err, ErrParentNotFound)
	seed(t, db)
	p := putIdentity(t, db, "MyRG", "id", 1)
	other := putIdentity(t, db, "MyRG", "other", 2)

	f, created, err := putFIC(db, strings.ToUpper(p.ObjectID), "Web-FIC", issuer1, "system:serviceaccount:ns:web", 20)
	must(t, err)
	want := FederatedCredential{
		PrincipalID: p.ObjectID, Name: "Web-FIC", Issuer: issuer1, Subject: "system:serviceaccount:ns:web",
		Audience: "api://AzureADTokenExchange", CreatedAt: t0, UpdatedAt: t0,
	}
	if diff := cmp.Diff(want, f); diff != "" || !created {
		t.Errorf("create (created=%v) (-want +got):\n%s", created, diff)
	}

	// Update under another casing: name casing and CreatedAt stay.
	upd := FederatedCredential{
		PrincipalID: p.ObjectID, Name: "WEB-fic", Issuer: issuer2, Subject: "s2", Audience: "aud",
		Description: "d", CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(2 * time.Hour),
	}
	f, created, err = db.PutFederatedCredential(ctx, upd, 20)
	must(t, err)
	want = FederatedCredential{
		PrincipalID: p.ObjectID, Name: "Web-FIC", Issuer: issuer2, Subject: "s2", Audience: "aud",
		Description: "d", CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Hour),
	}
	if diff := cmp.Diff(want, f); diff != "" || created {
		t.Errorf("update (created=%v) (-want +got):\n%s", created, diff)
	}
	got, err := db.GetFederatedCredential(ctx, strings.ToUpper(p.ObjectID), "web-fic")
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	// An update without UpdatedAt takes CreatedAt as the write time.
	upd.UpdatedAt = time.Time{}
	f, _, err = db.PutFederatedCredential(ctx, upd, 20)
	must(t, err)
	if !f.UpdatedAt.Equal(t0.Add(time.Hour)) || !f.CreatedAt.Equal(t0) {
		t.Errorf("update without UpdatedAt: created %v updated %v", f.CreatedAt, f.UpdatedAt)
	}

	// Same issuer and subject under another name: conflict, also when it
	// is an update that would collide.
	_, _, err = putFIC(db, p.ObjectID, "dup", issuer2, "s2", 20)
	wantErr(t, err, ErrConflict)
	_, _, err = putFIC(db, p.ObjectID, "b", issuer2, "s3", 20)
	must(t, err)
	_, _, err = putFIC(db, p.ObjectID, "B", issuer2, "s2", 20)
	wantErr(t, err, ErrConflict)
	// The same pair on another identity, another issuer or subject, and
	// empty subjects (expressions) do not conflict.
	for _, c := range []struct{ pid, name, iss, sub string }{
		{other.ObjectID, "x", issuer2, "s2"},
		{p.ObjectID, "c", issuer1, "s2"},
		{p.ObjectID, "d", issuer2, "S2"},
		{p.ObjectID, "e1", issuer1, ""},
		{p.ObjectID, "e2", issuer1, ""},
	} {
		if _, _, err := putFIC(db, c.pid, c.name, c.iss, c.sub, 20); err != nil {
			t.Errorf("putFIC(%+v): %v", c, err)
		}
	}
	// A rejected write changed nothing.
	got, err = db.GetFederatedCredential(ctx, p.ObjectID, "b")
	must(t, err)
	if got.Subject != "s3" {
		t.Errorf("conflicting update was stored: %+v", got)
	}
	_, err = db.GetFederatedCredential(ctx, p.ObjectID, "dup")
	wantErr(t, err, ErrNotFound)

	list, err := db.ListFederatedCredentials(ctx, p.ObjectID)
	must(t, err)
	var names []string
	for _, f := range list {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"b", "c", "d", "e1", "e2", "Web-FIC"}, names); diff != "" {
		t.Errorf("List names (-want +got):\n%s", diff)
	}
	if n, err := db.CountFederatedCredentials(ctx); err != nil || n != 7 {
		t.Errorf("Count = %d, %v; want 7", n, err)
	}

	wantErr(t, db.DeleteFederatedCredential(ctx, p.ObjectID, "nope"), ErrNotFound)
	wantErr(t, db.DeleteFederatedCredential(ctx, "nope", "b"), ErrNotFound)
	must(t, db.DeleteFederatedCredential(ctx, strings.ToUpper(p.ObjectID), "WEB-FIC"))
	_, err = db.GetFederatedCredential(ctx, p.ObjectID, "Web-FIC")
	wantErr(t, err, ErrNotFound)
	// The deleted pair is free again.
	_, created, err = putFIC(db, p.ObjectID, "again", issuer2, "s2", 20)
	if err != nil || !created {
		t.Errorf("reuse after delete: %v, created=%v", err, created)
	}
}

func testFederatedCredentialLimit(t *testing.T, db *DB) {
	seed(t, db)
	p := putIdentity(t, db, "MyRG", "id", 1)
	other := putIdentity(t, db, "MyRG", "other", 2)
	for i := range 3 {
		if _, _, err := putFIC(db, p.ObjectID, fmt.Sprint("f", i), issuer1, fmt.Sprint("s", i), 3); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := putFIC(db, p.ObjectID, "f3", issuer1, "s3", 3)
	wantErr(t, err, ErrLimit)
	// Updates at the limit are fine; the limit is per principal.
	if _, created, err := putFIC(db, p.ObjectID, "F0", issuer1, "new", 3); err != nil || created {
		t.Errorf("update at limit: %v, created=%v", err, created)
	}
	if _, _, err := putFIC(db, other.ObjectID, "f3", issuer1, "s3", 3); err != nil {
		t.Errorf("other principal: %v", err)
	}
	// No limit when max <= 0.
	if _, _, err := putFIC(db, p.ObjectID, "f4", issuer1, "s4", 0); err != nil {
		t.Errorf("max 0: %v", err)
	}
	if _, _, err := putFIC(db, p.ObjectID, "f5", issuer1, "s5", 2); !errors.Is(err, ErrLimit) {
		t.Errorf("max 2 with 4 stored: %v", err)
	}
}

func testFederatedCredentialConcurrent(t *testing.T, db *DB) {
	seed(t, db)
	p := putIdentity(t, db, "MyRG", "id", 1)
	for _, tc := range []struct {
		name      string
		max       int
		wantLimit int
	}{
		{"over limit", 5, 3},
		{"under limit", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const writers = 8
			var (
				wg     sync.WaitGroup
				limits atomic.Int32
				errs   = make(chan error, writers)
			)
			for i := range writers {
				wg.Go(func() {
					_, _, err := putFIC(db, p.ObjectID, fmt.Sprintf("%s-%d", tc.name, i), issuer1, fmt.Sprintf("%s-%d", tc.name, i), tc.max)
					switch {
					case errors.Is(err, ErrLimit):
						limits.Add(1)
					case err != nil:
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("unexpected error: %v", err)
			}
			if int(limits.Load()) != tc.wantLimit {
				t.Errorf("%d ErrLimit, want %d", limits.Load(), tc.wantLimit)
			}
		})
	}
	list, err := db.ListFederatedCredentials(context.Background(), p.ObjectID)
	must(t, err)
	if len(list) != 5+8 {
		t.Errorf("stored %d credentials, want 13", len(list))
	}
}

func testIssuers(t *testing.T, db *DB) {
	ctx := context.Background()
	seed(t, db)
	if got, err := db.ListIssuers(ctx); err != nil || len(got) != 0 {
		t.Errorf("ListIssuers on empty = %v, %v", got, err)
	}
	a := putIdentity(t, db, "MyRG", "a", 1)
	b := putIdentity(t, db, "MyRG", "b", 2)
	for _, c := range []struct{ pid, name, iss string }{
		{a.ObjectID, "1", issuer2}, {a.ObjectID, "2", issuer1}, {b.ObjectID, "1", issuer2},
	} {
		if _, _, err := putFIC(db, c.pid, c.name, c.iss, "s"+c.name, 20); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ListIssuers(ctx)
	must(t, err)
	if diff := cmp.Diff([]string{issuer1, issuer2}, got); diff != "" {
		t.Errorf("ListIssuers (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		iss  string
		want bool
	}{
		{issuer1, true},
		{issuer2, true},
		{strings.ToUpper(issuer1), false},
		{issuer1 + "/", false},
		{"", false},
	} {
		if got, err := db.IssuerKnown(ctx, tc.iss); err != nil || got != tc.want {
			t.Errorf("IssuerKnown(%q) = %v, %v; want %v", tc.iss, got, err, tc.want)
		}
	}
	if n, err := db.CountFederatedCredentials(ctx); err != nil || n != 3 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

func testSigningKeys(t *testing.T, db *DB) {
	ctx := context.Background()
	k1 := SigningKey{TenantID: tenantA, KID: "kid1", Alg: "RS256", PrivateKey: []byte("der1"), CreatedAt: t0, ActivateAt: t0.Add(2 * time.Hour), RetireAt: t0.Add(48 * time.Hour)}
	wantErr(t, db.InsertSigningKey(ctx, k1), ErrParentNotFound)
	seed(t, db)
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantB}))
	k2 := SigningKey{TenantID: strings.ToUpper(tenantA), KID: "kid2", Alg: "ES256", PrivateKey: []byte("der2"), CreatedAt: t0, ActivateAt: t0.Add(time.Hour)}
	kb := SigningKey{TenantID: tenantB, KID: "kidB", Alg: "RS256", PrivateKey: []byte("derB"), CreatedAt: t0, ActivateAt: t0}
	must(t, db.InsertSigningKey(ctx, k1))
	must(t, db.InsertSigningKey(ctx, k2))
	must(t, db.InsertSigningKey(ctx, kb))
	wantErr(t, db.InsertSigningKey(ctx, SigningKey{TenantID: tenantB, KID: "kid1", Alg: "RS256", PrivateKey: []byte("x")}), ErrConflict)
	must(t, db.InsertSigningKey(ctx, SigningKey{TenantID: tenantB, KID: "KID1", Alg: "RS256", PrivateKey: []byte("x"), ActivateAt: t0.Add(time.Minute)})) // kids are case-sensitive

	got, err := db.ListSigningKeys(ctx, tenantA)
	must(t, err)
	k2.TenantID = tenantA
	if diff := cmp.Diff([]SigningKey{k2, k1}, got); diff != "" {
		t.Errorf("ListSigningKeys (-want +got):\n%s", diff)
	}
	if !got[0].RetireAt.IsZero() {
		t.Errorf("zero RetireAt came back as %v", got[0].RetireAt)
	}
	wantErr(t, db.DeleteSigningKey(ctx, tenantB, "kid1"), ErrNotFound) // kid of another tenant
	wantErr(t, db.DeleteSigningKey(ctx, tenantA, "nope"), ErrNotFound)
	must(t, db.DeleteSigningKey(ctx, strings.ToUpper(tenantA), "kid1"))
	got, err = db.ListSigningKeys(ctx, tenantA)
	must(t, err)
	if diff := cmp.Diff([]SigningKey{k2}, got); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	got, err = db.ListSigningKeys(ctx, tenantB)
	must(t, err)
	if len(got) != 2 || got[0].KID != "kidB" || got[1].KID != "KID1" {
		t.Errorf("tenant B keys = %+v", got)
	}
}

func testRoleAssignments(t *testing.T, db *DB) {
	ctx := context.Background()
	p1, p2 := guid("obj", 1), guid("obj", 2)
	sub := "/subscriptions/" + subA
	rg := sub + "/resourceGroups/MyRG"
	reader, contrib := "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7", "/providers/Microsoft.Authorization/roleDefinitions/b24988ac"

	ra := RoleAssignment{ID: "AAAA-1", Scope: rg, RoleDefinitionID: reader, PrincipalID: p1, PrincipalType: "ServicePrincipal", CreatedAt: t0}
	got, created, err := db.PutRoleAssignment(ctx, ra) // the principal need not exist
	must(t, err)
	if diff := cmp.Diff(ra, got); diff != "" || !created {
		t.Errorf("create (created=%v) (-want +got):\n%s", created, diff)
	}
	again := ra
	again.ID, again.Scope, again.RoleDefinitionID, again.PrincipalID = "aaaa-1", strings.ToLower(rg)+"/", strings.ToUpper(reader), strings.ToUpper(p1)
	again.CreatedAt = t0.Add(time.Hour)
	got, created, err = db.PutRoleAssignment(ctx, again)
	must(t, err)
	if diff := cmp.Diff(ra, got); diff != "" || created {
		t.Errorf("idempotent put (created=%v) (-want +got):\n%s", created, diff)
	}
	for name, bad := range map[string]RoleAssignment{
		"same triple, other id": {ID: "bbbb", Scope: strings.ToUpper(rg), RoleDefinitionID: reader, PrincipalID: p1},
		"same id, other role":   {ID: "AAAA-1", Scope: rg, RoleDefinitionID: contrib, PrincipalID: p1},
		"same id, other scope":  {ID: "AAAA-1", Scope: sub, RoleDefinitionID: reader, PrincipalID: p1},
		"same id, other princ":  {ID: "AAAA-1", Scope: rg, RoleDefinitionID: reader, PrincipalID: p2},
	} {
		if _, _, err := db.PutRoleAssignment(ctx, bad); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: error = %v, want ErrConflict", name, err)
		}
	}

	all := []RoleAssignment{
		ra,
		{ID: "r-root", Scope: "/", RoleDefinitionID: reader, PrincipalID: p2, CreatedAt: t0},
		{ID: "r-sub", Scope: sub, RoleDefinitionID: contrib, PrincipalID: p1, CreatedAt: t0},
		{ID: "r-below", Scope: rg + "/providers/Microsoft.KeyVault/vaults/kv", RoleDefinitionID: reader, PrincipalID: p2, CreatedAt: t0},
		{ID: "r-other-rg", Scope: sub + "/resourceGroups/MyRG2", RoleDefinitionID: reader, PrincipalID: p2, CreatedAt: t0},
		{ID: "r-rg-p2", Scope: rg, RoleDefinitionID: contrib, PrincipalID: p2, CreatedAt: t0},
	}
	for _, r := range all[1:] {
		if _, _, err := db.PutRoleAssignment(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.GetRoleAssignment(ctx, "aaaa-1")
	must(t, err)
	if diff := cmp.Diff(ra, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	_, err = db.GetRoleAssignment(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	ids := func(rs []RoleAssignment) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    RoleAssignmentFilter
		want []string
	}{
		{"all", RoleAssignmentFilter{}, []string{"r-root", "r-sub", "AAAA-1", "r-rg-p2", "r-below", "r-other-rg"}},
		{"exact rg", RoleAssignmentFilter{Scope: strings.ToUpper(rg)}, []string{"AAAA-1", "r-rg-p2"}},
		{"exact root", RoleAssignmentFilter{Scope: "/"}, []string{"r-root"}},
		{"at or above rg", RoleAssignmentFilter{Scope: rg, AtOrAbove: true}, []string{"r-root", "r-sub", "AAAA-1", "r-rg-p2"}},
		{"at or above resource", RoleAssignmentFilter{Scope: rg + "/providers/Microsoft.KeyVault/vaults/KV/", AtOrAbove: true},
			[]string{"r-root", "r-sub", "AAAA-1", "r-rg-p2", "r-below"}},
		{"at or above root", RoleAssignmentFilter{Scope: "/", AtOrAbove: true}, []string{"r-root"}},
		{"principal", RoleAssignmentFilter{PrincipalID: strings.ToUpper(p1)}, []string{"r-sub", "AAAA-1"}},
		{"principal at or above rg", RoleAssignmentFilter{Scope: rg, AtOrAbove: true, PrincipalID: p2}, []string{"r-root", "r-rg-p2"}},
		{"nothing", RoleAssignmentFilter{PrincipalID: "nope"}, []string{}},
	} {
		rs, err := db.ListRoleAssignments(ctx, tc.f)
		must(t, err)
		if diff := cmp.Diff(tc.want, ids(rs)); diff != "" {
			t.Errorf("%s: ids (-want +got):\n%s", tc.name, diff)
		}
	}

	wantErr(t, db.DeleteRoleAssignment(ctx, "nope"), ErrNotFound)
	must(t, db.DeleteRoleAssignment(ctx, "aaaa-1"))
	_, err = db.GetRoleAssignment(ctx, "AAAA-1")
	wantErr(t, err, ErrNotFound)
	// The triple is free again under a new id.
	ra.ID = "cccc"
	if _, created, err := db.PutRoleAssignment(ctx, ra); err != nil || !created {
		t.Errorf("recreate: %v, created=%v", err, created)
	}
}

func testGeneration(t *testing.T, db *DB) {
	ctx := context.Background()
	var (
		calls   atomic.Int32
		lastGen atomic.Int64
	)
	db.OnChange(func() {
		calls.Add(1)
		// Listeners may call the store: no lock is held.
		g, err := db.Generation(ctx)
		if err != nil {
			t.Errorf("Generation in listener: %v", err)
		}
		lastGen.Store(g)
	})
	var secondCalls atomic.Int32
	db.OnChange(func() { secondCalls.Add(1) })

	gen := func() int64 {
		t.Helper()
		g, err := db.Generation(ctx)
		must(t, err)
		return g
	}
	g0 := gen()
	seed(t, db) // tenants, subscriptions, resource groups: not announced
	must(t, db.PutSetting(ctx, "k", "v"))
	if g := gen(); g != g0 || calls.Load() != 0 {
		t.Fatalf("unannounced writes bumped: generation %d -> %d, %d calls", g0, g, calls.Load())
	}

	var p Principal
	steps := []struct {
		name string
		do   func() error
	}{
		{"create principal", func() error {
			return db.CreatePrincipal(ctx, Principal{ObjectID: guid("sp", 1), ClientID: guid("spc", 1), TenantID: tenantA})
		}},
		{"put identity", func() (err error) {
			p, _, err = db.PutIdentity(ctx, Principal{ObjectID: guid("obj", 1), ClientID: guid("client", 1), SubscriptionID: subA, ResourceGroup: "MyRG", Name: "id"})
			return err
		}},
		{"update identity", func() error {
			_, _, err := db.PutIdentity(ctx, Principal{SubscriptionID: subA, ResourceGroup: "MyRG", Name: "id", Tags: map[string]string{"a": "b"}})
			return err
		}},
		{"add secret", func() error {
			return db.AddClientSecret(ctx, ClientSecret{PrincipalID: guid("sp", 1), KeyID: "k", Hash: []byte{1}})
		}},
		{"put fic", func() error { _, _, err := putFIC(db, p.ObjectID, "f", issuer1, "s", 20); return err }},
		{"delete fic", func() error { return db.DeleteFederatedCredential(ctx, p.ObjectID, "f") }},
		{"insert key", func() error {
			return db.InsertSigningKey(ctx, SigningKey{TenantID: tenantA, KID: "k", Alg: "RS256", PrivateKey: []byte{1}})
		}},
		{"delete key", func() error { return db.DeleteSigningKey(ctx, tenantA, "k") }},
		{"put role", func() error {
			_, _, err := db.PutRoleAssignment(ctx, RoleAssignment{ID: "r", Scope: "/", RoleDefinitionID: "x", PrincipalID: p.ObjectID})
			return err
		}},
		{"delete role", func() error { return db.DeleteRoleAssignment(ctx, "r") }},
		{"delete identity", func() error { return db.DeleteIdentity(ctx, subA, "MyRG", "id") }},
		{"delete resource group", func() error { return db.DeleteResourceGroup(ctx, subA, "MyRG") }},
	}
	for i, s := range steps {
		before := gen()
		must(t, s.do())
		after := gen()
		if after != before+1 {
			t.Errorf("%s: generation %d -> %d, want +1", s.name, before, after)
		}
		if int(calls.Load()) != i+1 || int(secondCalls.Load()) != i+1 {
			t.Errorf("%s: listeners called %d/%d times, want %d", s.name, calls.Load(), secondCalls.Load(), i+1)
		}
		if lastGen.Load() != after {
			t.Errorf("%s: listener saw generation %d, want %d (after commit)", s.name, lastGen.Load(), after)
		}
	}

	// Failed writes neither bump nor notify.
	before, n := gen(), calls.Load()
	wantErr(t, db.CreatePrincipal(ctx, Principal{ObjectID: guid("sp", 1), ClientID: guid("spc", 9), TenantID: tenantA}), ErrConflict)
	wantErr(t, db.DeleteRoleAssignment(ctx, "r"), ErrNotFound)
	_, _, err := putFIC(db, "nope", "f", issuer1, "s", 20)
	wantErr(t, err, ErrParentNotFound)
	if gen() != before || calls.Load() != n {
		t.Errorf("failed writes: generation %d -> %d, calls %d -> %d", before, gen(), n, calls.Load())
	}
}

func testSettings(t *testing.T, db *DB) {
	ctx := context.Background()
	_, err := db.GetSetting(ctx, "setup-done")
	wantErr(t, err, ErrNotFound)
	must(t, db.PutSetting(ctx, "setup-done", "1"))
	must(t, db.PutSetting(ctx, "setup-done", "2"))
	must(t, db.PutSetting(ctx, "Setup-Done", "other")) // keys are exact
	for k, want := range map[string]string{"setup-done": "2", "Setup-Done": "other"} {
		if got, err := db.GetSetting(ctx, k); err != nil || got != want {
			t.Errorf("GetSetting(%q) = %q, %v; want %q", k, got, err, want)
		}
	}
}

func testTimes(t *testing.T, db *DB) {
	ctx := context.Background()
	local := time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.FixedZone("UTC+5", 5*3600))
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantA, CreatedAt: local}))
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantB}))
	got, err := db.GetTenant(ctx, tenantA)
	must(t, err)
	if !got.CreatedAt.Equal(local) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, local)
	}
	got, err = db.GetTenant(ctx, tenantB)
	must(t, err)
	if !got.CreatedAt.IsZero() {
		t.Errorf("zero CreatedAt came back as %v", got.CreatedAt)
	}
}

func testPersistence(t *testing.T, db *DB) {
	if db.dsn == memoryPath {
		t.Skip("in-memory database")
	}
	ctx := context.Background()
	seed(t, db)
	p := putIdentity(t, db, "MyRG", "id", 1)
	if _, _, err := putFIC(db, p.ObjectID, "f", issuer1, "s", 20); err != nil {
		t.Fatal(err)
	}
	must(t, db.PutSetting(ctx, "k", "v"))
	g, err := db.Generation(ctx)
	must(t, err)
	must(t, db.Close())

	db2, err := Open(ctx, db.dsn, WithSealer(db.sealer))
	must(t, err)
	defer db2.Close()
	got, err := db2.GetIdentity(ctx, subA, "myrg", "ID")
	must(t, err)
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("identity after reopen (-want +got):\n%s", diff)
	}
	if ok, err := db2.IssuerKnown(ctx, issuer1); err != nil || !ok {
		t.Errorf("IssuerKnown after reopen = %v, %v", ok, err)
	}
	if v, err := db2.GetSetting(ctx, "k"); err != nil || v != "v" {
		t.Errorf("setting after reopen = %q, %v", v, err)
	}
	if g2, err := db2.Generation(ctx); err != nil || g2 != g {
		t.Errorf("generation after reopen = %d, %v; want %d", g2, err, g)
	}
}
