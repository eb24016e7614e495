package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const clusterCols = `subscription_id, resource_group, name, location, tags, tenant_id, properties, issuer_id, created_at`

func scanCluster(s scanner) (Cluster, error) {
	var (
		c       Cluster
		tags    sql.NullString
		props   string
		issuer  sql.NullString
		created sql.NullInt64
	)
	if err := s.Scan(&c.SubscriptionID, &c.ResourceGroup, &c.Name, &c.Location, &tags, &c.TenantID, &props, &issuer, &created); err != nil {
		return Cluster{}, err
	}
	var err error
	if c.Tags, err = fromTags(tags); err != nil {
		return Cluster{}, err
	}
	c.Properties = []byte(props)
	c.IssuerID = issuer.String
	c.CreatedAt = fromTime(created)
	return c, nil
}

// PutCluster creates a cluster or replaces the stored one with the same
// name (keeping its name casing, location, tenant and CreatedAt), and
// reports whether it was created. An issuer id, once set, cannot change.
// ErrParentNotFound if the resource group is missing.
func (db *DB) PutCluster(ctx context.Context, c Cluster) (Cluster, bool, error) {
	if c.Name == "" {
		return Cluster{}, false, wrap("put cluster", errors.New("empty name"))
	}
	tags, err := toTags(c.Tags)
	if err != nil {
		return Cluster{}, false, wrap("put cluster", err)
	}
	if len(c.Properties) == 0 {
		c.Properties = []byte("{}")
	}
	var (
		out     Cluster
		created bool
	)
	err = db.write(ctx, true, func(tx *sql.Tx) error {
		var subID, rgName string
		err := tx.QueryRowContext(ctx, `SELECT subscription_id, name FROM resource_groups
			WHERE subscription_key = $1 AND name_key = $2`, key(c.SubscriptionID), key(c.ResourceGroup)).Scan(&subID, &rgName)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrParentNotFound
		} else if err != nil {
			return err
		}
		where := `subscription_key = $1 AND rg_key = $2 AND name_key = $3`
		cur, err := scanCluster(tx.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters WHERE `+where, key(subID), key(rgName), key(c.Name)))
		switch {
		case err == nil:
			issuer := cur.IssuerID
			if issuer == "" {
				issuer = c.IssuerID
			}
			if _, err := tx.ExecContext(ctx, `UPDATE clusters SET tags = $4, properties = $5, issuer_id = $6 WHERE `+where,
				key(subID), key(rgName), key(c.Name), tags, string(c.Properties), nullString(issuer)); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO clusters (subscription_key, subscription_id, rg_key, resource_group,
				name_key, name, location, tags, tenant_id, properties, issuer_id, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				key(subID), subID, key(rgName), rgName, key(c.Name), c.Name, c.Location, tags, c.TenantID,
				string(c.Properties), nullString(c.IssuerID), toTime(c.CreatedAt)); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		out, err = scanCluster(tx.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters WHERE `+where, key(subID), key(rgName), key(c.Name)))
		return err
	})
	if err != nil {
		return Cluster{}, false, wrap("put cluster", err)
	}
	return out, created, nil
}

// GetCluster returns a cluster by subscription, group and name.
func (db *DB) GetCluster(ctx context.Context, subscriptionID, resourceGroup, name string) (Cluster, error) {
	c, err := scanCluster(db.sql.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters
		WHERE subscription_key = $1 AND rg_key = $2 AND name_key = $3`, key(subscriptionID), key(resourceGroup), key(name)))
	if err != nil {
		return Cluster{}, wrap("get cluster", db.noRows(err))
	}
	return c, nil
}

// GetClusterByIssuer returns the cluster whose OIDC issuer has issuerID.
func (db *DB) GetClusterByIssuer(ctx context.Context, issuerID string) (Cluster, error) {
	c, err := scanCluster(db.sql.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters WHERE issuer_id = $1`, key(issuerID)))
	if err != nil {
		return Cluster{}, wrap("get cluster by issuer", db.noRows(err))
	}
	return c, nil
}

