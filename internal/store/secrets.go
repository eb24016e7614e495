package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrSecretDeleted: the secret's name is held by a soft-deleted secret, so
// it can only be recovered or purged. It wraps ErrConflict.
var ErrSecretDeleted = fmt.Errorf("%w: secret is deleted but recoverable", ErrConflict)

// Key Vault secrets live in two tables: secrets (one row per name, holding
// the soft-delete state) and secret_versions. The latest version is the
// one with the highest seq.

const secretCols = `v.name, s.name, sv.version, sv.value, sv.content_type, sv.tags, sv.enabled, sv.nbf, sv.exp,
	sv.created_at, sv.updated_at`

const secretFrom = ` FROM secrets s
	JOIN vaults v ON v.name_key = s.vault_key
	JOIN secret_versions sv ON sv.vault_key = s.vault_key AND sv.name_key = s.name_key`

const latestOnly = ` AND sv.seq = (SELECT MAX(x.seq) FROM secret_versions x
	WHERE x.vault_key = s.vault_key AND x.name_key = s.name_key)`

// secretRow holds one scan of secretCols (and up to two extra columns) in
// a single allocation.
type secretRow struct {
	v                          SecretVersion
	tags                       sql.NullString
	enabled                    int
	nbf, exp, created, updated sql.NullInt64
	dest                       [13]any
}

// latestSecretQuery reads the latest version of a live secret ($1 vault
// key, $2 name key), the data plane's hot path: a descending walk of
// secret_versions_seq, which SQLite prepares in about half the time of the
// correlated MAX(seq) subquery of latestOnly.
const latestSecretQuery = `SELECT ` + secretCols + secretFrom + `
	WHERE s.vault_key = $1 AND s.name_key = $2 AND s.deleted_at IS NULL
	ORDER BY sv.seq DESC LIMIT 1`

func scanSecretVersion(sc scanner, extra ...any) (SecretVersion, error) {
	r := &secretRow{}
	v := &r.v
	dest := append(r.dest[:0], &v.VaultName, &v.Name, &v.Version, &v.Value, &v.ContentType, &r.tags, &r.enabled,
		&r.nbf, &r.exp, &r.created, &r.updated)
	dest = append(dest, extra...)
	if err := sc.Scan(dest...); err != nil {
		return SecretVersion{}, err
	}
	var err error
	if v.Tags, err = fromTags(r.tags); err != nil {
		return SecretVersion{}, err
	}
	v.Enabled = r.enabled != 0
	v.NotBefore, v.Expires = fromTime(r.nbf), fromTime(r.exp)
	v.CreatedAt, v.UpdatedAt = fromTime(r.created), fromTime(r.updated)
	return *v, nil
}

