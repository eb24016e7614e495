package store

import (
	"context"
	"database/sql"
	"errors"
)

// CreateTenant inserts a tenant; ErrConflict if its ID exists.
func (db *DB) CreateTenant(ctx context.Context, t Tenant) error {
	if t.ID == "" {
		return wrap("create tenant", errors.New("empty id"))
	}
	return wrap("create tenant", db.write(ctx, false, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id_key, id, created_at) VALUES ($1, $2, $3)`,
			key(t.ID), t.ID, toTime(t.CreatedAt))
		return err
	}))
}

const tenantCols = `id, created_at`

func scanTenant(s scanner) (Tenant, error) {
	var t Tenant
	var created sql.NullInt64
	if err := s.Scan(&t.ID, &created); err != nil {
		return Tenant{}, err
	}
	t.CreatedAt = fromTime(created)
	return t, nil
}

// GetTenant returns the tenant with the given ID (case-insensitive).
func (db *DB) GetTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(db.sql.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id_key = $1`, key(id)))
	if err != nil {
		return Tenant{}, wrap("get tenant", db.noRows(err))
	}
	return t, nil
}

// TenantExists reports whether a tenant with the given ID exists
// (case-insensitive). It reads the store each time; the token service puts
// a cache in front of it.
func (db *DB) TenantExists(ctx context.Context, id string) (bool, error) {
	_, err := db.GetTenant(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ListTenants returns every tenant, ordered by ID.
func (db *DB) ListTenants(ctx context.Context) ([]Tenant, error) {
	ts, err := collect(ctx, db.sql, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY id_key`)
	return ts, wrap("list tenants", err)
}

// CreateSubscription inserts a subscription; ErrParentNotFound if its
// tenant is missing, ErrConflict if its ID exists. TenantID is stored with
// the tenant's casing.
func (db *DB) CreateSubscription(ctx context.Context, s Subscription) error {
	if s.ID == "" {
		return wrap("create subscription", errors.New("empty id"))
	}
	return wrap("create subscription", db.write(ctx, false, func(tx *sql.Tx) error {
		var tenantID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM tenants WHERE id_key = $1`, key(s.TenantID)).Scan(&tenantID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions
			(id_key, id, tenant_key, tenant_id, display_name, state, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			key(s.ID), s.ID, key(tenantID), tenantID, s.DisplayName, s.State, toTime(s.CreatedAt))
		return err
	}))
}

const subscriptionCols = `id, tenant_id, display_name, state, created_at`

func scanSubscription(sc scanner) (Subscription, error) {
	var s Subscription
	var created sql.NullInt64
	if err := sc.Scan(&s.ID, &s.TenantID, &s.DisplayName, &s.State, &created); err != nil {
		return Subscription{}, err
	}
	s.CreatedAt = fromTime(created)
	return s, nil
}

// GetSubscription returns the subscription with the given ID
// (case-insensitive).
func (db *DB) GetSubscription(ctx context.Context, id string) (Subscription, error) {
	s, err := scanSubscription(db.sql.QueryRowContext(ctx,
		`SELECT `+subscriptionCols+` FROM subscriptions WHERE id_key = $1`, key(id)))
	if err != nil {
		return Subscription{}, wrap("get subscription", db.noRows(err))
	}
	return s, nil
}

// ListSubscriptions returns the subscriptions of a tenant ("" for all),
// ordered by ID.
func (db *DB) ListSubscriptions(ctx context.Context, tenantID string) ([]Subscription, error) {
	var (
		ss  []Subscription
		err error
	)
	if tenantID == "" {
		ss, err = collect(ctx, db.sql, scanSubscription,
			`SELECT `+subscriptionCols+` FROM subscriptions ORDER BY id_key`)
	} else {
		ss, err = collect(ctx, db.sql, scanSubscription,
			`SELECT `+subscriptionCols+` FROM subscriptions WHERE tenant_key = $1 ORDER BY id_key`, key(tenantID))
	}
	return ss, wrap("list subscriptions", err)
}
