package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store/pgtest"
)

// populate fills db with a row in every table.
func populate(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	seedKeys(t, db) // tenant A, a signing key, cluster keys
	must(t, db.CreateSubscription(ctx, Subscription{ID: subA, TenantID: tenantA, DisplayName: "A", State: "Enabled", CreatedAt: t0}))
	_, _, err := db.PutResourceGroup(ctx, ResourceGroup{SubscriptionID: subA, Name: "MyRG", Location: "westeurope", Tags: map[string]string{"k": "v"}, CreatedAt: t0})
	must(t, err)
	p := putIdentity(t, db, "MyRG", "app", 1)
	must(t, db.AddClientSecret(ctx, ClientSecret{PrincipalID: p.ObjectID, KeyID: "k1", Hash: []byte{1, 2, 3}, Hint: "abc", ExpiresAt: t0, CreatedAt: t0}))
	_, _, err = db.PutFederatedCredential(ctx, FederatedCredential{PrincipalID: p.ObjectID, Name: "fic", Issuer: issuer1,
		Subject: "system:serviceaccount:default:app", Audience: "api://AzureADTokenExchange", CreatedAt: t0, UpdatedAt: t0}, 20)
	must(t, err)
	_, _, err = db.PutRoleAssignment(ctx, RoleAssignment{ID: guid("ra", 1), Scope: "/subscriptions/" + subA + "/resourceGroups/MyRG",
		RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/r", PrincipalID: p.ObjectID, PrincipalType: "ServicePrincipal", CreatedAt: t0})
	must(t, err)
	_, _, err = db.PutVault(ctx, Vault{SubscriptionID: subA, ResourceGroup: "MyRG", Name: "kv1", Location: "westeurope", TenantID: tenantA,
		SKU: "standard", EnableRBACAuthorization: true, SoftDeleteRetentionDays: 7, CreatedAt: t0})
	must(t, err)
	_, err = db.PutSecretVersion(ctx, SecretVersion{VaultName: "kv1", Name: "s1", Version: "0123456789abcdef0123456789abcdef",
		Value: []byte("sealed-by-keyvault"), ContentType: "text/plain", Enabled: true, CreatedAt: t0, UpdatedAt: t0})
	must(t, err)
	_, _, err = db.PutCluster(ctx, Cluster{SubscriptionID: subA, ResourceGroup: "MyRG", Name: "c1", Location: "westeurope",
		TenantID: tenantA, Properties: []byte(`{"a":1}`), IssuerID: "issuer-1", CreatedAt: t0})
	must(t, err)
}

// dump is every row of every copied table, as comparable text.
func dump(t *testing.T, db *DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range copyTables {
		rows, err := db.sql.Query(`SELECT * FROM ` + table)
		must(t, err)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			line := ""
			for i, c := range cols {
				v := vals[i]
				if b, ok := v.([]byte); ok {
					v = fmt.Sprintf("%x", b)
				}
				line += fmt.Sprintf("%s=%v ", c, v)
			}
			out[table] = append(out[table], line)
		}
		must(t, rows.Close())
		sort.Strings(out[table])
	}
	return out
}

// TestCopySQLiteToPostgresAndBack: wif store copy moves an embedded
// install to PostgreSQL, every row alike (sealed keys included), refuses
// a non-empty target unless told, is idempotent with Replace, and refuses
// a target whose key-encryption key differs, leaving it as it was.
func TestCopySQLiteToPostgresAndBack(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t, 3)
	lite, err := Open(ctx, filepath.Join(t.TempDir(), "wif.db"), WithSealer(kek))
	must(t, err)
	defer lite.Close()
	populate(t, lite)
	pg, err := Open(ctx, pgtest.Schema(t), WithSealer(kek))
	must(t, err)
	defer pg.Close()

	var progress []string
	must(t, Copy(ctx, lite, pg, CopyOptions{Progress: func(table string, n int) { progress = append(progress, fmt.Sprintf("%s:%d", table, n)) }}))
	want := dump(t, lite)
	for _, table := range copyTables {
		if len(want[table]) == 0 {
			t.Errorf("the fixture has no %s row", table)
		}
	}
	if diff := cmp.Diff(want, dump(t, pg)); diff != "" {
		t.Errorf("PostgreSQL copy differs (-sqlite +postgres):\n%s", diff)
	}
	if len(progress) != len(copyTables) {
		t.Errorf("progress = %v", progress)
	}
	sk, err := pg.ListSigningKeys(ctx, tenantA)
	must(t, err)
	if len(sk) != 1 || !plaintextKey(sk[0].PrivateKey) {
		t.Errorf("the copied signing key does not open under the same key-encryption key: %+v", sk)
	}

	wantErr(t, Copy(ctx, lite, pg, CopyOptions{}), ErrTargetNotEmpty)
	must(t, Copy(ctx, lite, pg, CopyOptions{Replace: true}))
	if diff := cmp.Diff(want, dump(t, pg)); diff != "" {
		t.Errorf("a second copy with Replace changed the target:\n%s", diff)
	}

	// Back to a fresh SQLite file.
	back, err := Open(ctx, filepath.Join(t.TempDir(), "back.db"), WithSealer(kek))
	must(t, err)
	defer back.Close()
	must(t, Copy(ctx, pg, back, CopyOptions{}))
	if diff := cmp.Diff(want, dump(t, back)); diff != "" {
		t.Errorf("copy back to SQLite differs:\n%s", diff)
	}

	// Another key-encryption key: refused, target untouched.
	other, err := Open(ctx, filepath.Join(t.TempDir(), "other.db"), WithSealer(testKEK(t, 4)))
	must(t, err)
	defer other.Close()
	before := dump(t, other)
	if err := Copy(ctx, lite, other, CopyOptions{}); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("copy to a store with another key-encryption key: %v, want ErrKEKMismatch", err)
	}
	if diff := cmp.Diff(before, dump(t, other)); diff != "" {
		t.Errorf("a refused copy changed the target:\n%s", diff)
	}
}
