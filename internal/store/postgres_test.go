package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/store/pgtest"
)

// openTempPostgres opens a store in a fresh schema of the test server.
func openTempPostgres(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresConformance(t *testing.T) {
	runConformance(t, openTempPostgres)
}

func TestPostgresSealedConformance(t *testing.T) {
	kek := testKEK(t, 7)
	runConformance(t, func(t *testing.T) *DB {
		db, err := Open(context.Background(), pgtest.Schema(t), WithSealer(kek))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestPostgresSchemaMatchesSQLite: the PostgreSQL schema is translated
// from SQLite's migrations; both must have the same tables, columns (with
// nullability and primary keys) and indexes, so that the two cannot drift.
func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	ctx := context.Background()
	lite := openTempSQLite(t)
	pg := openTempPostgres(t)

	liteSchema := map[string]string{}
	rows, err := lite.sql.QueryContext(ctx, `SELECT m.name, p.name, p."notnull", p.pk
		FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	must(t, err)
	for rows.Next() {
		var table, col string
		var notNull, pk int
		must(t, rows.Scan(&table, &col, &notNull, &pk))
		// SQLite lets a primary key column be NULL unless declared NOT
		// NULL; PostgreSQL never does.
		liteSchema[table+"."+col] = describeColumn(notNull == 1 || pk > 0, pk > 0)
	}
	must(t, rows.Close())
	liteIdx := map[string]bool{}
	rows, err = lite.sql.QueryContext(ctx, `SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	must(t, err)
	for rows.Next() {
		var name, table string
		must(t, rows.Scan(&name, &table))
		liteIdx[table+"."+name] = true
	}
	must(t, rows.Close())

	pgSchema := map[string]string{}
	rows, err = pg.sql.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.is_nullable = 'NO',
			EXISTS (SELECT 1 FROM information_schema.key_column_usage k JOIN information_schema.table_constraints tc
				ON tc.constraint_name = k.constraint_name AND tc.table_schema = k.table_schema
				WHERE tc.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema
				AND k.table_name = c.table_name AND k.column_name = c.column_name)
		FROM information_schema.columns c WHERE c.table_schema = current_schema()`)
	must(t, err)
	for rows.Next() {
		var table, col string
		var notNull, pk bool
		must(t, rows.Scan(&table, &col, &notNull, &pk))
		pgSchema[table+"."+col] = describeColumn(notNull, pk)
	}
	must(t, rows.Close())
	if diff := cmp.Diff(liteSchema, pgSchema); diff != "" {
		t.Errorf("columns differ (-sqlite +postgres):\n%s", diff)
	}
	pgIdx := map[string]bool{}
	rows, err = pg.sql.QueryContext(ctx, `SELECT indexname, tablename FROM pg_indexes
		WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'`)
	must(t, err)
	for rows.Next() {
		var name, table string
		must(t, rows.Scan(&name, &table))
		pgIdx[table+"."+name] = true
	}
	must(t, rows.Close())
	if diff := cmp.Diff(liteIdx, pgIdx); diff != "" {
		t.Errorf("indexes differ (-sqlite +postgres):\n%s", diff)
	}
}

func describeColumn(notNull, pk bool) string {
	var parts []string
	if notNull {
		parts = append(parts, "not null")
	}
	if pk {
		parts = append(parts, "primary key")
	}
	return strings.Join(parts, ", ")
}

// TestPostgresMigrationsConcurrent: five replicas opening an empty
// database at once end with one schema, each migration applied once.
func TestPostgresMigrationsConcurrent(t *testing.T) {
	dsn := pgtest.Schema(t)
	errs := make(chan error, 5)
	dbs := make(chan *DB, 5)
	for range 5 {
		go func() {
			db, err := Open(context.Background(), dsn)
			errs <- err
			dbs <- db
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		db := <-dbs
		t.Cleanup(func() { db.Close() })
	}
	db, err := Open(context.Background(), dsn)
	must(t, err)
	defer db.Close()
	var applied, distinct int
	must(t, db.sql.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct))
	ms, err := loadMigrations(db.d.migrations)
	must(t, err)
	if applied != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations has %d rows (%d versions), want %d", applied, distinct, len(ms))
	}
}

func TestToPostgres(t *testing.T) {
	got := toPostgres("-- INTEGER in a comment\nCREATE TABLE t (a INTEGER NOT NULL, b BLOB, c TEXT, textual TEXT);")
	want := "\nCREATE TABLE t (a BIGINT NOT NULL, b BYTEA, c TEXT COLLATE \"C\", textual TEXT COLLATE \"C\");"
	if got != want {
		t.Errorf("toPostgres = %q, want %q", got, want)
	}
}
