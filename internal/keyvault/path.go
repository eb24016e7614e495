package keyvault

import (
	"net/http"
	"net/url"
	"strings"
)

// op is a Key Vault secrets operation.
type op int

const (
	opSet op = iota + 1
	opGet
	opUpdate
	opDelete
	opList
	opVersions
	opBackup
	opRestore
	opGetDeleted
	opListDeleted
	opRecover
	opPurge
)

// opInfo is what authorisation and logging need to know of an op.
var opInfo = [...]struct {
	name   string
	action string // RBAC data action
}{
	opSet:         {"SetSecret", "Microsoft.KeyVault/vaults/secrets/setSecret/action"},
	opGet:         {"GetSecret", "Microsoft.KeyVault/vaults/secrets/getSecret/action"},
	opUpdate:      {"UpdateSecret", "Microsoft.KeyVault/vaults/secrets/update/action"},
	opDelete:      {"DeleteSecret", "Microsoft.KeyVault/vaults/secrets/delete"},
	opList:        {"GetSecrets", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	opVersions:    {"GetSecretVersions", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	opBackup:      {"BackupSecret", "Microsoft.KeyVault/vaults/secrets/backup/action"},
	opRestore:     {"RestoreSecret", "Microsoft.KeyVault/vaults/secrets/restore/action"},
	opGetDeleted:  {"GetDeletedSecret", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	opListDeleted: {"GetDeletedSecrets", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	opRecover:     {"RecoverDeletedSecret", "Microsoft.KeyVault/vaults/secrets/recover/action"},
	opPurge:       {"PurgeDeletedSecret", "Microsoft.KeyVault/vaults/secrets/purge/action"},
}

// route is a parsed data-plane request.
type route struct {
	op      op
	name    string // secret name as sent; "" for vault-wide ops
	version string // lower-case; "" for the latest
}

// MaxNameLength is the longest secret name Key Vault accepts.
const MaxNameLength = 127

// ValidSecretName reports whether name matches ^[0-9a-zA-Z-]{1,127}$.
func ValidSecretName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// validVersion reports whether v is 32 hexadecimal characters.
func validVersion(v string) bool {
	if len(v) != 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseRoute maps a method and an escaped request path (relative to the
// vault) onto an operation. Segments are percent-decoded one by one, so an
// encoded "/" cannot change the route; collection names match
// case-insensitively.
func parseRoute(method, escapedPath string) (route, *Error) {
	p := strings.TrimPrefix(escapedPath, "/")
	seg := strings.Split(p, "/")
	if len(seg) > 4 {
		return route{}, notFoundPath()
	}
	for i, s := range seg {
		d, err := url.PathUnescape(s)
		if err != nil {
			return route{}, badParameter("The request URI is invalid.")
		}
		seg[i] = d
	}
	// A trailing empty segment ("/secrets/", "/secrets/{name}/") is
	// accepted where Key Vault accepts it.
	trailing := len(seg) > 1 && seg[len(seg)-1] == ""
	if trailing {
		seg = seg[:len(seg)-1]
	}
	switch {
	case strings.EqualFold(seg[0], "secrets"):
		return secretsRoute(method, seg, trailing)
	case strings.EqualFold(seg[0], "deletedsecrets"):
		return deletedRoute(method, seg, trailing)
	}
	return route{}, notFoundPath()
}

func secretsRoute(method string, seg []string, trailing bool) (route, *Error) {
	switch len(seg) {
	case 1: // /secrets
		return pick(method, "", mo{http.MethodGet, opList})
	case 2: // /secrets/{name}
		name := seg[1]
		if method == http.MethodPost && strings.EqualFold(name, "restore") && !trailing {
			return route{op: opRestore}, nil
		}
		if !ValidSecretName(name) {
			return route{}, invalidName(name)
		}
		if trailing { // only the "latest" forms take a trailing slash
			return pick(method, name, mo{http.MethodGet, opGet}, mo{http.MethodPatch, opUpdate})
		}
		return pick(method, name, mo{http.MethodPut, opSet}, mo{http.MethodGet, opGet}, mo{http.MethodPatch, opUpdate}, mo{http.MethodDelete, opDelete})
	case 3: // /secrets/{name}/{version|versions|backup}
		name, last := seg[1], seg[2]
		if !ValidSecretName(name) {
			return route{}, invalidName(name)
		}
		switch {
		case strings.EqualFold(last, "versions"):
			return pick(method, name, mo{http.MethodGet, opVersions})
		case strings.EqualFold(last, "backup") && !trailing:
			return pick(method, name, mo{http.MethodPost, opBackup})
		case trailing:
			return route{}, notFoundPath()
		}
		r, err := pick(method, name, mo{http.MethodGet, opGet}, mo{http.MethodPatch, opUpdate})
		if err != nil {
			return r, err
		}
		if !validVersion(last) {
			return route{}, secretNotFound(name + "/" + truncate(last))
		}
		r.version = strings.ToLower(last)
		return r, nil
	}
	return route{}, notFoundPath()
}

func deletedRoute(method string, seg []string, trailing bool) (route, *Error) {
	switch len(seg) {
	case 1:
		return pick(method, "", mo{http.MethodGet, opListDeleted})
	case 2:
		if !ValidSecretName(seg[1]) {
			return route{}, invalidName(seg[1])
		}
		return pick(method, seg[1], mo{http.MethodGet, opGetDeleted}, mo{http.MethodDelete, opPurge})
	case 3:
		if !strings.EqualFold(seg[2], "recover") || trailing {
			return route{}, notFoundPath()
		}
		if !ValidSecretName(seg[1]) {
			return route{}, invalidName(seg[1])
		}
		return pick(method, seg[1], mo{http.MethodPost, opRecover})
	}
	return route{}, notFoundPath()
}

// mo pairs a method with the op it selects.
type mo struct {
	method string
	op     op
}

func pick(method, name string, ms ...mo) (route, *Error) {
	for _, m := range ms {
		if m.method == method {
			return route{op: m.op, name: name}, nil
		}
	}
	return route{}, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
		Message: "The requested method " + truncate(method) + " is not allowed on this resource."}
}

func notFoundPath() *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "The requested resource was not found."}
}

func invalidName(name string) *Error {
	return badParameter("The request URI contains an invalid name: %s. Secret names may contain only 0-9, a-z, A-Z and -, and be 1 to %d characters long.", truncate(name), MaxNameLength)
}

// truncate bounds user input echoed in error messages.
func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
