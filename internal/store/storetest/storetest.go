// Package storetest opens throwaway stores for tests of other packages.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wifproject/wif/internal/store"
)

// Open opens a store in a fresh SQLite file under tb.TempDir and closes it
// when the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "wif.db"))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
