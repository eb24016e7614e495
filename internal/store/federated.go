package store

import (
	"context"
	"database/sql"
	"errors"
)

const ficCols = `principal_id, name, issuer, subject, audience, description, expression, created_at, updated_at`

// ficClashQuery counts other credentials of a principal with the same
// issuer and (non-empty) subject. "subject <> ”" lets SQLite use the
// partial unique index on (principal, issuer, subject) instead of scanning
// every credential of the issuer.
const ficClashQuery = `SELECT COUNT(*) FROM federated_credentials
	WHERE principal_key = $1 AND issuer = $2 AND subject = $3 AND subject <> '' AND name_key <> $4`

func scanFIC(s scanner) (FederatedCredential, error) {
	var (
		f                FederatedCredential
		created, updated sql.NullInt64
	)
	if err := s.Scan(&f.PrincipalID, &f.Name, &f.Issuer, &f.Subject, &f.Audience, &f.Description,
		&f.Expression, &created, &updated); err != nil {
		return FederatedCredential{}, err
	}
	f.CreatedAt, f.UpdatedAt = fromTime(created), fromTime(updated)
	return f, nil
}

const ficWhere = ` WHERE principal_key = $1 AND name_key = $2`

// PutFederatedCredential creates or updates (same name, case-insensitive)
// a federated credential on a principal, in one write transaction, and
// reports whether it was created.
//
// On update the stored name casing and CreatedAt stay and UpdatedAt is set
// to fic.UpdatedAt (fic.CreatedAt when zero: callers pass "now" in either).
// On create UpdatedAt likewise defaults to CreatedAt.
//
// Errors: ErrParentNotFound if the principal is missing; ErrConflict if
// another credential of the principal has the same issuer and the same
// non-empty subject; ErrLimit if creating would exceed maxPerPrincipal
// credentials on the principal (maxPerPrincipal <= 0: no limit).
func (db *DB) PutFederatedCredential(ctx context.Context, fic FederatedCredential, maxPerPrincipal int) (FederatedCredential, bool, error) {
	if fic.Name == "" {
		return FederatedCredential{}, false, wrap("put federated credential", errors.New("empty name"))
	}
	if fic.UpdatedAt.IsZero() {
		fic.UpdatedAt = fic.CreatedAt
	}
	var (
		out     FederatedCredential
		created bool
	)
	err := db.write(ctx, true, func(tx *sql.Tx) error {
		// Lock the principal so concurrent writers on it serialise (the
		// limit and the issuer+subject rule read before they write).
		var principalID string
		err := tx.QueryRowContext(ctx, `SELECT object_id FROM principals WHERE object_key = $1`+db.d.forUpdate,
			key(fic.PrincipalID)).Scan(&principalID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		pk, nk := key(principalID), key(fic.Name)

		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM federated_credentials`+ficWhere, pk, nk).Scan(&exists); err != nil {
			return err
		}
		if fic.Subject != "" {
			var clash int
			if err := tx.QueryRowContext(ctx, ficClashQuery,
				pk, fic.Issuer, fic.Subject, nk).Scan(&clash); err != nil {
				return err
			}
			if clash > 0 {
				return ErrConflict
			}
		}
		if exists > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE federated_credentials SET issuer = $3, subject = $4,
				audience = $5, description = $6, expression = $7, updated_at = $8`+ficWhere,
				pk, nk, fic.Issuer, fic.Subject, fic.Audience, fic.Description, fic.Expression,
				toTime(fic.UpdatedAt)); err != nil {
				return err
			}
		} else {
			if maxPerPrincipal > 0 {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM federated_credentials
					WHERE principal_key = $1`, pk).Scan(&n); err != nil {
					return err
				}
				if n >= maxPerPrincipal {
					return ErrLimit
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO federated_credentials
				(principal_key, principal_id, name_key, name, issuer, subject, audience, description,
				 expression, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				pk, principalID, nk, fic.Name, fic.Issuer, fic.Subject, fic.Audience, fic.Description,
				fic.Expression, toTime(fic.CreatedAt), toTime(fic.UpdatedAt)); err != nil {
				return err
			}
			created = true
		}
		out, err = scanFIC(tx.QueryRowContext(ctx, `SELECT `+ficCols+` FROM federated_credentials`+ficWhere, pk, nk))
		return err
	})
	if err != nil {
		return FederatedCredential{}, false, wrap("put federated credential", err)
	}
	return out, created, nil
}

// GetFederatedCredential returns a principal's federated credential by
// name (case-insensitive).
func (db *DB) GetFederatedCredential(ctx context.Context, principalID, name string) (FederatedCredential, error) {
	f, err := scanFIC(db.sql.QueryRowContext(ctx, `SELECT `+ficCols+` FROM federated_credentials`+ficWhere,
		key(principalID), key(name)))
	if err != nil {
		return FederatedCredential{}, wrap("get federated credential", db.noRows(err))
	}
	return f, nil
}

// ListFederatedCredentials returns a principal's federated credentials
// ordered by lower-cased name.
func (db *DB) ListFederatedCredentials(ctx context.Context, principalID string) ([]FederatedCredential, error) {
	fs, err := collect(ctx, db.sql, scanFIC, `SELECT `+ficCols+` FROM federated_credentials
		WHERE principal_key = $1 ORDER BY name_key`, key(principalID))
	return fs, wrap("list federated credentials", err)
}

// DeleteFederatedCredential deletes a principal's federated credential by
// name (case-insensitive); ErrNotFound if it is missing.
func (db *DB) DeleteFederatedCredential(ctx context.Context, principalID, name string) error {
	return wrap("delete federated credential", db.write(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM federated_credentials`+ficWhere, key(principalID), key(name))
		return affectedOne(res, err)
	}))
}

// IssuerKnown reports whether any federated credential names issuer
// (exact, case-sensitive match).
func (db *DB) IssuerKnown(ctx context.Context, issuer string) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM
		(SELECT 1 FROM federated_credentials WHERE issuer = $1 LIMIT 1) AS t`, issuer).Scan(&n)
	if err != nil {
		return false, wrap("issuer known", err)
	}
	return n > 0, nil
}

// ListIssuers returns the distinct issuers of all federated credentials,
// sorted.
func (db *DB) ListIssuers(ctx context.Context) ([]string, error) {
	is, err := collect(ctx, db.sql, func(s scanner) (string, error) {
		var v string
		err := s.Scan(&v)
		return v, err
	}, `SELECT DISTINCT issuer FROM federated_credentials ORDER BY issuer`)
	return is, wrap("list issuers", err)
}

// CountFederatedCredentials returns the number of federated credentials
// across all principals.
func (db *DB) CountFederatedCredentials(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM federated_credentials`).Scan(&n); err != nil {
		return 0, wrap("count federated credentials", err)
	}
	return n, nil
}

// affectedOne turns a statement that changed no row into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
