package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const vaultCols = `name, subscription_id, resource_group, location, tags, tenant_id, sku, enable_rbac, retention_days, created_at`

func scanVault(s scanner) (Vault, error) {
	var (
		v       Vault
		tags    sql.NullString
		rbac    int
		created sql.NullInt64
	)
	if err := s.Scan(&v.Name, &v.SubscriptionID, &v.ResourceGroup, &v.Location, &tags, &v.TenantID, &v.SKU,
		&rbac, &v.SoftDeleteRetentionDays, &created); err != nil {
		return Vault{}, err
	}
	var err error
	if v.Tags, err = fromTags(tags); err != nil {
		return Vault{}, err
	}
	v.EnableRBACAuthorization = rbac != 0
	v.CreatedAt = fromTime(created)
	return v, nil
}

// PutVault creates a vault or updates the one with the same name in the
// same resource group, and reports whether it was created. An update keeps
// the stored name casing, location, tenant and CreatedAt. ErrConflict if
// the name is taken by a vault elsewhere; ErrParentNotFound if the
// resource group is missing.
func (db *DB) PutVault(ctx context.Context, v Vault) (Vault, bool, error) {
	if v.Name == "" {
		return Vault{}, false, wrap("put vault", errors.New("empty name"))
	}
	tags, err := toTags(v.Tags)
	if err != nil {
		return Vault{}, false, wrap("put vault", err)
	}
	rbac := 0
	if v.EnableRBACAuthorization {
		rbac = 1
	}
	var (
		out     Vault
		created bool
	)
	err = db.write(ctx, true, func(tx *sql.Tx) error {
		var subID, rgName string
		err := tx.QueryRowContext(ctx, `SELECT subscription_id, name FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, key(v.SubscriptionID), key(v.ResourceGroup)).Scan(&subID, &rgName)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		var sk, rk string
		err = tx.QueryRowContext(ctx, `SELECT subscription_key, rg_key FROM vaults WHERE name_key = $1`, key(v.Name)).Scan(&sk, &rk)
		switch {
		case err == nil:
			if sk != key(subID) || rk != key(rgName) {
				return fmt.Errorf("%w: vault name %s is in use", ErrConflict, v.Name)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE vaults SET tags = $1, sku = $2, enable_rbac = $3, retention_days = $4
				WHERE name_key = $5`, tags, v.SKU, rbac, v.SoftDeleteRetentionDays, key(v.Name)); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO vaults (name_key, name, subscription_key, subscription_id,
				rg_key, resource_group, location, tags, tenant_id, sku, enable_rbac, retention_days, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				key(v.Name), v.Name, key(subID), subID, key(rgName), rgName, v.Location, tags, v.TenantID, v.SKU,
				rbac, v.SoftDeleteRetentionDays, toTime(v.CreatedAt)); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		out, err = scanVault(tx.QueryRowContext(ctx, `SELECT `+vaultCols+` FROM vaults WHERE name_key = $1`, key(v.Name)))
		return err
	})
	if err != nil {
		return Vault{}, false, wrap("put vault", err)
	}
	return out, created, nil
}

// GetVault returns the vault with name in the resource group.
func (db *DB) GetVault(ctx context.Context, subscriptionID, resourceGroup, name string) (Vault, error) {
	v, err := scanVault(db.sql.QueryRowContext(ctx, `SELECT `+vaultCols+` FROM vaults
		WHERE name_key = $1 AND subscription_key = $2 AND rg_key = $3`, key(name), key(subscriptionID), key(resourceGroup)))
	if err != nil {
		return Vault{}, wrap("get vault", db.noRows(err))
	}
	return v, nil
}

// GetVaultByName returns the vault with the (globally unique) name.
func (db *DB) GetVaultByName(ctx context.Context, name string) (Vault, error) {
	v, err := scanVault(db.sql.QueryRowContext(ctx, `SELECT `+vaultCols+` FROM vaults WHERE name_key = $1`, key(name)))
	if err != nil {
		return Vault{}, wrap("get vault", db.noRows(err))
	}
	return v, nil
}

// ListVaults lists the vaults of a subscription, or of one resource group
// when resourceGroup is not empty, ordered by name.
func (db *DB) ListVaults(ctx context.Context, subscriptionID, resourceGroup string) ([]Vault, error) {
	if resourceGroup == "" {
		vs, err := collect(ctx, db.sql, scanVault, `SELECT `+vaultCols+` FROM vaults
			WHERE subscription_key = $1 ORDER BY name_key`, key(subscriptionID))
		return vs, wrap("list vaults", err)
	}
	vs, err := collect(ctx, db.sql, scanVault, `SELECT `+vaultCols+` FROM vaults
		WHERE subscription_key = $1 AND rg_key = $2 ORDER BY name_key`, key(subscriptionID), key(resourceGroup))
	return vs, wrap("list vaults", err)
}

// DeleteVault deletes a vault and the role assignments at or below it.
// ErrNotFound if it is missing.
func (db *DB) DeleteVault(ctx context.Context, subscriptionID, resourceGroup, name string) error {
	return wrap("delete vault", db.write(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM vaults WHERE name_key = $1 AND subscription_key = $2 AND rg_key = $3`,
			key(name), key(subscriptionID), key(resourceGroup))
		if err := affectedOne(res, err); err != nil {
			return err
		}
		return deleteScopeAndBelow(ctx, tx, "/subscriptions/"+key(subscriptionID)+"/resourcegroups/"+key(resourceGroup)+
			"/providers/microsoft.keyvault/vaults/"+key(name))
	}))
}
