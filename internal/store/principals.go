package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const principalCols = `object_id, client_id, tenant_id, kind, display_name,
	subscription_id, resource_group, name, location, tags, created_at`

func scanPrincipal(s scanner) (Principal, error) {
	var (
		p                       Principal
		sub, rg, name, location sql.NullString
		tags                    sql.NullString
		created                 sql.NullInt64
	)
	if err := s.Scan(&p.ObjectID, &p.ClientID, &p.TenantID, &p.Kind, &p.DisplayName,
		&sub, &rg, &name, &location, &tags, &created); err != nil {
		return Principal{}, err
	}
	p.SubscriptionID, p.ResourceGroup, p.Name, p.Location = sub.String, rg.String, name.String, location.String
	var err error
	if p.Tags, err = fromTags(tags); err != nil {
		return Principal{}, err
	}
	p.CreatedAt = fromTime(created)
	return p, nil
}

// canonicalTenant returns the stored casing of a tenant ID, or
// ErrParentNotFound.
func canonicalTenant(ctx context.Context, q queryRower, id string) (string, error) {
	var out string
	err := q.QueryRowContext(ctx, `SELECT id FROM tenants WHERE id_key = $1`, key(id)).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrParentNotFound
	}
	return out, err
}

// canonicalPrincipal returns the stored casing of a principal's object ID,
// or ErrParentNotFound.
func canonicalPrincipal(ctx context.Context, q queryRower, objectID string) (string, error) {
	var out string
	err := q.QueryRowContext(ctx, `SELECT object_id FROM principals WHERE object_key = $1`, key(objectID)).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrParentNotFound
	}
	return out, err
}

func insertPrincipal(ctx context.Context, tx *sql.Tx, p Principal) error {
	tags, err := toTags(p.Tags)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO principals
		(object_key, object_id, client_key, client_id, tenant_key, tenant_id, kind, display_name,
		 subscription_key, subscription_id, rg_key, resource_group, name_key, name, location, tags, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		key(p.ObjectID), p.ObjectID, key(p.ClientID), p.ClientID, key(p.TenantID), p.TenantID,
		string(p.Kind), p.DisplayName,
		nullString(key(p.SubscriptionID)), nullString(p.SubscriptionID),
		nullString(key(p.ResourceGroup)), nullString(p.ResourceGroup),
		nullString(key(p.Name)), nullString(p.Name), nullString(p.Location),
		tags, toTime(p.CreatedAt))
	return err
}

func validPrincipalIDs(p Principal) error {
	if p.ObjectID == "" || p.ClientID == "" {
		return errors.New("empty object id or client id")
	}
	return nil
}

// CreatePrincipal inserts a principal (Kind defaults to
// KindServicePrincipal). ErrConflict on a duplicate object or client ID (or
// identity placement), ErrParentNotFound if the tenant (or, for a placed
// managed identity, the resource group) is missing. Prefer PutIdentity for
// managed identities.
func (db *DB) CreatePrincipal(ctx context.Context, p Principal) error {
	if err := validPrincipalIDs(p); err != nil {
		return wrap("create principal", err)
	}
	if p.Kind == "" {
		p.Kind = KindServicePrincipal
	}
	return wrap("create principal", db.write(ctx, true, func(tx *sql.Tx) error {
		var err error
		if p.TenantID, err = canonicalTenant(ctx, tx, p.TenantID); err != nil {
			return err
		}
		return insertPrincipal(ctx, tx, p)
	}))
}

// GetPrincipal returns a principal by object ID (case-insensitive).
func (db *DB) GetPrincipal(ctx context.Context, objectID string) (Principal, error) {
	p, err := scanPrincipal(db.sql.QueryRowContext(ctx,
		`SELECT `+principalCols+` FROM principals WHERE object_key = $1`, key(objectID)))
	if err != nil {
		return Principal{}, wrap("get principal", db.noRows(err))
	}
	return p, nil
}

