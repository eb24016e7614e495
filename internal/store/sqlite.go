package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

const memoryPath = ":memory:"

// sqliteParams: WAL, a 5 s busy timeout, foreign keys, and BEGIN IMMEDIATE
// for every transaction so concurrent writers queue on the lock instead of
// failing with SQLITE_BUSY when upgrading a read lock.
const sqliteParams = "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

func openSQLite(path string) (*DB, error) {
	migrations, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return nil, err
	}
	dsn := path + sqliteParams
	if path != memoryPath {
		// Create the file ourselves so it is private to this user; SQLite
		// gives the -wal and -shm files the same mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		f.Close()
		dsn += "&_pragma=journal_mode(WAL)"
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if path == memoryPath {
		// Every connection would get its own empty database.
		sdb.SetMaxOpenConns(1)
		sdb.SetConnMaxIdleTime(0)
		sdb.SetConnMaxLifetime(0)
	}
	return &DB{
		sql: sdb,
		d: dialect{
			name:       "sqlite",
			migrations: migrations,
			classify:   classifySQLite,
			retryable:  retryableSQLite,
			compact:    compactSQLite,
		},
	}, nil
}

// compactSQLite rebuilds the database file (VACUUM) and empties the
// write-ahead log, so that neither keeps pages with rows' old contents.
func compactSQLite(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func classifySQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", ErrParentNotFound, err)
	}
	return err
}

func retryableSQLite(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
