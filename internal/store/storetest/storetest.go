// Package storetest opens throwaway stores for tests of other packages.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/store"
)

// Open opens a store in a fresh SQLite file under tb.TempDir, sealing keys
// at rest as the server does (under a key-encryption key in the same
// directory), and closes it when the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	dir := tb.TempDir()
	kek, err := seal.LoadOrCreate(filepath.Join(dir, "kek.bin"))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, "wif.db"), store.WithSealer(kek))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
