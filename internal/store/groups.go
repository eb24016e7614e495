package store

import (
	"context"
	"database/sql"
	"errors"
	"unicode/utf8"
)

const groupCols = `subscription_id, name, location, tags, created_at`

func scanGroup(s scanner) (ResourceGroup, error) {
	var (
		g       ResourceGroup
		tags    sql.NullString
		created sql.NullInt64
	)
	if err := s.Scan(&g.SubscriptionID, &g.Name, &g.Location, &tags, &created); err != nil {
		return ResourceGroup{}, err
	}
	var err error
	if g.Tags, err = fromTags(tags); err != nil {
		return ResourceGroup{}, err
	}
	g.CreatedAt = fromTime(created)
	return g, nil
}

// PutResourceGroup creates a resource group or updates an existing one
// (same name, case-insensitive) and reports whether it was created. An
// update replaces only the tags: the stored name casing, location and
// CreatedAt stay. ErrParentNotFound if the subscription is missing.
func (db *DB) PutResourceGroup(ctx context.Context, g ResourceGroup) (ResourceGroup, bool, error) {
	if g.Name == "" {
		return ResourceGroup{}, false, wrap("put resource group", errors.New("empty name"))
	}
	tags, err := toTags(g.Tags)
	if err != nil {
		return ResourceGroup{}, false, wrap("put resource group", err)
	}
	var (
		out     ResourceGroup
		created bool
	)
	err = db.write(ctx, false, func(tx *sql.Tx) error {
		var subID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM subscriptions WHERE id_key = $1`, key(g.SubscriptionID)).Scan(&subID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		existing, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, key(subID), key(g.Name)))
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, `UPDATE resource_groups SET tags = $1
				WHERE subscription_key = $2 AND name_key = $3`, tags, key(subID), key(g.Name)); err != nil {
				return err
			}
			existing.Tags = g.Tags
			out, created = existing, false
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO resource_groups
			(subscription_key, subscription_id, name_key, name, location, tags, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			key(subID), subID, key(g.Name), g.Name, g.Location, tags, toTime(g.CreatedAt)); err != nil {
			return err
		}
		out, err = scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, key(subID), key(g.Name)))
		created = true
		return err
	})
	if err != nil {
		return ResourceGroup{}, false, wrap("put resource group", err)
	}
	return out, created, nil
}

// GetResourceGroup returns a resource group by subscription and name
// (both case-insensitive).
func (db *DB) GetResourceGroup(ctx context.Context, subscriptionID, name string) (ResourceGroup, error) {
	g, err := scanGroup(db.sql.QueryRowContext(ctx, `SELECT `+groupCols+` FROM resource_groups
		WHERE subscription_key = $1 AND name_key = $2`, key(subscriptionID), key(name)))
	if err != nil {
		return ResourceGroup{}, wrap("get resource group", db.noRows(err))
	}
	return g, nil
}

// ListResourceGroups returns the resource groups of a subscription,
// ordered by lower-cased name.
func (db *DB) ListResourceGroups(ctx context.Context, subscriptionID string) ([]ResourceGroup, error) {
	gs, err := collect(ctx, db.sql, scanGroup, `SELECT `+groupCols+` FROM resource_groups
		WHERE subscription_key = $1 ORDER BY name_key`, key(subscriptionID))
	return gs, wrap("list resource groups", err)
}

// DeleteResourceGroup deletes a resource group with the managed identities
// in it, their federated credentials, client secrets and role assignments,
// and every role assignment whose scope is the group or below it.
// ErrNotFound if the group is missing.
func (db *DB) DeleteResourceGroup(ctx context.Context, subscriptionID, name string) error {
	sub, rg := key(subscriptionID), key(name)
	return wrap("delete resource group", db.write(ctx, true, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, sub, rg).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE principal_key IN
			(SELECT object_key FROM principals WHERE subscription_key = $1 AND rg_key = $2)`, sub, rg); err != nil {
			return err
		}
		if err := deleteScopeAndBelow(ctx, tx, "/subscriptions/"+sub+"/resourcegroups/"+rg); err != nil {
			return err
		}
		// Identities, and with them their credentials and secrets, go by
		// ON DELETE CASCADE.
		_, err := tx.ExecContext(ctx, `DELETE FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, sub, rg)
		return err
	}))
}

// deleteScopeAndBelow deletes the role assignments at scope (a scope key)
// or below it.
func deleteScopeAndBelow(ctx context.Context, tx *sql.Tx, scope string) error {
	below := scope + "/"
	_, err := tx.ExecContext(ctx, `DELETE FROM role_assignments
		WHERE scope_key = $1 OR substr(scope_key, 1, $2) = $3`,
		scope, utf8.RuneCountInString(below), below)
	return err
}
