// Package store keeps wif's durable state: tenants, subscriptions, resource
// groups, principals and managed identities, their client secrets and
// federated credentials, signing keys and role assignments.
//
// There is one concrete store, *DB, on database/sql. SQL shared by every
// backend uses $n placeholders (understood by SQLite and PostgreSQL alike);
// what differs per backend (driver, DSN, migrations, error codes) lives in
// a dialect: SQLite (embedded, the default) and PostgreSQL (pgx), whose
// migrations are translated from SQLite's, the one schema source.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	d   dialect
	dsn string // as given to Open, for reopening in tests

	sealer Sealer // seals private keys at rest; nil: stored as given

	instance string       // this process's id in change announcements
	lastGen  atomic.Int64 // the newest generation this process has seen

	mu        sync.Mutex
	listeners []func()
}

// dialect is what differs between database backends.
type dialect struct {
	name       string
	migrations fs.FS // numbered NNNN_name.sql files at the root
	// classify maps a driver error onto ErrConflict or ErrParentNotFound
	// (wrapping both), or returns it unchanged.
	classify func(error) error
	// retryable reports a transient lock error worth retrying the whole
	// transaction for.
	retryable func(error) bool
	// forUpdate is appended to the SELECT of a parent row that a write
	// transaction must hold steady (count limits). Empty on SQLite, whose
	// IMMEDIATE transactions already serialise writers; " FOR UPDATE" on
	// PostgreSQL.
	forUpdate string
	// compact, if set, rewrites the database after rows were rewritten in
	// place (sealed), so that freed pages and logs keep no old contents.
	compact func(context.Context, *sql.DB) error
	// lock, if set, takes a lock across every process on the database
	// for the migrations (PostgreSQL's advisory lock); SQLite's write
	// lock already serialises them.
	lock func(ctx context.Context, db *sql.DB, key int64) (release func(), err error)
	// ddl, if set, translates SQLite DDL (the one schema source) into the
	// dialect's.
	ddl func(string) string
	// announce, if set, tells other processes in the write transaction
	// that it changed what caches hold (PostgreSQL's pg_notify); listen
	// receives those announcements until ctx ends, calling changed for
	// each one from another instance and after each (re)connection.
	announce func(ctx context.Context, tx *sql.Tx, instance string) error
	listen   func(ctx context.Context, instance string, changed func(), log *slog.Logger)
}

// Open opens (creating if needed) the store named by dsn and applies
// pending migrations. dsn is a file path, sqlite://<path>, sqlite:<path>,
// :memory: (a private in-memory database, for tests), or a postgres:// or
// postgresql:// URL.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	loc, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	var db *DB
	switch loc.backend {
	case backendSQLite:
		db, err = openSQLite(loc.path)
	case backendPostgres:
		db, err = openPostgres(loc.url)
	default:
		err = fmt.Errorf("%s backend not built", loc.backend)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db.dsn = dsn
	db.instance = uuid.NewString()
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := db.sealAtRest(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return db, nil
}

// Instance is this process's id on the store: in change announcements,
// and as the holder of the periodic jobs' leases.
func (db *DB) Instance() string { return db.instance }

// Exclusive runs fn while holding a lock that every process on the same
// PostgreSQL database shares, so that replicas starting at once do
// first-start work (the default tenant, the bootstrap admin) once: fn must
// check inside whether it is still to do. On SQLite it just runs fn.
func (db *DB) Exclusive(ctx context.Context, fn func() error) error {
	if db.d.lock != nil {
		release, err := db.d.lock(ctx, db.sql, exclusiveLock)
		if err != nil {
			return fmt.Errorf("store: lock: %w", err)
		}
		defer release()
	}
	return fn()
}

// Close closes the database.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// OnChange registers fn to be called after every committed write that
// touches principals, identities, client secrets, federated credentials,
// signing keys or role assignments. fn runs synchronously on the writing
// goroutine, after the commit and outside the store's locks; it may call
// the store.
func (db *DB) OnChange(fn func()) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.listeners = append(db.listeners, fn)
}

func (db *DB) notify() {
	db.mu.Lock()
	fns := append([]func(){}, db.listeners...)
	db.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Generation returns a counter that every write announced to OnChange
// listeners bumps in its own transaction. It is shared by every process on
// the same database, so caches can compare it to decide whether to reload.
func (db *DB) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := db.sql.QueryRowContext(ctx, `SELECT generation FROM meta WHERE id = 1`).Scan(&g); err != nil {
		return 0, fmt.Errorf("store: generation: %w", err)
	}
	return g, nil
}

// GetSetting returns the value stored under key, or ErrNotFound.
func (db *DB) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.sql.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if err != nil {
		return "", wrap("get setting", db.noRows(err))
	}
	return v, nil
}

// PutSetting stores value under key, replacing any previous value.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	return wrap("put setting", db.write(ctx, false, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	}))
}

// write runs fn in a write transaction (IMMEDIATE on SQLite, so writers
// serialise at BEGIN instead of failing at COMMIT), retrying the whole
// transaction on transient lock errors. With announce set it bumps the
// generation in the same transaction and notifies listeners after commit.
func (db *DB) write(ctx context.Context, announce bool, fn func(tx *sql.Tx) error) error {
	const attempts = 8
	delay := 5 * time.Millisecond
	for i := 0; ; i++ {
		err := db.writeOnce(ctx, announce, fn)
		if err == nil {
			if announce {
				db.notify()
			}
			return nil
		}
		if i+1 >= attempts || !db.d.retryable(err) {
			return db.d.classify(err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return db.d.classify(err)
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func (db *DB) writeOnce(ctx context.Context, announce bool, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	var gen int64
	if announce {
		if err := tx.QueryRowContext(ctx, `UPDATE meta SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&gen); err != nil {
			return err
		}
		if db.d.announce != nil {
			// Delivered to every listening replica when (and only if)
			// the transaction commits.
			if err := db.d.announce(ctx, tx, db.instance); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if announce {
		db.sawGeneration(gen)
	}
	return nil
}

// noRows turns sql.ErrNoRows into ErrNotFound and classifies the rest.
func (db *DB) noRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return db.d.classify(err)
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// key is the lookup and uniqueness form of a case-insensitive name or GUID.
func key(s string) string { return strings.ToLower(s) }

// toTime and fromTime store times as UTC unix nanoseconds; the zero time is
// NULL.
func toTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().UnixNano()
}

func fromTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// toTags and fromTags store tags as a JSON object; a nil map is NULL.
func toTags(m map[string]string) (any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

func fromTags(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	return m, nil
}

// nullString stores "" as NULL (for columns where NULL has a meaning, such
// as a service principal's placement).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type scanner interface{ Scan(dest ...any) error }

// collect runs a query and scans every row with scan, returning a non-nil
// slice.
func collect[T any](ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
