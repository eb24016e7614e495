// Package pgtest gives tests a fresh, empty PostgreSQL schema on the
// server named by WIF_TEST_POSTGRES (scripts/postgres.sh starts one and
// prints it). With CI=true a missing server fails the test; elsewhere the
// test is skipped.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// DSN returns the test server's URL.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("WIF_TEST_POSTGRES")
	if dsn == "" {
		const how = `eval "$(scripts/postgres.sh start /tmp/wif-pg)"`
		if os.Getenv("CI") == "true" {
			tb.Fatal("WIF_TEST_POSTGRES is required in CI: " + how)
		}
		tb.Skip("WIF_TEST_POSTGRES not set: " + how)
	}
	return dsn
}

// Schema creates an empty schema, dropped when the test ends, and returns
// the server's URL with its search_path set to it: tests are isolated
// without a database each.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := DSN(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
