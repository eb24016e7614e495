package store

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func openTempSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "wif.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, openTempSQLite)
}

func TestSQLiteMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) *DB {
		db, err := Open(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	db := openTempSQLite(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "5000",
	} {
		var got string
		if err := db.sql.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	fi, err := os.Stat(db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
}

func TestMigrationsApplyTwice(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wif.db")
	sub, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.CreateTenant(ctx, Tenant{ID: tenantA}))
	must(t, db.migrate(ctx)) // again on the open database
	must(t, db.Close())
	db, err = Open(ctx, "sqlite:"+path) // and again on reopen
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions []int
	rows, err := db.sql.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		must(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.version)
	}
	if diff := cmp.Diff(want, versions); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
	if _, err := db.GetTenant(ctx, tenantA); err != nil {
		t.Errorf("data lost across migrate: %v", err)
	}
	if g, err := db.Generation(ctx); err != nil || g != 0 {
		t.Errorf("generation = %d, %v; want 0 (meta row inserted once)", g, err)
	}
}

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"0010_later.sql": {Data: []byte("B")},
		"0002_next.sql":  {Data: []byte("A")},
		"README.md":      {Data: []byte("ignored")},
	}
	ms, err := loadMigrations(ok)
	if err != nil {
		t.Fatal(err)
	}
	want := []migration{{version: 2, name: "0002_next.sql", sql: "A"}, {version: 10, name: "0010_later.sql", sql: "B"}}
	if diff := cmp.Diff(want, ms, cmp.AllowUnexported(migration{})); diff != "" {
		t.Errorf("loadMigrations (-want +got):\n%s", diff)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no number":    {"init.sql": {}},
		"zero":         {"0000_init.sql": {}},
		"duplicate":    {"0001_a.sql": {}, "001_b.sql": {}},
		"no separator": {"0001.sql": {}},
	} {
		if _, err := loadMigrations(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSQLiteQueriesUseIndexes(t *testing.T) {
	db := openTempSQLite(t)
	for name, q := range map[string]string{
		"principal by client id":        `SELECT ` + principalCols + ` FROM principals WHERE client_key = 'x'`,
		"federated credentials list":    `SELECT ` + ficCols + ` FROM federated_credentials WHERE principal_key = 'x' ORDER BY name_key`,
		"issuer known":                  `SELECT 1 FROM federated_credentials WHERE issuer = 'x' LIMIT 1`,
		"role assignments by principal": `SELECT ` + roleCols + ` FROM role_assignments WHERE principal_key = 'x'`,
		"identities in group":           `SELECT ` + principalCols + ` FROM principals WHERE subscription_key = 'x' AND rg_key = 'y' ORDER BY name_key`,
	} {
		// (the issuer+subject clash check is tested below: it must use the
		// per-principal unique index, not the issuer index)
		joined := queryPlan(t, db, q)
		if !strings.Contains(joined, "USING") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: plan %q does not use an index (or sorts)", name, joined)
		}
	}
}

// TestFICClashUsesPrincipalIndex: the duplicate issuer+subject check must
// not scan every credential of an issuer (100k credentials sharing one
// issuer made each write take tens of milliseconds).
func TestFICClashUsesPrincipalIndex(t *testing.T) {
	db := openTempSQLite(t)
	joined := queryPlan(t, db, ficClashQuery, "p", "i", "s", "n")
	if !strings.Contains(joined, "(principal_key=? AND issuer=? AND subject=?)") {
		t.Errorf("clash check plan %q does not use the per-principal index", joined)
	}
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want location
		bad  bool
	}{
		{dsn: "/var/lib/wif/wif.db", want: location{backend: backendSQLite, path: "/var/lib/wif/wif.db"}},
		{dsn: "wif.db", want: location{backend: backendSQLite, path: "wif.db"}},
		{dsn: "sqlite:///var/lib/wif.db", want: location{backend: backendSQLite, path: "/var/lib/wif.db"}},
		{dsn: "sqlite://rel/wif.db", want: location{backend: backendSQLite, path: "rel/wif.db"}},
		{dsn: "SQLite:wif.db", want: location{backend: backendSQLite, path: "wif.db"}},
		{dsn: "sqlite::memory:", want: location{backend: backendSQLite, path: ":memory:"}},
		{dsn: ":memory:", want: location{backend: backendSQLite, path: ":memory:"}},
		{dsn: `C:\wif\wif.db`, want: location{backend: backendSQLite, path: `C:\wif\wif.db`}},
		{dsn: "postgres://u@h/db", want: location{backend: backendPostgres, url: "postgres://u@h/db"}},
		{dsn: "postgresql://u@h/db", want: location{backend: backendPostgres, url: "postgresql://u@h/db"}},
		{dsn: "", bad: true},
		{dsn: "sqlite:", bad: true},
		{dsn: "sqlite://", bad: true},
		{dsn: "mysql://h/db", bad: true},
		{dsn: "wif.db?_pragma=journal_mode(OFF)", bad: true},
		{dsn: "file:wif.db", bad: true},
	} {
		got, err := parseDSN(tc.dsn)
		if tc.bad {
			if err == nil {
				t.Errorf("parseDSN(%q) = %+v, want error", tc.dsn, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseDSN(%q): %v", tc.dsn, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(location{})); diff != "" {
			t.Errorf("parseDSN(%q) (-want +got):\n%s", tc.dsn, diff)
		}
	}
}

func TestOpenRejectsUnknownBackends(t *testing.T) {
	for _, dsn := range []string{"mysql://x", "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres://u:hunter2@%zz/db"} {
		db, err := Open(context.Background(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "store: open: ") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v", dsn, err)
		}
	}
}

// TestSQLiteTransactionsAreImmediate checks that a transaction takes the
// write lock at BEGIN: a second connection that does not wait cannot write.
func TestSQLiteTransactionsAreImmediate(t *testing.T) {
	ctx := context.Background()
	db := openTempSQLite(t)
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	other, err := sql.Open("sqlite", db.dsn+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'v')`)
	if !retryableSQLite(err) {
		t.Fatalf("write beside an open transaction: %v, want SQLITE_BUSY", err)
	}
	must(t, tx.Rollback())
	if _, err := other.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'v')`); err != nil {
		t.Fatalf("write after rollback: %v", err)
	}
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN of q, its steps joined
// with "; ".
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		must(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