// ListClusters lists the clusters of a subscription, or of one resource
// group when resourceGroup is not empty.
func (db *DB) ListClusters(ctx context.Context, subscriptionID, resourceGroup string) ([]Cluster, error) {
	if resourceGroup == "" {
		cs, err := collect(ctx, db.sql, scanCluster, `SELECT `+clusterCols+` FROM clusters
			WHERE subscription_key = $1 ORDER BY name_key`, key(subscriptionID))
		return cs, wrap("list clusters", err)
	}
	cs, err := collect(ctx, db.sql, scanCluster, `SELECT `+clusterCols+` FROM clusters
		WHERE subscription_key = $1 AND rg_key = $2 ORDER BY name_key`, key(subscriptionID), key(resourceGroup))
	return cs, wrap("list clusters", err)
}

// DeleteCluster deletes a cluster, its issuer's keys and the role
// assignments at or below it. ErrNotFound if it is missing.
func (db *DB) DeleteCluster(ctx context.Context, subscriptionID, resourceGroup, name string) error {
	return wrap("delete cluster", db.write(ctx, true, func(tx *sql.Tx) error {
		var issuer sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT issuer_id FROM clusters WHERE subscription_key = $1 AND rg_key = $2 AND name_key = $3`,
			key(subscriptionID), key(resourceGroup), key(name)).Scan(&issuer)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if issuer.Valid {
			if _, err := tx.ExecContext(ctx, `DELETE FROM cluster_keys WHERE issuer_id = $1`, issuer.String); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM clusters WHERE subscription_key = $1 AND rg_key = $2 AND name_key = $3`,
			key(subscriptionID), key(resourceGroup), key(name)); err != nil {
			return err
		}
		return deleteScopeAndBelow(ctx, tx, "/subscriptions/"+key(subscriptionID)+"/resourcegroups/"+key(resourceGroup)+
			"/providers/microsoft.containerservice/managedclusters/"+key(name))
	}))
}

func scanClusterKey(s scanner) (ClusterKey, error) {
	var (
		k                ClusterKey
		created, retired sql.NullInt64
	)
	if err := s.Scan(&k.IssuerID, &k.KID, &k.Alg, &k.PrivateKey, &k.PublicKey, &created, &retired); err != nil {
		return ClusterKey{}, err
	}
	k.CreatedAt, k.RetireAt = fromTime(created), fromTime(retired)
	return k, nil
}

// ListClusterKeys returns the signing keys of an issuer, oldest first.
func (db *DB) ListClusterKeys(ctx context.Context, issuerID string) ([]ClusterKey, error) {
	ks, err := collect(ctx, db.sql, scanClusterKey, `SELECT issuer_id, kid, alg, private_key, public_key, created_at, retire_at
		FROM cluster_keys WHERE issuer_id = $1 ORDER BY created_at, kid`, key(issuerID))
	if err != nil {
		return nil, wrap("list cluster keys", err)
	}
	for i, k := range ks {
		if ks[i].PrivateKey, err = db.openKey(k.PrivateKey, clusterKeyAAD(k.IssuerID, k.KID)); err != nil {
			return nil, wrap("list cluster keys", fmt.Errorf("key %s: %w", k.KID, err))
		}
	}
	return ks, nil
}

// ReplaceClusterKeys replaces all keys of an issuer in one transaction
// (sealing their private halves with the store's sealer).
func (db *DB) ReplaceClusterKeys(ctx context.Context, issuerID string, keys []ClusterKey) error {
	return wrap("replace cluster keys", db.write(ctx, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM cluster_keys WHERE issuer_id = $1`, key(issuerID)); err != nil {
			return err
		}
		for _, k := range keys {
			priv, err := db.sealKey(k.PrivateKey, clusterKeyAAD(issuerID, k.KID))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_keys (issuer_id, kid, alg, private_key, public_key, created_at, retire_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, key(issuerID), k.KID, k.Alg, priv, k.PublicKey,
				toTime(k.CreatedAt), toTime(k.RetireAt)); err != nil {
				return err
			}
		}
		return nil
	}))
}
