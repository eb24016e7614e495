package keyvault

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wifproject/wif/internal/seal"
)

func TestValueAAD(t *testing.T) {
	// The bytes are part of the sealed format: values sealed by earlier
	// versions must keep opening.
	if got, want := valueAAD("Vault", "Name", "ABC"), []byte("wif-kv-secret/1\x00vault\x00name\x00abc"); !bytes.Equal(got, want) {
		t.Errorf("valueAAD = %q, want %q", got, want)
	}
	if string(backupAAD) != "wif-kv-secret-backup/1" {
		t.Errorf("backupAAD = %q", backupAAD)
	}
	k, err := seal.NewKEK(bytes.Repeat([]byte{1}, seal.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	aad := valueAAD("vault", "name", "abc")
	ct, err := k.Seal([]byte("plain"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open(ct, valueAAD("VAULT", "name", "ABC")); err != nil || string(pt) != "plain" {
		t.Errorf("open with other case: %q %v", pt, err)
	}
	for name, aad := range map[string][]byte{
		"other version": valueAAD("vault", "name", "abd"),
		"other secret":  valueAAD("vault", "nam", "eabc"),
		"other vault":   valueAAD("vaul", "tname", "abc"),
		"backup":        backupAAD,
	} {
		if _, err := k.Open(ct, aad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s: %v, want seal.ErrOpen", name, err)
		}
	}
}
