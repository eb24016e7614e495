package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AcquireLease takes or renews the lease called name for holder until
// now+ttl, and reports whether holder has it: true when the lease was
// free, expired, or already holder's; false while another holder's lease
// runs. Of replicas racing for a free lease, exactly one gets it.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	got := false
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		got = false
		var cur string
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = $1`+db.d.forUpdate, name).Scan(&cur, &expires)
		until := now.Add(ttl).UnixNano()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)`, name, holder, until)
		case err != nil:
			return err
		case cur != holder && expires > now.UnixNano():
			return nil
		default:
			_, err = tx.ExecContext(ctx, `UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3`, holder, until, name)
		}
		if err != nil {
			return err
		}
		got = true
		return nil
	})
	if errors.Is(err, ErrConflict) {
		return false, nil // another replica inserted it first
	}
	if err != nil {
		return false, wrap("acquire lease", err)
	}
	return got, nil
}
