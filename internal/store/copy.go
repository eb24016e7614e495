package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// copyTables are every table of the schema, parents before children.
// schema_migrations is not copied: Open migrates the target itself.
var copyTables = []string{
	"settings", "tenants", "subscriptions", "resource_groups", "principals", "client_secrets",
	"federated_credentials", "signing_keys", "role_assignments", "vaults", "clusters", "cluster_keys",
	"secrets", "secret_versions",
}

// ErrTargetNotEmpty is returned by Copy when the target already holds
// state and CopyOptions.Replace is not set.
var ErrTargetNotEmpty = errors.New("store: copy: the target store is not empty")

// CopyOptions tune Copy.
type CopyOptions struct {
	// Replace lets Copy replace what a non-empty target holds.
	Replace bool
	// Progress, if set, is called after each table with its name and the
	// rows copied.
	Progress func(table string, rows int)
}

// Copy copies every row of from into to, in one transaction on to, so
// that a server started on to serves the same tenants, identities,
// credentials, roles, vaults, secrets, clusters and keys. Sealed values
// are copied as they are: the target must be opened with the same
// key-encryption key. Copying again with Replace gives the same result.
func Copy(ctx context.Context, from, to *DB, opts CopyOptions) error {
	if !opts.Replace {
		empty, err := to.empty(ctx)
		if err != nil {
			return fmt.Errorf("store: copy: %w", err)
		}
		if !empty {
			return ErrTargetNotEmpty
		}
	}
	// The source is read in one transaction too, so that the copy is a
	// consistent snapshot of a running server's store.
	src, err := from.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: from.d.name != "sqlite"})
	if err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	defer src.Rollback() //nolint:errcheck // read-only
	counts := map[string]int{}
	err = to.write(ctx, true, func(tx *sql.Tx) error {
		clear(counts)
		for i := len(copyTables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+copyTables[i]); err != nil {
				return err
			}
		}
		for _, table := range copyTables {
			n, err := copyTable(ctx, src, tx, table)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			counts[table] = n
		}
		// What was sealed under the source's key-encryption key must open
		// under the target's.
		check, err := kekCheck(ctx, tx)
		switch {
		case err != nil:
			return err
		case check == nil:
		case to.sealer == nil:
			return fmt.Errorf("%w: the source is sealed and the target was opened without a key-encryption key", ErrKEKMismatch)
		default:
			if _, err := to.sealer.Open(check, kekCheckAAD); err != nil {
				return fmt.Errorf("%w: give the target the source's kek.bin", ErrKEKMismatch)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	if opts.Progress != nil {
		for _, table := range copyTables {
			opts.Progress(table, counts[table])
		}
	}
	return nil
}

// copyTable copies table's rows from src to dst, column by column by name.
func copyTable(ctx context.Context, src *sql.Tx, dst *sql.Tx, table string) (int, error) {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	marks := make([]string, len(cols))
	for i := range cols {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `)`
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if _, err := dst.ExecContext(ctx, insert, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// empty reports whether the store holds nothing but what Open creates
// (settings such as the key-encryption key's check value).
func (db *DB) empty(ctx context.Context) (bool, error) {
	for _, table := range copyTables[1:] {
		var one int
		err := db.sql.QueryRowContext(ctx, `SELECT 1 FROM `+table+` LIMIT 1`).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return false, err
		default:
			return false, nil
		}
	}
	return true, nil
}
