package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// InsertSigningKey stores a tenant's signing key (sealing its private half
// with the store's sealer). ErrConflict if the kid
// (case-sensitive, unique across tenants) exists, ErrParentNotFound if the
// tenant is missing.
func (db *DB) InsertSigningKey(ctx context.Context, k SigningKey) error {
	if k.KID == "" {
		return wrap("insert signing key", errors.New("empty kid"))
	}
	return wrap("insert signing key", db.write(ctx, true, func(tx *sql.Tx) error {
		tenantID, err := canonicalTenant(ctx, tx, k.TenantID)
		if err != nil {
			return err
		}
		priv, err := db.sealKey(k.PrivateKey, signingKeyAAD(tenantID, k.KID))
		if err != nil {
			return err
		}
		if priv == nil {
			priv = []byte{}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys
			(kid, tenant_key, tenant_id, alg, private_key, created_at, activate_at, retire_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			k.KID, key(tenantID), tenantID, k.Alg, priv,
			toTime(k.CreatedAt), toTime(k.ActivateAt), toTime(k.RetireAt))
		return err
	}))
}

func scanSigningKey(s scanner) (SigningKey, error) {
	var (
		k                         SigningKey
		created, activate, retire sql.NullInt64
	)
	if err := s.Scan(&k.TenantID, &k.KID, &k.Alg, &k.PrivateKey, &created, &activate, &retire); err != nil {
		return SigningKey{}, err
	}
	k.CreatedAt, k.ActivateAt, k.RetireAt = fromTime(created), fromTime(activate), fromTime(retire)
	return k, nil
}

// ListSigningKeys returns a tenant's signing keys ordered by ActivateAt
// (then kid).
func (db *DB) ListSigningKeys(ctx context.Context, tenantID string) ([]SigningKey, error) {
	ks, err := collect(ctx, db.sql, scanSigningKey, `SELECT tenant_id, kid, alg, private_key,
		created_at, activate_at, retire_at FROM signing_keys
		WHERE tenant_key = $1 ORDER BY activate_at, kid`, key(tenantID))
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	for i, k := range ks {
		if ks[i].PrivateKey, err = db.openKey(k.PrivateKey, signingKeyAAD(k.TenantID, k.KID)); err != nil {
			return nil, wrap("list signing keys", fmt.Errorf("key %s: %w", k.KID, err))
		}
	}
	return ks, nil
}

// DeleteSigningKey deletes a tenant's signing key; ErrNotFound if the
// tenant has no key with this kid.
func (db *DB) DeleteSigningKey(ctx context.Context, tenantID, kid string) error {
	return wrap("delete signing key", db.write(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE tenant_key = $1 AND kid = $2`, key(tenantID), kid)
		return affectedOne(res, err)
	}))
}
