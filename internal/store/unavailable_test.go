package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotFound, false},
		{ErrConflict, false},
		{fmt.Errorf("get tenant: %w", ErrUnavailable), true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{&pgconn.PgError{Code: "57P01"}, true}, // admin_shutdown
		{&pgconn.PgError{Code: "08006"}, true}, // connection_failure
		{&pgconn.PgError{Code: "23505"}, false},
		{errors.New("syntax"), false},
	} {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestOpenUnreachablePostgresIsUnavailable: a server that is down is an
// unavailable store, answered within the caller's deadline.
func TestOpenUnreachablePostgresIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := openPostgres("postgres://wif@127.0.0.1:1/wif?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Generation(ctx); !IsUnavailable(err) {
		t.Errorf("Generation on a server that is down: %v, want unavailable", err)
	}
}
