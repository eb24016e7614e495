package seal

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
	k1, err := LoadOrCreate(path)
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
	aad := []byte("ctx/1\x00a\x00b")
	ct, err := k1.Seal([]byte("plain"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("plain")) || ct[0] != Format {
		t.Errorf("sealed value %x", ct)
	}
	// The same file opens what the first key sealed.
	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(ct, aad); err != nil || string(pt) != "plain" {
		t.Errorf("reopen: %q %v", pt, err)
	}
	// Another context, another key, or a flipped bit do not open.
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "kek.bin"))
	flipped := append([]byte{}, ct...)
	flipped[len(flipped)-1] ^= 1
	otherFormat := append([]byte{}, ct...)
	otherFormat[0] = 2
	for name, tc := range map[string]struct {
		k   *FileKEK
		ct  []byte
		aad []byte
	}{
		"other context": {k1, ct, []byte("ctx/1\x00a\x00c")},
		"shifted field": {k1, ct, []byte("ctx/1\x00ab\x00")},
		"other key":     {other, ct, aad},
		"flipped bit":   {k1, flipped, aad},
		"other format":  {k1, otherFormat, aad},
		"truncated":     {k1, ct[:10], aad},
		"empty":         {k1, nil, aad},
	} {
		if _, err := tc.k.Open(tc.ct, tc.aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	// A corrupt key file is an error, not a new key.
	bad := filepath.Join(t.TempDir(), "kek.bin")
	os.WriteFile(bad, []byte("short"), 0o600)
	if _, err := LoadOrCreate(bad); err == nil {
		t.Error("short key file accepted")
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.bin")
	keys := make([]*FileKEK, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreate(path)
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

// FuzzOpen: Open rejects anything that was not sealed under the key and
// context with ErrOpen, never a panic.
func FuzzOpen(f *testing.F) {
	k, err := NewKEK(bytes.Repeat([]byte{7}, KEKSize))
	if err != nil {
		f.Fatal(err)
	}
	ct, _ := k.Seal([]byte("value"), []byte("aad"))
	f.Add(ct, []byte("aad"))
	f.Add([]byte{Format}, []byte(nil))
	f.Add([]byte{0x30, 0x82, 0x01}, []byte("aad"))
	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, err := k.Open(ct, aad)
		if err != nil && !errors.Is(err, ErrOpen) {
			t.Fatalf("error %v is not ErrOpen", err)
		}
		if err == nil && (string(pt) != "value" || string(aad) != "aad") {
			t.Fatalf("opened %q with aad %q", pt, aad)
		}
	})
}
