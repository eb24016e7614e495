package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrUnavailable marks an error as the store being unreachable for now (a
// PostgreSQL outage, a lock held too long), as opposed to a bad request or
// a bug: callers answer 503 with Retry-After.
var ErrUnavailable = errors.New("store: unavailable")

// RetryAfter is the Retry-After, in seconds, that callers send with a 503
// for an unavailable store.
const RetryAfter = 2

// IsUnavailable reports whether err means the store could not be reached
// or could not serve now: ErrUnavailable, a lost or refused connection, a
// deadline, PostgreSQL's connection and shutdown errors (SQLSTATE 08xxx,
// 57P01-57P03, 53300 too many connections), or SQLite's busy database.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	var ne net.Error
	return errors.As(err, &ne)
}
