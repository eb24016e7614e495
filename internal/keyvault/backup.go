package keyvault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

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

// Restores buffer their body (up to maxRestoreBody) and hold a few times
// that while they open, decode and reseal it. restoreMemory bounds the
// bodies of the restores in progress together; a restore that does not fit
// within restoreWait is throttled.
const (
	restoreMemory = 32 << 20
	restoreWait   = 5 * time.Second
)

// restoreBudget is a semaphore weighted by body bytes.
type restoreBudget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration
}

func newRestoreBudget(size int64, wait time.Duration) *restoreBudget {
	return &restoreBudget{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// acquire takes n bytes (at most the budget's size), waiting for them up to
// b.wait, and returns the function that gives them back. Over the bound it
// fails with Key Vault's 429.
func (b *restoreBudget) acquire(ctx context.Context, n int64) (func(), error) {
	n = min(n, b.size)
	if !b.sem.TryAcquire(n) {
		ctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(ctx, n)
		cancel()
		if err != nil {
			return nil, throttled("too many secrets are being restored at once")
		}
	}
	return func() { b.sem.Release(n) }, nil
}

// readRestoreBody reads a restore's body within the budget; release gives
// its share back once the restore is done with the body and what it
// decoded from it. A body whose length is declared is read into a buffer
// of that size; one of unknown length is charged twice the limit, which
// its growing buffer may reach.
func (h *Handler) readRestoreBody(r *http.Request) (body []byte, release func(), err error) {
	n := r.ContentLength
	switch {
	case n > maxRestoreBody:
		return nil, nil, badParameter("The request body is larger than %d bytes.", maxRestoreBody)
	case n < 0:
		n = 2 * maxRestoreBody
	}
	release, err = h.restores.acquire(r.Context(), n)
	if err != nil {
		return nil, nil, err
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			release()
			return nil, nil, badParameter("The request body could not be read.")
		}
		return body, release, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxRestoreBody+1)); err != nil {
		release()
		return nil, nil, badParameter("The request body could not be read.")
	}
	if buf.Len() > maxRestoreBody {
		release()
		return nil, nil, badParameter("The request body is larger than %d bytes.", maxRestoreBody)
	}
	return buf.Bytes(), release, nil
}