func scanDeletedSecret(sc scanner) (DeletedSecret, error) {
	var (
		d                DeletedSecret
		deleted, purgeAt sql.NullInt64
	)
	v, err := scanSecretVersion(sc, &deleted, &purgeAt)
	if err != nil {
		return DeletedSecret{}, err
	}
	d.Latest, d.DeletedAt, d.ScheduledPurge = v, fromTime(deleted), fromTime(purgeAt)
	return d, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pageLimit(p SecretPage) int {
	if p.Limit <= 0 {
		return math.MaxInt32
	}
	return p.Limit
}

// getSecretVersion reads a live secret's version ("" for the latest).
func getSecretVersion(ctx context.Context, q queryRower, vault, name, version string) (SecretVersion, error) {
	if version == "" {
		return scanSecretVersion(q.QueryRowContext(ctx, latestSecretQuery, key(vault), key(name)))
	}
	return scanSecretVersion(q.QueryRowContext(ctx, `SELECT `+secretCols+secretFrom+`
		WHERE s.vault_key = $1 AND s.name_key = $2 AND s.deleted_at IS NULL AND sv.version = $3`,
		key(vault), key(name), key(version)))
}

func getDeletedSecret(ctx context.Context, q queryRower, vault, name string) (DeletedSecret, error) {
	return scanDeletedSecret(q.QueryRowContext(ctx, `SELECT `+secretCols+`, s.deleted_at, s.scheduled_purge`+secretFrom+`
		WHERE s.vault_key = $1 AND s.name_key = $2 AND s.deleted_at IS NOT NULL`+latestOnly, key(vault), key(name)))
}

func insertSecretVersion(ctx context.Context, tx *sql.Tx, v SecretVersion, seq int64) error {
	tags, err := toTags(v.Tags)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO secret_versions (vault_key, name_key, version, seq, value, content_type,
		tags, enabled, nbf, exp, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		key(v.VaultName), key(v.Name), key(v.Version), seq, v.Value, v.ContentType, tags, boolInt(v.Enabled),
		toTime(v.NotBefore), toTime(v.Expires), toTime(v.CreatedAt), toTime(v.UpdatedAt))
	return err
}

func validSecretVersion(v SecretVersion) error {
	if v.VaultName == "" || v.Name == "" || v.Version == "" || v.Value == nil {
		return errors.New("empty vault, name, version or value")
	}
	return nil
}

// PutSecretVersion adds v as the new latest version of its secret, creating
// the secret if needed, and returns it as stored (with the name casing of
// the secret's first version). ErrSecretDeleted if the name is held by a
// deleted secret; ErrConflict if the version exists; ErrParentNotFound if
// the vault is missing.
func (db *DB) PutSecretVersion(ctx context.Context, v SecretVersion) (SecretVersion, error) {
	if err := validSecretVersion(v); err != nil {
		return SecretVersion{}, wrap("put secret version", err)
	}
	var out SecretVersion
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		var deleted sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT deleted_at FROM secrets WHERE vault_key = $1 AND name_key = $2`,
			key(v.VaultName), key(v.Name)).Scan(&deleted)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (vault_key, name_key, name) VALUES ($1, $2, $3)`,
				key(v.VaultName), key(v.Name), v.Name); err != nil {
				return err
			}
		case err != nil:
			return err
		case deleted.Valid:
			return ErrSecretDeleted
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions
			WHERE vault_key = $1 AND name_key = $2`, key(v.VaultName), key(v.Name)).Scan(&seq); err != nil {
			return err
		}
		if err := insertSecretVersion(ctx, tx, v, seq); err != nil {
			return err
		}
		out, err = getSecretVersion(ctx, tx, v.VaultName, v.Name, v.Version)
		return err
	})
	if err != nil {
		return SecretVersion{}, wrap("put secret version", err)
	}
	return out, nil
}

// GetSecretVersion returns a version of a live secret, or its latest
// version when version is "". ErrNotFound if the secret is missing or
// deleted, or has no such version.
func (db *DB) GetSecretVersion(ctx context.Context, vault, name, version string) (SecretVersion, error) {
	v, err := getSecretVersion(ctx, db.sql, vault, name, version)
	if err != nil {
		return SecretVersion{}, wrap("get secret version", db.noRows(err))
	}
	return v, nil
}

// ListSecrets returns the latest version of every live secret of a vault,
// ordered by lower-cased name, one page at a time.
func (db *DB) ListSecrets(ctx context.Context, vault string, p SecretPage) ([]SecretVersion, error) {
	vs, err := collect(ctx, db.sql, func(s scanner) (SecretVersion, error) { return scanSecretVersion(s) },
		`SELECT `+secretCols+secretFrom+`
		WHERE s.vault_key = $1 AND s.deleted_at IS NULL AND s.name_key > $2`+latestOnly+`
		ORDER BY s.name_key LIMIT $3`, key(vault), key(p.After), pageLimit(p))
	return vs, wrap("list secrets", err)
}

// ListSecretVersions returns the versions of a live secret ordered by
// version, one page at a time. ErrNotFound if the secret is missing or
// deleted.
func (db *DB) ListSecretVersions(ctx context.Context, vault, name string, p SecretPage) ([]SecretVersion, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM secrets WHERE vault_key = $1 AND name_key = $2
		AND deleted_at IS NULL`, key(vault), key(name)).Scan(&n); err != nil {
		return nil, wrap("list secret versions", err)
	}
	if n == 0 {
		return nil, wrap("list secret versions", ErrNotFound)
	}
	vs, err := collect(ctx, db.sql, func(s scanner) (SecretVersion, error) { return scanSecretVersion(s) },
		`SELECT `+secretCols+secretFrom+`
		WHERE s.vault_key = $1 AND s.name_key = $2 AND s.deleted_at IS NULL AND sv.version > $3
		ORDER BY sv.version LIMIT $4`, key(vault), key(name), key(p.After), pageLimit(p))
	return vs, wrap("list secret versions", err)
}

// UpdateSecretVersion applies update to a version of a live secret (the
// latest when version is "") and stores its content type, tags, enabled,
// not-before, expiry and updated time; other changes are ignored. update
// may run more than once and must not have side effects. ErrNotFound if
// the version is missing or the secret deleted.
func (db *DB) UpdateSecretVersion(ctx context.Context, vault, name, version string, update func(*SecretVersion)) (SecretVersion, error) {
	var out SecretVersion
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		v, err := getSecretVersion(ctx, tx, vault, name, version)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		ver := v.Version
		update(&v)
		tags, err := toTags(v.Tags)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE secret_versions SET content_type = $1, tags = $2, enabled = $3,
			nbf = $4, exp = $5, updated_at = $6 WHERE vault_key = $7 AND name_key = $8 AND version = $9`,
			v.ContentType, tags, boolInt(v.Enabled), toTime(v.NotBefore), toTime(v.Expires), toTime(v.UpdatedAt),
			key(vault), key(name), ver); err != nil {
			return err
		}
		out, err = getSecretVersion(ctx, tx, vault, name, ver)
		return err
	})
	if err != nil {
		return SecretVersion{}, wrap("update secret version", err)
	}
	return out, nil
}

// DeleteSecret soft-deletes a live secret with all its versions and
// returns it. ErrNotFound if it is missing or already deleted.
func (db *DB) DeleteSecret(ctx context.Context, vault, name string, deletedAt, purgeAt time.Time) (DeletedSecret, error) {
	var out DeletedSecret
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE secrets SET deleted_at = $1, scheduled_purge = $2
			WHERE vault_key = $3 AND name_key = $4 AND deleted_at IS NULL`,
			toTime(deletedAt), toTime(purgeAt), key(vault), key(name))
		if err := affectedOne(res, err); err != nil {
			return err
		}
		out, err = getDeletedSecret(ctx, tx, vault, name)
		return err
	})
	if err != nil {
		return DeletedSecret{}, wrap("delete secret", err)
	}
	return out, nil
}

