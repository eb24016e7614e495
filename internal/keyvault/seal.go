package keyvault

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

// Sealer encrypts secret values at rest. aad binds a ciphertext to its
// context (vault, secret name and version), so a sealed value copied to
// another row does not open.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// ErrUnseal: a sealed value does not open with this key and context.
var ErrUnseal = errors.New("keyvault: cannot open sealed value")

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// sealFormat is the first byte of every sealed value: AES-256-GCM with a
// 12-byte random nonce, then ciphertext and tag.
const sealFormat = 1

// FileKEK seals with AES-256-GCM under a key-encryption key kept in a file.
type FileKEK struct {
	aead cipher.AEAD
}

// NewKEK returns a Sealer for a 32-byte key.
func NewKEK(key []byte) (*FileKEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("keyvault: key-encryption key is %d bytes, want %d", len(key), KEKSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyvault: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyvault: key-encryption key: %w", err)
	}
	return &FileKEK{aead: aead}, nil
}

// LoadOrCreateKEK reads the key-encryption key at path, creating it with 32
// random bytes and mode 0600 if it does not exist. Creation is atomic and
// exclusive: of two processes creating it at once, both end up with the
// key that was published first.
func LoadOrCreateKEK(path string) (*FileKEK, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKEK(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyvault: key-encryption key %s: %w", path, err)
	}
	return NewKEK(key)
}

func createKEK(path string) ([]byte, error) {
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
	out[0] = sealFormat
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keyvault: seal: %w", err)
	}
	return k.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a sealed value bound to aad; ErrUnseal if it does not open.
func (k *FileKEK) Open(ciphertext, aad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(ciphertext) < 1+ns+k.aead.Overhead() || ciphertext[0] != sealFormat {
		return nil, ErrUnseal
	}
	pt, err := k.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], aad)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// valueAAD is the additional data that binds a sealed secret value to its
// vault, secret name and version (all lower case).
func valueAAD(vault, name, version string) []byte {
	b := make([]byte, 0, len("wif-kv-secret/1")+3+len(vault)+len(name)+len(version))
	b = append(b, "wif-kv-secret/1"...)
	for _, s := range []string{vault, name, version} {
		b = append(b, 0)
		b = appendLower(b, s)
	}
	return b
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// backupAAD binds a sealed backup blob to its purpose.
var backupAAD = []byte("wif-kv-secret-backup/1")
