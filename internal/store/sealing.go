package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealer encrypts private keys at rest (seal.FileKEK in the server). aad
// binds a sealed value to its row, so a value copied to another row does
// not open.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// Option configures Open.
type Option func(*DB)

// WithSealer makes the store seal the private halves of tenants' signing
// keys and of clusters' managed service-account keys with s, so that
// callers see plaintext and the database never holds it. The first Open
// with a sealer seals the rows an older version stored in the clear; every
// Open refuses a store sealed under another key (ErrKEKMismatch).
//
// Without a sealer, keys are stored as given (for tests), and a store that
// was ever opened with one refuses to open.
func WithSealer(s Sealer) Option { return func(db *DB) { db.sealer = s } }

// ErrKEKMismatch: the store was sealed with a different key-encryption key
// than the one it is opened with.
var ErrKEKMismatch = errors.New("sealed with a different key-encryption key")

// kekCheckSetting is the settings key of the check value: a constant sealed
// on the first start with a sealer, opened on every start after, so that a
// wrong key is detected before anything is read or written with it.
const kekCheckSetting = "wif.kek-check"

var kekCheckAAD = []byte("wif-kek-check/1")

// The additional data that binds a sealed private key to its row: the
// tenant (or the issuer) in lower case and the kid, which is
// case-sensitive.
func signingKeyAAD(tenantID, kid string) []byte {
	return rowAAD("wif-signing-key/1", key(tenantID), kid)
}

func clusterKeyAAD(issuerID, kid string) []byte {
	return rowAAD("wif-cluster-key/1", key(issuerID), kid)
}

func rowAAD(purpose, owner, kid string) []byte {
	b := make([]byte, 0, len(purpose)+2+len(owner)+len(kid))
	b = append(b, purpose...)
	b = append(b, 0)
	b = append(b, owner...)
	b = append(b, 0)
	return append(b, kid...)
}

// plaintextKey reports whether a stored private key is in the clear: a
// PKCS#8 DER structure starts with a SEQUENCE tag, which no sealed value
// does (they start with their format byte, 1).
func plaintextKey(b []byte) bool { return len(b) > 0 && b[0] == 0x30 }

// sealKey returns the stored form of a private key; empty or absent keys
// stay as they are.
func (db *DB) sealKey(pt, aad []byte) ([]byte, error) {
	if db.sealer == nil || len(pt) == 0 {
		return pt, nil
	}
	ct, err := db.sealer.Seal(pt, aad)
	if err != nil {
		return nil, fmt.Errorf("seal private key: %w", err)
	}
	return ct, nil
}

// openKey returns the private key of a stored value. A sealed store holds
// no plaintext after Open, so any value that does not open is an error,
// plaintext included: accepting it would let whoever can write the
// database plant a key of their own.
func (db *DB) openKey(stored, aad []byte) ([]byte, error) {
	if db.sealer == nil || len(stored) == 0 {
		return stored, nil
	}
	pt, err := db.sealer.Open(stored, aad)
	if err != nil {
		return nil, fmt.Errorf("open private key: %w", err)
	}
	return pt, nil
}

// sealedRow is a stored private key, for the migration.
type sealedRow struct {
	table, owner, kid string
	value             []byte
}

func (r sealedRow) aad() []byte {
	if r.table == "signing_keys" {
		return signingKeyAAD(r.owner, r.kid)
	}
	return clusterKeyAAD(r.owner, r.kid)
}

// sealAtRest checks the key-encryption key against the store's check value.
// On the first start with a sealer (no check value yet) it seals, in one
// transaction with writing the check value, every private key an older
// version stored in the clear; a crash leaves the store as it was, and a
// later start finds the check value and seals nothing. A plaintext row in
// a store that has a check value is not sealed but refused when read, so
// that a key planted in the database never becomes a sealed one. When rows
// were sealed, the dialect's compact rewrites the database so that freed
// pages keep no copy of the plaintext.
func (db *DB) sealAtRest(ctx context.Context) error {
	sealed := 0
	err := db.write(ctx, false, func(tx *sql.Tx) error {
		sealed = 0
		check, err := kekCheck(ctx, tx)
		if err != nil {
			return err
		}
		switch {
		case db.sealer == nil && check != nil:
			return fmt.Errorf("%w: the store is sealed and was opened without its key-encryption key", ErrKEKMismatch)
		case db.sealer == nil:
			return nil
		case check != nil:
			if _, err := db.sealer.Open(check, kekCheckAAD); err != nil {
				return ErrKEKMismatch
			}
			return nil
		}
		rows, err := storedKeys(ctx, tx)
		if err != nil {
			return err
		}
		// Sealed rows without a check value (it was lost): they must open
		// with this key.
		for _, r := range rows {
			if len(r.value) == 0 || plaintextKey(r.value) {
				continue
			}
			if _, err := db.sealer.Open(r.value, r.aad()); err != nil {
				return ErrKEKMismatch
			}
			break
		}
		for _, r := range rows {
			if !plaintextKey(r.value) {
				continue
			}
			ct, err := db.sealer.Seal(r.value, r.aad())
			if err != nil {
				return fmt.Errorf("seal %s %s: %w", r.table, r.kid, err)
			}
			q := `UPDATE signing_keys SET private_key = $1 WHERE tenant_key = $2 AND kid = $3 AND private_key = $4`
			if r.table == "cluster_keys" {
				q = `UPDATE cluster_keys SET private_key = $1 WHERE issuer_id = $2 AND kid = $3 AND private_key = $4`
			}
			if err := affectedOne(tx.ExecContext(ctx, q, ct, r.owner, r.kid, r.value)); err != nil {
				return fmt.Errorf("seal %s %s: %w", r.table, r.kid, err)
			}
			sealed++
		}
		ct, err := db.sealer.Seal(kekCheckAAD, kekCheckAAD)
		if err != nil {
			return fmt.Errorf("seal check value: %w", err)
		}
		// Of two replicas starting on a new store, the first check value
		// wins; the other must then open it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
			kekCheckSetting, base64.StdEncoding.EncodeToString(ct)); err != nil {
			return err
		}
		if check, err = kekCheck(ctx, tx); err != nil {
			return err
		}
		if _, err := db.sealer.Open(check, kekCheckAAD); err != nil {
			return ErrKEKMismatch
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seal keys at rest: %w", err)
	}
	if sealed > 0 && db.d.compact != nil {
		if err := db.d.compact(ctx, db.sql); err != nil {
			return fmt.Errorf("seal keys at rest: compact: %w", err)
		}
	}
	return nil
}

// kekCheck returns the stored check value, nil if there is none.
func kekCheck(ctx context.Context, tx *sql.Tx) ([]byte, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, kekCheckSetting).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: the check value is corrupt", ErrKEKMismatch)
	}
	return b, nil
}

// storedKeys returns every stored private key, as stored.
func storedKeys(ctx context.Context, tx *sql.Tx) ([]sealedRow, error) {
	var out []sealedRow
	for _, q := range []struct{ table, query string }{
		{"signing_keys", `SELECT tenant_key, kid, private_key FROM signing_keys`},
		{"cluster_keys", `SELECT issuer_id, kid, private_key FROM cluster_keys WHERE private_key IS NOT NULL`},
	} {
		rows, err := collect(ctx, tx, func(s scanner) (sealedRow, error) {
			r := sealedRow{table: q.table}
			return r, s.Scan(&r.owner, &r.kid, &r.value)
		}, q.query)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
