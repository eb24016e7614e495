package keyvault

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/store"
)

// backupFormat names the layout of a backup blob.
const backupFormat = "wif-keyvault-secret-backup/1"

// maxBackupVersions bounds the versions a restored blob may carry.
const maxBackupVersions = 1000

// backupBlob is the plaintext of a backup: every version of one secret,
// oldest first. It is sealed as a whole under the key-encryption key and
// sent as base64url, so it only restores on a wif with the same key.
type backupBlob struct {
	Format         string          `json:"format"`
	SubscriptionID string          `json:"subscriptionId"`
	Vault          string          `json:"vault"`
	Name           string          `json:"name"`
	Versions       []backupVersion `json:"versions"`
}

type backupVersion struct {
	Version     string            `json:"version"`
	Value       []byte            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   int64             `json:"nbf,omitempty"` // Unix nanoseconds
	Expires     int64             `json:"exp,omitempty"`
	Created     int64             `json:"created,omitempty"`
	Updated     int64             `json:"updated,omitempty"`
}

var errBadBackup = errors.New("keyvault: invalid backup blob")

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// sealBackup seals a blob and encodes it as base64url without padding.
func sealBackup(s Sealer, b backupBlob) (string, error) {
	b.Format = backupFormat
	pt, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("keyvault: encode backup: %w", err)
	}
	ct, err := s.Seal(pt, backupAAD)
	clear(pt)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// openBackup decodes, opens and validates a backup blob.
func openBackup(s Sealer, value string) (backupBlob, error) {
	var b backupBlob
	ct, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return b, fmt.Errorf("%w: not base64url", errBadBackup)
	}
	pt, err := s.Open(ct, backupAAD)
	if err != nil {
		return b, fmt.Errorf("%w: %w", errBadBackup, err)
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, &b); err != nil {
		return b, fmt.Errorf("%w: %v", errBadBackup, err)
	}
	switch {
	case b.Format != backupFormat:
		return b, fmt.Errorf("%w: format %q", errBadBackup, b.Format)
	case !ValidSecretName(b.Name):
		return b, fmt.Errorf("%w: secret name", errBadBackup)
	case len(b.Versions) == 0 || len(b.Versions) > maxBackupVersions:
		return b, fmt.Errorf("%w: %d versions", errBadBackup, len(b.Versions))
	}
	seen := make(map[string]bool, len(b.Versions))
	for _, v := range b.Versions {
		if !validVersion(v.Version) || seen[strings.ToLower(v.Version)] || len(v.Value) > MaxValueBytes {
			return b, fmt.Errorf("%w: version", errBadBackup)
		}
		seen[strings.ToLower(v.Version)] = true
	}
	return b, nil
}

// toBackupVersion converts a stored version with its opened value.
func toBackupVersion(v store.SecretVersion, value []byte) backupVersion {
	return backupVersion{Version: v.Version, Value: value, ContentType: v.ContentType, Tags: v.Tags, Enabled: v.Enabled,
		NotBefore: nanos(v.NotBefore), Expires: nanos(v.Expires), Created: nanos(v.CreatedAt), Updated: nanos(v.UpdatedAt)}
}