// GetPrincipalByClientID returns a principal by client (application) ID
// (case-insensitive).
func (db *DB) GetPrincipalByClientID(ctx context.Context, clientID string) (Principal, error) {
	p, err := scanPrincipal(db.sql.QueryRowContext(ctx,
		`SELECT `+principalCols+` FROM principals WHERE client_key = $1`, key(clientID)))
	if err != nil {
		return Principal{}, wrap("get principal by client id", db.noRows(err))
	}
	return p, nil
}

// ListPrincipals returns the principals of a tenant ("" for all), ordered
// by object ID.
func (db *DB) ListPrincipals(ctx context.Context, tenantID string) ([]Principal, error) {
	var (
		ps  []Principal
		err error
	)
	if tenantID == "" {
		ps, err = collect(ctx, db.sql, scanPrincipal, `SELECT `+principalCols+` FROM principals ORDER BY object_key`)
	} else {
		ps, err = collect(ctx, db.sql, scanPrincipal, `SELECT `+principalCols+` FROM principals
			WHERE tenant_key = $1 ORDER BY object_key`, key(tenantID))
	}
	return ps, wrap("list principals", err)
}

const identityWhere = ` WHERE subscription_key = $1 AND rg_key = $2 AND name_key = $3`

// PutIdentity creates a user-assigned managed identity at
// p.SubscriptionID/p.ResourceGroup/p.Name, or, if one exists there (names
// case-insensitive), replaces its tags and keeps everything else (object,
// client and tenant IDs, name casing, location, CreatedAt). It returns the
// stored row and whether it was created. On create the caller supplies
// ObjectID and ClientID; TenantID defaults to the subscription's tenant,
// DisplayName to Name, and the subscription and resource group take their
// stored casing. ErrParentNotFound if the resource group is missing.
func (db *DB) PutIdentity(ctx context.Context, p Principal) (Principal, bool, error) {
	out, created, err := db.putIdentity(ctx, p)
	if err != nil {
		return Principal{}, false, wrap("put identity", err)
	}
	return out, created, nil
}

func (db *DB) putIdentity(ctx context.Context, p Principal) (Principal, bool, error) {
	if p.SubscriptionID == "" || p.ResourceGroup == "" || p.Name == "" {
		return Principal{}, false, errors.New("empty subscription, resource group or name")
	}
	switch p.Kind {
	case "":
		p.Kind = KindManagedIdentity
	case KindManagedIdentity:
	default:
		return Principal{}, false, fmt.Errorf("kind %q is not %q", p.Kind, KindManagedIdentity)
	}
	tags, err := toTags(p.Tags)
	if err != nil {
		return Principal{}, false, err
	}
	var (
		out     Principal
		created bool
	)
	err = db.write(ctx, true, func(tx *sql.Tx) error {
		var subTenant string
		err := tx.QueryRowContext(ctx, `SELECT g.subscription_id, g.name, s.tenant_id
			FROM resource_groups g JOIN subscriptions s ON s.id_key = g.subscription_key
			WHERE g.subscription_key = $1 AND g.name_key = $2`,
			key(p.SubscriptionID), key(p.ResourceGroup)).Scan(&p.SubscriptionID, &p.ResourceGroup, &subTenant)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		where := []any{key(p.SubscriptionID), key(p.ResourceGroup), key(p.Name)}
		var objectKey string
		err = tx.QueryRowContext(ctx, `SELECT object_key FROM principals`+identityWhere, where...).Scan(&objectKey)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, `UPDATE principals SET tags = $1 WHERE object_key = $2`, tags, objectKey); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			if err := validPrincipalIDs(p); err != nil {
				return err
			}
			if p.TenantID == "" {
				p.TenantID = subTenant
			} else if p.TenantID, err = canonicalTenant(ctx, tx, p.TenantID); err != nil {
				return err
			}
			if p.DisplayName == "" {
				p.DisplayName = p.Name
			}
			if err := insertPrincipal(ctx, tx, p); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		out, err = scanPrincipal(tx.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals`+identityWhere, where...))
		return err
	})
	return out, created, err
}

// GetIdentity returns the managed identity at subscription/resource
// group/name (case-insensitive).
func (db *DB) GetIdentity(ctx context.Context, subscriptionID, resourceGroup, name string) (Principal, error) {
	p, err := scanPrincipal(db.sql.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals`+identityWhere,
		key(subscriptionID), key(resourceGroup), key(name)))
	if err != nil {
		return Principal{}, wrap("get identity", db.noRows(err))
	}
	return p, nil
}

