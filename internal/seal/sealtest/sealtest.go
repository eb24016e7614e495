// Package sealtest holds the checks that tests of keys sealed at rest
// share: reading every stored private key column of a wif database, and
// telling whether a value is a private key in the clear.
package sealtest

import (
	"crypto/x509"
	"database/sql"
	"testing"
)

// StoredPrivateKeys returns every non-null private_key column of the
// signing_keys and cluster_keys tables as stored, keyed "signing/<kid>" and
// "cluster/<kid>".
func StoredPrivateKeys(tb testing.TB, db *sql.DB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, table := range []struct{ prefix, name string }{{"signing/", "signing_keys"}, {"cluster/", "cluster_keys"}} {
		rows, err := db.Query(`SELECT kid, private_key FROM ` + table.name + ` WHERE private_key IS NOT NULL`)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			var kid string
			var v []byte
			if err := rows.Scan(&kid, &v); err != nil {
				tb.Fatal(err)
			}
			out[table.prefix+kid] = v
		}
		if err := rows.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// ParsesAsPrivateKey reports whether b is a private key in the clear, in
// any DER form wif could have stored (PKCS #8, PKCS #1, SEC 1).
func ParsesAsPrivateKey(b []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(b); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(b)
	return err == nil
}
