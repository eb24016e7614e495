// Package storetest opens throwaway stores for tests of other packages.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/store/pgtest"
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

// Backend is one store backend a test can run on.
type Backend struct {
	Name string
	Open func(tb testing.TB) *store.DB
}

// Backends are SQLite (Open) and PostgreSQL (OpenPostgres): a test that
// must hold on both runs once per backend with t.Run.
func Backends() []Backend {
	return []Backend{{"sqlite", Open}, {"postgres", OpenPostgres}}
}

// OpenPostgres opens a store in a fresh schema of the PostgreSQL test
// server (pgtest), sealing keys at rest like Open, and closes it when the
// test ends.
func OpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	dsn := pgtest.Schema(tb)
	kek, err := seal.LoadOrCreate(filepath.Join(tb.TempDir(), "kek.bin"))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	db, err := store.Open(context.Background(), dsn, store.WithSealer(kek))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
