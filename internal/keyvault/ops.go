package keyvault

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wifproject/wif/internal/reqlog"
	"github.com/wifproject/wif/internal/store"
)

// Paging limits of the list operations.
const (
	DefaultMaxResults = 25
	MaxPageSize       = 25
)

// serve runs the routed operation and returns the status and JSON body
// (nil for none).
func (h *Handler) serve(c *call) (int, any, error) {
	switch c.route.op {
	case opSet:
		return h.set(c)
	case opGet:
		return h.get(c)
	case opUpdate:
		return h.update(c)
	case opDelete:
		return h.delete(c)
	case opList:
		return h.list(c)
	case opVersions:
		return h.versions(c)
	case opListDeleted:
		return h.listDeleted(c)
	case opGetDeleted:
		return h.getDeleted(c)
	case opRecover:
		return h.recover(c)
	case opPurge:
		return h.purge(c)
	case opBackup:
		return h.backup(c)
	case opRestore:
		return h.restore(c)
	}
	return 0, nil, notFoundPath()
}

// retentionDays is the vault's soft-delete retention (90 when unset).
func retentionDays(v store.Vault) int {
	if v.SoftDeleteRetentionDays <= 0 {
		return 90
	}
	return v.SoftDeleteRetentionDays
}

// recoveryLevel is what Key Vault reports for a soft-delete vault without
// purge protection: "Customized" when retention is under 90 days.
func recoveryLevel(days int) string {
	if days < 90 {
		return "CustomizedRecoverable+Purgeable"
	}
	return "Recoverable+Purgeable"
}

// toJSON renders a stored version; withVersion picks the versioned id.
func (h *Handler) toJSON(c *call, v store.SecretVersion, value *string, withVersion bool) secretJSON {
	days := retentionDays(c.vault)
	id := c.base + "/secrets/" + v.Name
	if withVersion {
		id += "/" + v.Version
	}
	return secretJSON{
		Value:       value,
		ID:          id,
		ContentType: v.ContentType,
		Tags:        v.Tags,
		Attributes: attributesJSON{
			Enabled: v.Enabled, NotBefore: unix(v.NotBefore), Expires: unix(v.Expires),
			Created: unix(v.CreatedAt), Updated: unix(v.UpdatedAt),
			RecoverableDays: days, RecoveryLevel: recoveryLevel(days),
		},
	}
}

func (h *Handler) deletedJSON(c *call, d store.DeletedSecret, withVersion bool) secretJSON {
	j := h.toJSON(c, d.Latest, nil, withVersion)
	j.RecoveryID = c.base + "/deletedsecrets/" + d.Latest.Name
	j.DeletedDate, j.ScheduledPurgeDate = unix(d.DeletedAt), unix(d.ScheduledPurge)
	return j
}

func (h *Handler) set(c *call) (int, any, error) {
	body, err := readBody(c.r, maxBody)
	if err != nil {
		return 0, nil, err
	}
	p, e := parseSetBody(body)
	if e != nil {
		return 0, nil, e
	}
	now := h.deps.Now()
	ver, err := newVersion(now)
	if err != nil {
		return 0, nil, err
	}
	sealed, err := h.deps.Sealer.Seal([]byte(p.Value), valueAAD(c.key, c.route.name, ver))
	if err != nil {
		return 0, nil, err
	}
	v, err := h.deps.Store.PutSecretVersion(c.r.Context(), store.SecretVersion{
		VaultName: c.vault.Name, Name: c.route.name, Version: ver, Value: sealed, ContentType: p.ContentType,
		Tags: p.Tags, Enabled: p.Enabled, NotBefore: p.NotBefore, Expires: p.Expires, CreatedAt: now, UpdatedAt: now,
	})
	switch {
	case errors.Is(err, store.ErrSecretDeleted):
		return 0, nil, deletedConflict(c.route.name)
	case errors.Is(err, store.ErrParentNotFound):
		return 0, nil, vaultNotFound(c.vault.Name)
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, h.toJSON(c, v, &p.Value, true), nil
}

func (h *Handler) nameOrID(c *call) string {
	if c.route.version != "" {
		return c.route.name + "/" + c.route.version
	}
	return c.route.name
}

func (h *Handler) get(c *call) (int, any, error) {
	v, err := h.deps.Store.GetSecretVersion(c.r.Context(), c.vault.Name, c.route.name, c.route.version)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, secretNotFound(h.nameOrID(c))
	} else if err != nil {
		return 0, nil, err
	}
	// Key Vault refuses disabled secrets but, despite the documentation,
	// serves expired and not-yet-valid ones.
	if !v.Enabled {
		return 0, nil, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Inner: "SecretDisabled",
			Message: "Operation get is not allowed on a disabled secret."}
	}
	pt, err := h.deps.Sealer.Open(v.Value, valueAAD(c.key, v.Name, v.Version))
	if err != nil {
		return 0, nil, err
	}
	value := string(pt)
	clear(pt)
	return http.StatusOK, h.toJSON(c, v, &value, true), nil
}

