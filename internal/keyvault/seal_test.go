package keyvault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFileKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.bin")
	k1, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KEKSize {
		t.Errorf("kek file mode %v size %d", fi.Mode().Perm(), fi.Size())
	}
	aad := valueAAD("Vault", "Name", "ABC")
	if !bytes.Equal(aad, valueAAD("vault", "name", "abc")) {
		t.Error("AAD depends on case")
	}
	ct, err := k1.Seal([]byte("plain"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("plain")) {
		t.Error("ciphertext contains the plaintext")
	}
	// The same file opens what the first key sealed.
	k2, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(ct, aad); err != nil || string(pt) != "plain" {
		t.Errorf("reopen: %q %v", pt, err)
	}
	// Another context, another key, or a flipped bit do not open.
	other, _ := LoadOrCreateKEK(filepath.Join(t.TempDir(), "kek.bin"))
	flipped := append([]byte{}, ct...)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		k   *FileKEK
		ct  []byte
		aad []byte
	}{
		"other version": {k1, ct, valueAAD("vault", "name", "abd")},
		"other secret":  {k1, ct, valueAAD("vault", "nam", "eabc")},
		"other key":     {other, ct, aad},
		"flipped bit":   {k1, flipped, aad},
		"truncated":     {k1, ct[:10], aad},
		"empty":         {k1, nil, aad},
	} {
		if _, err := tc.k.Open(tc.ct, tc.aad); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: %v, want ErrUnseal", name, err)
		}
	}
	// A corrupt key file is an error, not a new key.
	bad := filepath.Join(t.TempDir(), "kek.bin")
	os.WriteFile(bad, []byte("short"), 0o600)
	if _, err := LoadOrCreateKEK(bad); err == nil {
		t.Error("short key file accepted")
	}
}

func TestLoadOrCreateKEKConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.bin")
	keys := make([]*FileKEK, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKEK(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	ct, err := keys[0].Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if _, err := k.Open(ct, nil); err != nil {
			t.Errorf("creator %d got a different key", i)
		}
	}
}
