package store

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/seal/sealtest"
)

func testKEK(t *testing.T, b byte) *seal.FileKEK {
	t.Helper()
	k, err := seal.NewKEK(bytes.Repeat([]byte{b}, seal.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8(t *testing.T) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// rawKeys returns every private_key column value as stored.
func rawKeys(t *testing.T, db *DB) map[string][]byte {
	t.Helper()
	return sealtest.StoredPrivateKeys(t, db.sql)
}

// seedKeys stores a tenant signing key, a managed cluster key and a
// bring-your-own cluster key (no private half).
func seedKeys(t *testing.T, db *DB) (SigningKey, []ClusterKey) {
	t.Helper()
	ctx := context.Background()
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantA}))
	sk := SigningKey{TenantID: tenantA, KID: "kid1", Alg: "ES256", PrivateKey: pkcs8(t), CreatedAt: t0, ActivateAt: t0}
	must(t, db.InsertSigningKey(ctx, sk))
	cks := []ClusterKey{
		{IssuerID: "issuer-1", KID: "ck1", Alg: "ES256", PrivateKey: pkcs8(t), PublicKey: []byte("pub1"), CreatedAt: t0},
		{IssuerID: "issuer-1", KID: "ck2", Alg: "ES256", PublicKey: []byte("pub2"), CreatedAt: t0.Add(time.Second)},
	}
	must(t, db.ReplaceClusterKeys(ctx, "issuer-1", cks))
	return sk, cks
}

func checkKeys(t *testing.T, db *DB, sk SigningKey, cks []ClusterKey) {
	t.Helper()
	ctx := context.Background()
	got, err := db.ListSigningKeys(ctx, tenantA)
	must(t, err)
	if diff := cmp.Diff([]SigningKey{sk}, got); diff != "" {
		t.Errorf("signing keys (-want +got):\n%s", diff)
	}
	gotC, err := db.ListClusterKeys(ctx, "issuer-1")
	must(t, err)
	if diff := cmp.Diff(cks, gotC); diff != "" {
		t.Errorf("cluster keys (-want +got):\n%s", diff)
	}
}

// TestSealAtRestMigratesPlaintext: a store written in the clear (as before
// sealing) is sealed on its first open with a sealer, in place and once,
// and keeps no plaintext copy in the database file or its log.
func TestSealAtRestMigratesPlaintext(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wif.db")
	db, err := Open(ctx, path)
	must(t, err)
	sk, cks := seedKeys(t, db)
	for k, v := range rawKeys(t, db) {
		if !sealtest.ParsesAsPrivateKey(v) {
			t.Fatalf("%s: the unsealed store does not hold plaintext", k)
		}
	}
	must(t, db.Close())

	kek := testKEK(t, 1)
	db, err = Open(ctx, path, WithSealer(kek))
	must(t, err)
	raw := rawKeys(t, db)
	if len(raw) != 2 {
		t.Fatalf("stored private keys: %d, want 2", len(raw))
	}
	for k, v := range raw {
		if sealtest.ParsesAsPrivateKey(v) || v[0] != seal.Format {
			t.Errorf("%s is not sealed: %x", k, v[:8])
		}
	}
	checkKeys(t, db, sk, cks)
	must(t, db.Close())
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		must(t, err)
		for _, pt := range [][]byte{sk.PrivateKey, cks[0].PrivateKey} {
			if bytes.Contains(b, pt) {
				t.Errorf("%s still holds a private key in the clear", filepath.Base(f))
			}
		}
	}

	// Idempotent: a second open seals nothing again.
	db, err = Open(ctx, path, WithSealer(kek))
	must(t, err)
	defer db.Close()
	if diff := cmp.Diff(raw, rawKeys(t, db)); diff != "" {
		t.Errorf("second open rewrote sealed rows (-first +second):\n%s", diff)
	}
	checkKeys(t, db, sk, cks)
}