func (h *Handler) update(c *call) (int, any, error) {
	body, err := readBody(c.r, maxBody)
	if err != nil {
		return 0, nil, err
	}
	u, e := parseUpdateBody(body)
	if e != nil {
		return 0, nil, e
	}
	now := h.deps.Now()
	v, err := h.deps.Store.UpdateSecretVersion(c.r.Context(), c.vault.Name, c.route.name, c.route.version, func(v *store.SecretVersion) {
		if u.ContentType != nil {
			v.ContentType = *u.ContentType
		}
		if u.Enabled != nil {
			v.Enabled = *u.Enabled
		}
		if u.NotBefore != nil {
			v.NotBefore = *u.NotBefore
		}
		if u.Expires != nil {
			v.Expires = *u.Expires
		}
		if u.SetTags {
			v.Tags = u.Tags
		}
		v.UpdatedAt = now
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, secretNotFound(h.nameOrID(c))
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.toJSON(c, v, nil, true), nil
}

func (h *Handler) delete(c *call) (int, any, error) {
	now := h.deps.Now()
	purgeAt := now.Add(time.Duration(retentionDays(c.vault)) * 24 * time.Hour)
	d, err := h.deps.Store.DeleteSecret(c.r.Context(), c.vault.Name, c.route.name, now, purgeAt)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, secretNotFound(c.route.name)
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.deletedJSON(c, d, true), nil
}

// page reads maxresults and $skiptoken.
func page(c *call) (store.SecretPage, int, error) {
	q := c.r.URL.Query()
	n := DefaultMaxResults
	if s := q.Get("maxresults"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > MaxPageSize {
			return store.SecretPage{}, 0, badParameter("Invalid value for maxresults: it must be an integer between 1 and %d.", MaxPageSize)
		}
	}
	var after string
	if t := q.Get("$skiptoken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) > MaxNameLength {
			return store.SecretPage{}, 0, badParameter("Invalid value for $skiptoken.")
		}
		after = string(b)
	}
	return store.SecretPage{After: after, Limit: n + 1}, n, nil
}

// nextLink is the absolute link to the page after the key last, carrying
// api-version (the Go SDK follows it verbatim).
func nextLink(c *call, path, last string, n int) *string {
	api := c.r.URL.Query().Get("api-version")
	if api == "" {
		api = defaultAPIVersion
	}
	s := c.base + path + "?api-version=" + url.QueryEscape(api) + "&$skiptoken=" +
		base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(last))) + "&maxresults=" + strconv.Itoa(n)
	return &s
}