// ListIdentities returns the managed identities in a resource group, or in
// the whole subscription when resourceGroup is "", ordered by lower-cased
// resource group and name.
func (db *DB) ListIdentities(ctx context.Context, subscriptionID, resourceGroup string) ([]Principal, error) {
	var (
		ps  []Principal
		err error
	)
	if resourceGroup == "" {
		ps, err = collect(ctx, db.sql, scanPrincipal, `SELECT `+principalCols+` FROM principals
			WHERE subscription_key = $1 ORDER BY rg_key, name_key`, key(subscriptionID))
	} else {
		ps, err = collect(ctx, db.sql, scanPrincipal, `SELECT `+principalCols+` FROM principals
			WHERE subscription_key = $1 AND rg_key = $2 ORDER BY name_key`, key(subscriptionID), key(resourceGroup))
	}
	return ps, wrap("list identities", err)
}

// DeleteIdentity deletes a managed identity with its federated
// credentials, client secrets and role assignments. ErrNotFound if it is
// missing.
func (db *DB) DeleteIdentity(ctx context.Context, subscriptionID, resourceGroup, name string) error {
	return wrap("delete identity", db.write(ctx, true, func(tx *sql.Tx) error {
		var objectKey string
		err := tx.QueryRowContext(ctx, `SELECT object_key FROM principals`+identityWhere,
			key(subscriptionID), key(resourceGroup), key(name)).Scan(&objectKey)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE principal_key = $1`, objectKey); err != nil {
			return err
		}
		// Credentials and secrets go by ON DELETE CASCADE.
		_, err = tx.ExecContext(ctx, `DELETE FROM principals WHERE object_key = $1`, objectKey)
		return err
	}))
}

// AddClientSecret stores a client secret (its hash) for a principal.
// ErrParentNotFound if the principal is missing, ErrConflict if it already
// has a secret with this KeyID.
func (db *DB) AddClientSecret(ctx context.Context, s ClientSecret) error {
	if s.KeyID == "" {
		return wrap("add client secret", errors.New("empty key id"))
	}
	if s.Hash == nil {
		s.Hash = []byte{}
	}
	return wrap("add client secret", db.write(ctx, true, func(tx *sql.Tx) error {
		principalID, err := canonicalPrincipal(ctx, tx, s.PrincipalID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO client_secrets
			(principal_key, principal_id, key_id, hash, hint, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			key(principalID), principalID, s.KeyID, s.Hash, s.Hint, toTime(s.ExpiresAt), toTime(s.CreatedAt))
		return err
	}))
}

func scanSecret(sc scanner) (ClientSecret, error) {
	var (
		s                ClientSecret
		expires, created sql.NullInt64
	)
	if err := sc.Scan(&s.PrincipalID, &s.KeyID, &s.Hash, &s.Hint, &expires, &created); err != nil {
		return ClientSecret{}, err
	}
	s.ExpiresAt, s.CreatedAt = fromTime(expires), fromTime(created)
	return s, nil
}

// ListClientSecrets returns a principal's client secrets, oldest first.
func (db *DB) ListClientSecrets(ctx context.Context, principalID string) ([]ClientSecret, error) {
	ss, err := collect(ctx, db.sql, scanSecret, `SELECT principal_id, key_id, hash, hint, expires_at, created_at
		FROM client_secrets WHERE principal_key = $1 ORDER BY created_at, key_id`, key(principalID))
	return ss, wrap("list client secrets", err)
}
