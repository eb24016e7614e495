package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/store/storetest"
)

// secretFixture opens a store with vault "Vault1" in rg1 and vault "vault2"
// in rg2.
func secretFixture(t *testing.T, open func(testing.TB) *store.DB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db := open(t)
	now := time.Unix(1700000000, 0).UTC()
	if err := db.CreateTenant(ctx, store.Tenant{ID: "t1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSubscription(ctx, store.Subscription{ID: "s1", TenantID: "t1", DisplayName: "s", State: "Enabled"}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"Vault1", "vault2"} {
		rg := []string{"rg1", "rg2"}[i]
		if _, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: rg, Location: "eastus"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.PutVault(ctx, store.Vault{SubscriptionID: "s1", ResourceGroup: rg, Name: name, Location: "eastus",
			TenantID: "t1", SKU: "standard", EnableRBACAuthorization: true, SoftDeleteRetentionDays: 90, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func version(n int) string {
	const hex = "0123456789abcdef"
	b := []byte("00000000000000000000000000000000")
	b[31] = hex[n%16]
	b[30] = hex[n/16%16]
	return string(b)
}

func TestSecrets(t *testing.T) { forBackends(t, testSecrets) }

func testSecrets(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := secretFixture(t, open)
	t0 := time.Unix(1700000100, 0).UTC()
	mk := func(name string, n int, val string) store.SecretVersion {
		return store.SecretVersion{VaultName: "vault1", Name: name, Version: version(n), Value: []byte(val),
			ContentType: "text/plain", Tags: map[string]string{"n": val}, Enabled: true,
			CreatedAt: t0.Add(time.Duration(n) * time.Second), UpdatedAt: t0.Add(time.Duration(n) * time.Second)}
	}
	// Versions: the latest is the last put, not the greatest version.
	for i, v := range []store.SecretVersion{mk("Alpha", 2, "a2"), mk("alpha", 1, "a1"), mk("beta", 3, "b3")} {
		got, err := db.PutSecretVersion(ctx, v)
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if got.Name != map[bool]string{true: "Alpha", false: "beta"}[i < 2] || got.VaultName != "Vault1" {
			t.Errorf("put %d stored as %s/%s", i, got.VaultName, got.Name)
		}
	}
	if _, err := db.PutSecretVersion(ctx, mk("alpha", 1, "dup")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate version: %v, want ErrConflict", err)
	}
	missingVault := mk("x", 9, "x")
	missingVault.VaultName = "nope"
	if _, err := db.PutSecretVersion(ctx, missingVault); !errors.Is(err, store.ErrParentNotFound) {
		t.Errorf("missing vault: %v, want ErrParentNotFound", err)
	}
	latest, err := db.GetSecretVersion(ctx, "VAULT1", "ALPHA", "")
	if err != nil || string(latest.Value) != "a1" || latest.Version != version(1) {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	want := mk("Alpha", 2, "a2")
	want.VaultName = "Vault1"
	if got, err := db.GetSecretVersion(ctx, "vault1", "alpha", version(2)); err != nil || !cmp.Equal(got, want) {
		t.Errorf("get version 2: %v\n%s", err, cmp.Diff(want, got))
	}
	if _, err := db.GetSecretVersion(ctx, "vault2", "alpha", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other vault: %v", err)
	}
	if _, err := db.GetSecretVersion(ctx, "vault1", "alpha", version(7)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing version: %v", err)
	}

	names := func(vs []store.SecretVersion) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.Name+"/"+string(v.Value))
		}
		return out
	}
	list, err := db.ListSecrets(ctx, "vault1", store.SecretPage{})
	if d := cmp.Diff([]string{"Alpha/a1", "beta/b3"}, names(list)); err != nil || d != "" {
		t.Errorf("ListSecrets: %v %s", err, d)
	}
	list, _ = db.ListSecrets(ctx, "vault1", store.SecretPage{Limit: 1})
	list2, _ := db.ListSecrets(ctx, "vault1", store.SecretPage{After: "ALPHA", Limit: 1})
	if d := cmp.Diff([]string{"Alpha/a1", "beta/b3"}, append(names(list), names(list2)...)); d != "" {
		t.Errorf("paged ListSecrets: %s", d)
	}
	vs, err := db.ListSecretVersions(ctx, "vault1", "alpha", store.SecretPage{})
	if d := cmp.Diff([]string{"Alpha/a1", "Alpha/a2"}, names(vs)); err != nil || d != "" {
		t.Errorf("ListSecretVersions: %v %s", err, d)
	}
	if vs, _ := db.ListSecretVersions(ctx, "vault1", "alpha", store.SecretPage{After: version(1)}); len(vs) != 1 || vs[0].Version != version(2) {
		t.Errorf("ListSecretVersions after 1 = %v", names(vs))
	}
	if _, err := db.ListSecretVersions(ctx, "vault1", "gamma", store.SecretPage{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("versions of missing secret: %v", err)
	}

	// Update touches only the mutable columns.
	upd, err := db.UpdateSecretVersion(ctx, "vault1", "alpha", version(2), func(v *store.SecretVersion) {
		v.Enabled, v.ContentType, v.Tags = false, "ct", nil
		v.Expires, v.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Minute)
		v.Value, v.Version = []byte("ignored"), "ignored"
	})
	if err != nil || upd.Enabled || upd.ContentType != "ct" || upd.Tags != nil || !upd.Expires.Equal(t0.Add(time.Hour)) ||
		string(upd.Value) != "a2" || upd.Version != version(2) {
		t.Errorf("update = %+v, %v", upd, err)
	}
	if _, err := db.UpdateSecretVersion(ctx, "vault1", "alpha", version(9), func(*store.SecretVersion) {}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}

	// Soft delete, conflict on reuse, recover, delete again, purge.
	del, err := db.DeleteSecret(ctx, "vault1", "ALPHA", t0.Add(time.Hour), t0.Add(91*time.Hour))
	if err != nil || del.Latest.Version != version(1) || !del.DeletedAt.Equal(t0.Add(time.Hour)) || !del.ScheduledPurge.Equal(t0.Add(91*time.Hour)) {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := db.DeleteSecret(ctx, "vault1", "alpha", t0, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := db.GetSecretVersion(ctx, "vault1", "alpha", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	if _, err := db.PutSecretVersion(ctx, mk("alpha", 5, "a5")); !errors.Is(err, store.ErrSecretDeleted) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("put over deleted: %v", err)
	}
	if list, _ := db.ListSecrets(ctx, "vault1", store.SecretPage{}); len(list) != 1 {
		t.Errorf("list after delete = %v", names(list))
	}
	if ds, err := db.ListDeletedSecrets(ctx, "vault1", store.SecretPage{}); err != nil || len(ds) != 1 || ds[0].Latest.Name != "Alpha" {
		t.Errorf("ListDeletedSecrets = %+v, %v", ds, err)
	}
	if _, err := db.GetDeletedSecret(ctx, "vault1", "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeletedSecret of live: %v", err)
	}
	if err := db.PurgeSecret(ctx, "vault1", "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purge live: %v", err)
	}
	rec, err := db.RecoverSecret(ctx, "vault1", "alpha")
	if err != nil || rec.Version != version(1) {
		t.Errorf("recover = %+v, %v", rec, err)
	}
	if _, err := db.RecoverSecret(ctx, "vault1", "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second recover: %v", err)
	}
	if _, err := db.DeleteSecret(ctx, "vault1", "alpha", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.PurgeSecret(ctx, "vault1", "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetDeletedSecret(ctx, "vault1", "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after purge: %v", err)
	}

	// Restore: conflicts with a live or deleted name; otherwise all versions
	// come back and the last is the latest.
	if _, err := db.RestoreSecret(ctx, []store.SecretVersion{mk("beta", 1, "x")}); !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrSecretDeleted) {
		t.Errorf("restore over live: %v", err)
	}
	restored, err := db.RestoreSecret(ctx, []store.SecretVersion{mk("Alpha", 4, "r4"), mk("Alpha", 3, "r3")})
	if err != nil || restored.Version != version(3) || string(restored.Value) != "r3" {
		t.Errorf("restore = %+v, %v", restored, err)
	}
	if _, err := db.RestoreSecret(ctx, []store.SecretVersion{mk("a", 1, "x"), mk("b", 2, "y")}); err == nil {
		t.Error("restore of mixed names succeeded")
	}

	// Expired deleted secrets are purged in bulk.
	if _, err := db.DeleteSecret(ctx, "vault1", "beta", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeExpiredSecrets(ctx, t0.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("early purge = %d, %v", n, err)
	}
	if n, err := db.PurgeExpiredSecrets(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("due purge = %d, %v", n, err)
	}
}

func TestSecretsGoWithTheirVault(t *testing.T) { forBackends(t, testSecretsGoWithTheirVault) }

func testSecretsGoWithTheirVault(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := secretFixture(t, open)
	put := func(vault, name string) {
		t.Helper()
		if _, err := db.PutSecretVersion(ctx, store.SecretVersion{VaultName: vault, Name: name, Version: version(1),
			Value: []byte("v"), Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	put("vault1", "a")
	put("vault1", "b")
	put("vault2", "c")
	if _, err := db.DeleteSecret(ctx, "vault1", "b", time.Unix(1, 0), time.Unix(2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteVault(ctx, "s1", "rg1", "vault1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PutVault(ctx, store.Vault{SubscriptionID: "s1", ResourceGroup: "rg1", Name: "vault1", Location: "eastus",
		TenantID: "t1", SKU: "standard", SoftDeleteRetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.ListSecrets(ctx, "vault1", store.SecretPage{}); len(l) != 0 {
		t.Errorf("secrets of a recreated vault: %v", l)
	}
	if l, _ := db.ListDeletedSecrets(ctx, "vault1", store.SecretPage{}); len(l) != 0 {
		t.Errorf("deleted secrets of a recreated vault: %v", l)
	}
	if err := db.PurgeVaultSecrets(ctx, "vault2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSecretVersion(ctx, "vault2", "c", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after PurgeVaultSecrets: %v", err)
	}
	// Deleting the resource group cascades through the vault.
	put("vault1", "d")
	if err := db.DeleteResourceGroup(ctx, "s1", "rg1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSecretVersion(ctx, "vault1", "d", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after group deletion: %v", err)
	}
}

// BenchmarkGetSecretVersion measures the data plane's per-request read of
// a secret's latest version.
func BenchmarkGetSecretVersion(b *testing.B) {
	ctx := context.Background()
	db := storetest.Open(b)
	now := time.Unix(1700000000, 0).UTC()
	if err := db.CreateTenant(ctx, store.Tenant{ID: "t1", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateSubscription(ctx, store.Subscription{ID: "s1", TenantID: "t1", DisplayName: "s", State: "Enabled"}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: "rg1", Location: "eastus"}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := db.PutVault(ctx, store.Vault{SubscriptionID: "s1", ResourceGroup: "rg1", Name: "Vault1", Location: "eastus",
		TenantID: "t1", SKU: "standard", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.PutSecretVersion(ctx, store.SecretVersion{VaultName: "vault1", Name: "bench", Version: version(i),
			Value: []byte("sealed-value-of-some-length-0123456789"), Enabled: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := db.GetSecretVersion(ctx, "vault1", "bench", "")
		if err != nil || v.Version != version(2) {
			b.Fatal(v.Version, err)
		}
	}
}

// forBackends runs test once on each store backend.
func forBackends(t *testing.T, test func(t *testing.T, open func(testing.TB) *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { test(t, b.Open) })
	}
}
