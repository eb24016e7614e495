package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/store"
)

func TestVaults(t *testing.T) { forBackends(t, testVaults) }

func testVaults(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := open(t)
	now := time.Unix(1700000000, 0).UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateTenant(ctx, store.Tenant{ID: "t1", CreatedAt: now}))
	must(db.CreateSubscription(ctx, store.Subscription{ID: "s1", TenantID: "t1", DisplayName: "s", State: "Enabled"}))
	for _, rg := range []string{"RG1", "rg2"} {
		if _, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: rg, Location: "eastus"}); err != nil {
			t.Fatal(err)
		}
	}
	v := store.Vault{SubscriptionID: "s1", ResourceGroup: "rg1", Name: "MyVault", Location: "eastus", TenantID: "t1", SKU: "standard", EnableRBACAuthorization: true, SoftDeleteRetentionDays: 90, CreatedAt: now}
	got, created, err := db.PutVault(ctx, v)
	if err != nil || !created {
		t.Fatalf("PutVault = %v, %v", created, err)
	}
	if got.ResourceGroup != "RG1" || got.Name != "MyVault" || !got.EnableRBACAuthorization {
		t.Errorf("stored vault = %+v", got)
	}
	v.Tags = map[string]string{"a": "b"}
	v.Name = "myvault"
	if got, created, err = db.PutVault(ctx, v); err != nil || created || got.Name != "MyVault" || got.Tags["a"] != "b" {
		t.Errorf("update = %+v, %v, %v", got, created, err)
	}
	other := v
	other.ResourceGroup = "rg2"
	if _, _, err := db.PutVault(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same name in another group: %v, want ErrConflict", err)
	}
	missing := v
	missing.ResourceGroup = "nope"
	if _, _, err := db.PutVault(ctx, missing); !errors.Is(err, store.ErrParentNotFound) {
		t.Errorf("missing group: %v, want ErrParentNotFound", err)
	}
	if _, err := db.GetVaultByName(ctx, "MYVAULT"); err != nil {
		t.Errorf("GetVaultByName: %v", err)
	}
	if _, err := db.GetVault(ctx, "s1", "rg2", "myvault"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetVault in wrong group: %v", err)
	}
	if vs, _ := db.ListVaults(ctx, "s1", ""); len(vs) != 1 {
		t.Errorf("ListVaults = %v", vs)
	}
	if vs, _ := db.ListVaults(ctx, "s1", "rg2"); len(vs) != 0 {
		t.Errorf("ListVaults rg2 = %v", vs)
	}
	scope := "/subscriptions/s1/resourceGroups/RG1/providers/Microsoft.KeyVault/vaults/MyVault"
	if _, _, err := db.PutRoleAssignment(ctx, store.RoleAssignment{ID: "ra1", Scope: scope, RoleDefinitionID: "r", PrincipalID: "p"}); err != nil {
		t.Fatal(err)
	}
	must(db.DeleteVault(ctx, "s1", "rg1", "MYVAULT"))
	if err := db.DeleteVault(ctx, "s1", "rg1", "myvault"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := db.GetRoleAssignment(ctx, "ra1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("role assignment on the vault survived its deletion: %v", err)
	}
	// Deleting the group cascades to its vaults.
	if _, _, err := db.PutVault(ctx, v); err != nil {
		t.Fatal(err)
	}
	must(db.DeleteResourceGroup(ctx, "s1", "rg1"))
	if _, err := db.GetVaultByName(ctx, "myvault"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vault survived its group: %v", err)
	}
}