// TestSealAtRestWrongKEK: a store sealed under one key refuses another (or
// none), whether or not it still has its check value, and stays intact.
func TestSealAtRestWrongKEK(t *testing.T) {
	ctx := context.Background()
	for _, lostCheck := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "wif.db")
		right := testKEK(t, 1)
		db, err := Open(ctx, path, WithSealer(right))
		must(t, err)
		sk, cks := seedKeys(t, db)
		if lostCheck {
			_, err := db.sql.Exec(`DELETE FROM settings WHERE key = $1`, kekCheckSetting)
			must(t, err)
		}
		raw := rawKeys(t, db)
		must(t, db.Close())

		for name, opts := range map[string][]Option{"other key": {WithSealer(testKEK(t, 2))}, "no key": nil} {
			if name == "no key" && lostCheck {
				continue // without a check value the store cannot tell
			}
			if db, err := Open(ctx, path, opts...); !errors.Is(err, ErrKEKMismatch) {
				if err == nil {
					db.Close()
				}
				t.Errorf("lost check %v, %s: Open = %v, want ErrKEKMismatch", lostCheck, name, err)
			}
		}
		db, err = Open(ctx, path, WithSealer(right))
		must(t, err)
		if diff := cmp.Diff(raw, rawKeys(t, db)); diff != "" {
			t.Errorf("lost check %v: refused opens changed the rows (-before +after):\n%s", lostCheck, diff)
		}
		checkKeys(t, db, sk, cks)
		must(t, db.Close())
	}
}

// TestSealedRowsAreBound: a sealed key moved to another row, or a
// plaintext key planted in a sealed store, does not come back as a key,
// and reopening does not seal the planted one.
func TestSealedRowsAreBound(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wif.db")
	kek := testKEK(t, 1)
	db, err := Open(ctx, path, WithSealer(kek))
	must(t, err)
	seedKeys(t, db)
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantB}))
	// The sealed value of kid1 (tenant A) copied to a key of tenant B.
	_, err = db.sql.Exec(`INSERT INTO signing_keys (kid, tenant_key, tenant_id, alg, private_key)
		SELECT 'kidB', $1, $1, alg, private_key FROM signing_keys WHERE kid = 'kid1'`, tenantB)
	must(t, err)
	if _, err := db.ListSigningKeys(ctx, tenantB); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("moved sealed key: %v, want seal.ErrOpen", err)
	}
	// A cluster key's sealed value under another kid.
	_, err = db.sql.Exec(`UPDATE cluster_keys SET kid = 'other' WHERE kid = 'ck1'`)
	must(t, err)
	if _, err := db.ListClusterKeys(ctx, "issuer-1"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("renamed sealed cluster key: %v, want seal.ErrOpen", err)
	}
	// A plaintext key planted in the sealed store.
	planted := pkcs8(t)
	_, err = db.sql.Exec(`UPDATE signing_keys SET private_key = $1 WHERE kid = 'kidB'`, planted)
	must(t, err)
	if _, err := db.ListSigningKeys(ctx, tenantB); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("planted plaintext key: %v, want seal.ErrOpen", err)
	}
	must(t, db.Close())
	db, err = Open(ctx, path, WithSealer(kek))
	must(t, err)
	defer db.Close()
	if !bytes.Equal(rawKeys(t, db)["signing/kidB"], planted) {
		t.Error("reopening sealed a planted plaintext key")
	}
}

func TestRowAAD(t *testing.T) {
	// The bytes are part of the sealed format.
	if got, want := signingKeyAAD("Tenant-A", "KiD"), []byte("wif-signing-key/1\x00tenant-a\x00KiD"); !bytes.Equal(got, want) {
		t.Errorf("signingKeyAAD = %q, want %q", got, want)
	}
	if got, want := clusterKeyAAD("Issuer", "KiD"), []byte("wif-cluster-key/1\x00issuer\x00KiD"); !bytes.Equal(got, want) {
		t.Errorf("clusterKeyAAD = %q, want %q", got, want)
	}
}

func TestSQLiteSealedConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) *DB {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "wif.db"), WithSealer(testKEK(t, 3)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