// GetDeletedSecret returns a soft-deleted secret; ErrNotFound if there is
// no deleted secret of that name.
func (db *DB) GetDeletedSecret(ctx context.Context, vault, name string) (DeletedSecret, error) {
	d, err := getDeletedSecret(ctx, db.sql, vault, name)
	if err != nil {
		return DeletedSecret{}, wrap("get deleted secret", db.noRows(err))
	}
	return d, nil
}

// ListDeletedSecrets returns the soft-deleted secrets of a vault ordered by
// lower-cased name, one page at a time.
func (db *DB) ListDeletedSecrets(ctx context.Context, vault string, p SecretPage) ([]DeletedSecret, error) {
	ds, err := collect(ctx, db.sql, scanDeletedSecret,
		`SELECT `+secretCols+`, s.deleted_at, s.scheduled_purge`+secretFrom+`
		WHERE s.vault_key = $1 AND s.deleted_at IS NOT NULL AND s.name_key > $2`+latestOnly+`
		ORDER BY s.name_key LIMIT $3`, key(vault), key(p.After), pageLimit(p))
	return ds, wrap("list deleted secrets", err)
}

// RecoverSecret makes a soft-deleted secret live again and returns its
// latest version. ErrNotFound if there is no deleted secret of that name.
func (db *DB) RecoverSecret(ctx context.Context, vault, name string) (SecretVersion, error) {
	var out SecretVersion
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE secrets SET deleted_at = NULL, scheduled_purge = NULL
			WHERE vault_key = $1 AND name_key = $2 AND deleted_at IS NOT NULL`, key(vault), key(name))
		if err := affectedOne(res, err); err != nil {
			return err
		}
		out, err = getSecretVersion(ctx, tx, vault, name, "")
		return err
	})
	if err != nil {
		return SecretVersion{}, wrap("recover secret", err)
	}
	return out, nil
}

// PurgeSecret permanently deletes a soft-deleted secret. ErrNotFound if
// there is no deleted secret of that name.
func (db *DB) PurgeSecret(ctx context.Context, vault, name string) error {
	return wrap("purge secret", db.write(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE vault_key = $1 AND name_key = $2
			AND deleted_at IS NOT NULL`, key(vault), key(name))
		return affectedOne(res, err)
	}))
}

// RestoreSecret recreates a secret from versions (oldest first; the last
// becomes the latest), all of which must share one vault and name, and
// returns the latest. ErrSecretDeleted if the name is held by a deleted
// secret, ErrConflict if by a live one; ErrParentNotFound if the vault is
// missing.
func (db *DB) RestoreSecret(ctx context.Context, versions []SecretVersion) (SecretVersion, error) {
	if len(versions) == 0 {
		return SecretVersion{}, wrap("restore secret", errors.New("no versions"))
	}
	first := versions[0]
	for _, v := range versions {
		if err := validSecretVersion(v); err != nil {
			return SecretVersion{}, wrap("restore secret", err)
		}
		if key(v.VaultName) != key(first.VaultName) || key(v.Name) != key(first.Name) {
			return SecretVersion{}, wrap("restore secret", errors.New("versions of different secrets"))
		}
	}
	var out SecretVersion
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		var deleted sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT deleted_at FROM secrets WHERE vault_key = $1 AND name_key = $2`,
			key(first.VaultName), key(first.Name)).Scan(&deleted)
		switch {
		case err == nil && deleted.Valid:
			return ErrSecretDeleted
		case err == nil:
			return fmt.Errorf("%w: secret %s exists", ErrConflict, first.Name)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (vault_key, name_key, name) VALUES ($1, $2, $3)`,
			key(first.VaultName), key(first.Name), first.Name); err != nil {
			return err
		}
		for i, v := range versions {
			if err := insertSecretVersion(ctx, tx, v, int64(i+1)); err != nil {
				return err
			}
		}
		out, err = getSecretVersion(ctx, tx, first.VaultName, first.Name, "")
		return err
	})
	if err != nil {
		return SecretVersion{}, wrap("restore secret", err)
	}
	return out, nil
}

// PurgeVaultSecrets permanently deletes every secret of a vault, live or
// deleted. Deleting a vault through DeleteVault (or its resource group)
// already does this.
func (db *DB) PurgeVaultSecrets(ctx context.Context, vault string) error {
	return wrap("purge vault secrets", db.write(ctx, false, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE vault_key = $1`, key(vault))
		return err
	}))
}

// PurgeExpiredSecrets permanently deletes the soft-deleted secrets whose
// scheduled purge time is at or before now, and reports how many.
func (db *DB) PurgeExpiredSecrets(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE deleted_at IS NOT NULL AND scheduled_purge <= $1`,
			toTime(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), wrap("purge expired secrets", err)
}