func (h *Handler) list(c *call) (int, any, error) {
	p, n, err := page(c)
	if err != nil {
		return 0, nil, err
	}
	vs, err := h.deps.Store.ListSecrets(c.r.Context(), c.vault.Name, p)
	if err != nil {
		return 0, nil, err
	}
	out := listJSON{Value: make([]secretJSON, 0, min(len(vs), n))}
	for i, v := range vs {
		if i == n {
			out.NextLink = nextLink(c, "/secrets", vs[n-1].Name, n)
			break
		}
		out.Value = append(out.Value, h.toJSON(c, v, nil, false))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) versions(c *call) (int, any, error) {
	p, n, err := page(c)
	if err != nil {
		return 0, nil, err
	}
	vs, err := h.deps.Store.ListSecretVersions(c.r.Context(), c.vault.Name, c.route.name, p)
	if errors.Is(err, store.ErrNotFound) {
		// Key Vault lists no versions of a missing secret.
		return http.StatusOK, listJSON{Value: []secretJSON{}}, nil
	} else if err != nil {
		return 0, nil, err
	}
	out := listJSON{Value: make([]secretJSON, 0, min(len(vs), n))}
	for i, v := range vs {
		if i == n {
			out.NextLink = nextLink(c, "/secrets/"+c.route.name+"/versions", vs[n-1].Version, n)
			break
		}
		out.Value = append(out.Value, h.toJSON(c, v, nil, true))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) listDeleted(c *call) (int, any, error) {
	p, n, err := page(c)
	if err != nil {
		return 0, nil, err
	}
	ds, err := h.deps.Store.ListDeletedSecrets(c.r.Context(), c.vault.Name, p)
	if err != nil {
		return 0, nil, err
	}
	out := listJSON{Value: make([]secretJSON, 0, min(len(ds), n))}
	for i, d := range ds {
		if i == n {
			out.NextLink = nextLink(c, "/deletedsecrets", ds[n-1].Latest.Name, n)
			break
		}
		out.Value = append(out.Value, h.deletedJSON(c, d, false))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) getDeleted(c *call) (int, any, error) {
	d, err := h.deps.Store.GetDeletedSecret(c.r.Context(), c.vault.Name, c.route.name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, deletedSecretNotFound(c.route.name)
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.deletedJSON(c, d, true), nil
}

func (h *Handler) recover(c *call) (int, any, error) {
	v, err := h.deps.Store.RecoverSecret(c.r.Context(), c.vault.Name, c.route.name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, deletedSecretNotFound(c.route.name)
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.toJSON(c, v, nil, true), nil
}

func (h *Handler) purge(c *call) (int, any, error) {
	err := h.deps.Store.PurgeSecret(c.r.Context(), c.vault.Name, c.route.name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, deletedSecretNotFound(c.route.name)
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (h *Handler) backup(c *call) (int, any, error) {
	ctx := c.r.Context()
	vs, err := h.deps.Store.ListSecretVersions(ctx, c.vault.Name, c.route.name, store.SecretPage{})
	if err == nil && len(vs) > maxBackupVersions {
		err = badParameter("The secret has more than %d versions and cannot be backed up.", maxBackupVersions)
	}
	var latest store.SecretVersion
	if err == nil {
		latest, err = h.deps.Store.GetSecretVersion(ctx, c.vault.Name, c.route.name, "")
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, secretNotFound(c.route.name)
	} else if err != nil {
		return 0, nil, err
	}
	// Oldest first and the latest last, which is how restore reads them.
	sort.SliceStable(vs, func(i, j int) bool {
		if (vs[i].Version == latest.Version) != (vs[j].Version == latest.Version) {
			return vs[j].Version == latest.Version
		}
		return vs[i].CreatedAt.Before(vs[j].CreatedAt)
	})
	blob := backupBlob{SubscriptionID: c.vault.SubscriptionID, Vault: c.vault.Name, Name: latest.Name}
	defer func() {
		for _, v := range blob.Versions {
			clear(v.Value)
		}
	}()
	for _, v := range vs {
		pt, err := h.deps.Sealer.Open(v.Value, valueAAD(c.key, v.Name, v.Version))
		if err != nil {
			return 0, nil, err
		}
		blob.Versions = append(blob.Versions, toBackupVersion(v, pt))
	}
	s, err := sealBackup(h.deps.Sealer, blob)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, backupJSON{Value: s}, nil
}

func (h *Handler) restore(c *call) (int, any, error) {
	body, release, err := h.readRestoreBody(c.r)
	if err != nil {
		return 0, nil, err
	}
	defer release()
	if len(body) == 0 {
		return 0, nil, badParameter("The request body is empty.")
	}
	var req restoreRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, nil, badParameter("The request body is not valid JSON: %s", truncate(err.Error()))
	}
	if req.Value == nil || *req.Value == "" {
		return 0, nil, badParameter("Property 'value' is required.")
	}
	blob, err := openBackup(h.deps.Sealer, *req.Value)
	if err != nil {
		return 0, nil, badParameter("Backup blob contains invalid or corrupt version.")
	}
	defer func() {
		for _, v := range blob.Versions {
			clear(v.Value)
		}
	}()
	// As in Azure, a backup restores only within its subscription.
	if !strings.EqualFold(blob.SubscriptionID, c.vault.SubscriptionID) {
		return 0, nil, badParameter("The backup blob was taken in another subscription and cannot be restored to this vault.")
	}
	reqlog.Add(c.r.Context(), slog.String("secret", blob.Name))
	versions := make([]store.SecretVersion, 0, len(blob.Versions))
	for _, b := range blob.Versions {
		ver := strings.ToLower(b.Version)
		sealed, err := h.deps.Sealer.Seal(b.Value, valueAAD(c.key, blob.Name, ver))
		if err != nil {
			return 0, nil, err
		}
		versions = append(versions, store.SecretVersion{
			VaultName: c.vault.Name, Name: blob.Name, Version: ver, Value: sealed, ContentType: b.ContentType, Tags: b.Tags,
			Enabled: b.Enabled, NotBefore: fromNanos(b.NotBefore), Expires: fromNanos(b.Expires),
			CreatedAt: fromNanos(b.Created), UpdatedAt: fromNanos(b.Updated),
		})
	}
	v, err := h.deps.Store.RestoreSecret(c.r.Context(), versions)
	switch {
	case errors.Is(err, store.ErrSecretDeleted):
		return 0, nil, deletedConflict(blob.Name)
	case errors.Is(err, store.ErrConflict):
		return 0, nil, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: "Secret " + blob.Name + " already exists in this vault; delete and purge it before restoring it from a backup."}
	case errors.Is(err, store.ErrParentNotFound):
		return 0, nil, vaultNotFound(c.vault.Name)
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, h.toJSON(c, v, nil, true), nil
}
