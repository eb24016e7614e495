package store

import (
	"errors"
	"fmt"
	"strings"
)

type backend string

const (
	backendSQLite   backend = "sqlite"
	backendPostgres backend = "postgres"
)

// location is a parsed DSN.
type location struct {
	backend backend
	path    string // SQLite: file path or ":memory:"
	url     string // PostgreSQL: connection URL
}

// parseDSN accepts a plain file path, sqlite://<path>, sqlite:<path>,
// :memory:, and postgres:// or postgresql:// URLs.
func parseDSN(dsn string) (location, error) {
	if dsn == "" {
		return location{}, errors.New("empty dsn")
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && isScheme(scheme) {
		switch strings.ToLower(scheme) {
		case "sqlite", "sqlite3":
			return sqlitePath(dsn[len(scheme)+len("://"):])
		case "postgres", "postgresql":
			return location{backend: backendPostgres, url: dsn}, nil
		default:
			return location{}, fmt.Errorf("unknown dsn scheme %q", scheme)
		}
	}
	if rest, ok := cutPrefixFold(dsn, "sqlite:"); ok {
		return sqlitePath(rest)
	}
	if rest, ok := cutPrefixFold(dsn, "sqlite3:"); ok {
		return sqlitePath(rest)
	}
	return sqlitePath(dsn)
}

func sqlitePath(p string) (location, error) {
	switch {
	case p == "":
		return location{}, errors.New("empty sqlite path")
	case strings.ContainsAny(p, "?#"):
		return location{}, fmt.Errorf("sqlite path %q: query parameters and fragments are not supported", p)
	case strings.HasPrefix(p, "file:"):
		return location{}, fmt.Errorf("sqlite path %q: SQLite URIs are not supported, give a file path", p)
	}
	return location{backend: backendSQLite, path: p}, nil
}

// isScheme reports whether s is a URL scheme (RFC 3986: ALPHA *( ALPHA /
// DIGIT / "+" / "-" / "." )). A Windows drive letter never reaches here
// because "C:\x" has no "://".
func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
