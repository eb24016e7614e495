package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys ("wif" in ASCII, then a number): one serialises
// migrations across replicas, the other Exclusive sections.
const (
	migrationLock = 0x776966_00
	exclusiveLock = 0x776966_01
)

func openPostgres(url string) (*DB, error) {
	cfg, err := pgxConfig(url)
	if err != nil {
		return nil, err
	}
	migrations, err := postgresMigrations()
	if err != nil {
		return nil, err
	}
	listenCfg := cfg.Copy()
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(32)
	sdb.SetMaxIdleConns(8)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{
		sql: sdb,
		d: dialect{
			name:       "postgres",
			migrations: migrations,
			classify:   classifyPostgres,
			retryable:  retryablePostgres,
			forUpdate:  " FOR UPDATE",
			compact:    compactPostgres,
			lock:       lockPostgres,
			ddl:        toPostgres,
			announce:   announcePostgres,
			listen: func(ctx context.Context, instance string, changed func(), log *slog.Logger) {
				listenPostgres(ctx, listenCfg, instance, changed, log)
			},
		},
	}, nil
}

// pgxConfig parses a postgres:// URL. The URL, which may hold a password,
// never appears in the error.
func pgxConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, fmt.Errorf("invalid postgres:// URL: %v", pe.Unwrap())
		}
		return nil, errors.New("invalid postgres:// URL")
	}
	return cfg, nil
}

// postgresMigrations translates the SQLite migrations, the one schema
// source, into PostgreSQL's types: INTEGER (unix nanoseconds, counters)
// becomes BIGINT, BLOB becomes BYTEA, and TEXT sorts bytewise (COLLATE
// "C") so that listings, markers and nextLink agree with SQLite.
func postgresMigrations() (fs.FS, error) {
	src, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(src, ".")
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	for _, e := range entries {
		b, err := fs.ReadFile(src, e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = &fstest.MapFile{Data: []byte(toPostgres(string(b))), Mode: 0o444}
	}
	return out, nil
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	sqlInteger = regexp.MustCompile(`\bINTEGER\b`)
	sqlBlob    = regexp.MustCompile(`\bBLOB\b`)
	sqlText    = regexp.MustCompile(`\bTEXT\b`)
)

// toPostgres translates one SQLite migration. Comments are dropped first
// so that words in them are not rewritten.
func toPostgres(s string) string {
	s = sqlComment.ReplaceAllString(s, "")
	s = sqlInteger.ReplaceAllString(s, "BIGINT")
	s = sqlBlob.ReplaceAllString(s, "BYTEA")
	s = sqlText.ReplaceAllString(s, `TEXT COLLATE "C"`)
	return s
}

// lockPostgres holds the advisory lock key on a connection of its own
// until release is called, so that replicas starting at once migrate (or
// set up) one after another and each re-checks inside the lock.
func lockPostgres(ctx context.Context, db *sql.DB, key int64) (release func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		// A session lock ends with its session too: closing the
		// connection after a failed unlock still releases it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // discards the connection
		}
		conn.Close()
	}, nil
}

// compactPostgres rewrites the tables whose rows were sealed in place, so
// that no dead tuple keeps a plaintext key.
func compactPostgres(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `VACUUM FULL signing_keys, cluster_keys`)
	return err
}

func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %w", ErrParentNotFound, err)
	}
	return err
}

// retryablePostgres: serialization failures and deadlocks are worth
// running the whole transaction again.
func retryablePostgres(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40001" || pe.Code == "40P01"
}

// changesChannel is the PostgreSQL channel announced writes notify.
const changesChannel = "wif_changes"

func announcePostgres(ctx context.Context, tx *sql.Tx, instance string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, instance)
	return err
}

// listenPostgres LISTENs on changesChannel on a connection of its own until
// ctx ends, calling changed for every announcement from another instance
// and once after every (re)connection, since announcements sent while it
// was away are lost.
func listenPostgres(ctx context.Context, cfg *pgx.ConnConfig, instance string, changed func(), log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := func() error {
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			changed()
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				if n.Payload != instance {
					changed()
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		log.Warn("store: change announcements interrupted; reconnecting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
