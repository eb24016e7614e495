// Package seal encrypts values at rest under wif's key-encryption key
// (kek.bin in the data directory): Key Vault secret values, tenants'
// token-signing keys and managed clusters' service-account keys. Every
// sealed value is bound by additional data to where it is stored, so a
// value copied to another row does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrOpen: a sealed value does not open with this key and context.
var ErrOpen = errors.New("seal: cannot open sealed value")

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// Format is the first byte of every sealed value: AES-256-GCM with a
// 12-byte random nonce, then ciphertext and tag.
const Format = 1

// FileKEK seals with AES-256-GCM under a key-encryption key kept in a file.
type FileKEK struct {
	aead cipher.AEAD
}

// NewKEK returns a sealer for a 32-byte key.
func NewKEK(key []byte) (*FileKEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("seal: key-encryption key is %d bytes, want %d", len(key), KEKSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key: %w", err)
	}
	return &FileKEK{aead: aead}, nil
}

// LoadOrCreate reads the key-encryption key at path, creating it with 32
// random bytes and mode 0600 if it does not exist. Creation is atomic and
// exclusive: of two processes creating it at once, both end up with the
// key that was published first.
func LoadOrCreate(path string) (*FileKEK, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key %s: %w", path, err)
	}
	return NewKEK(key)
}

func create(path string) ([]byte, error) {
	key := make([]byte, KEKSize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// Link, unlike rename, fails when the target exists.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return key, nil
}

// Seal encrypts plaintext bound to aad.
func (k *FileKEK) Seal(plaintext, aad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+k.aead.Overhead())
	out[0] = Format
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a sealed value bound to aad; ErrOpen if it does not open.
func (k *FileKEK) Open(ciphertext, aad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(ciphertext) < 1+ns+k.aead.Overhead() || ciphertext[0] != Format {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
