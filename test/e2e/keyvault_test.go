package e2e

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

var kvVersionRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestKeyVaultGoSDK drives every secrets operation through the unmodified
// Go azsecrets client (examples/keyvault), signed in with workload
// identity as an identity holding Key Vault Secrets Officer on the vault.
func TestKeyVaultGoSDK(t *testing.T) {
	kvEnsureHosts(t, "kvsdk")
	e := kvStart(t)
	e.createVault(t, e.rg, "kvsdk")
	app := e.identity(t, "sdk-app")
	e.assign(t, app.objectID, kvRoleSecretsOfficer, e.vaultScope(e.rg, "kvsdk"))
	s := e.session(t, app, e.vaultURL("kvsdk"))
	base := "https://" + e.vaultHost("kvsdk")
	start := time.Now().Add(-2 * time.Second).Unix()

	// checkSecret checks a SecretBundle's id, value and attributes.
	checkSecret := func(what string, m map[string]any, name, value string) string {
		t.Helper()
		id := kvStr(m["id"])
		ver, ok := strings.CutPrefix(id, base+"/secrets/"+name+"/")
		if !ok || !kvVersionRE.MatchString(ver) {
			t.Errorf("%s: id = %q, want %s/secrets/%s/{32 hex}", what, id, base, name)
		}
		if value != "" && m["value"] != value {
			t.Errorf("%s: value = %v, want %q", what, m["value"], value)
		}
		a := kvMap(m["attributes"])
		if c := kvNum(a["created"]); c < start || c > time.Now().Unix()+2 {
			t.Errorf("%s: created = %v, not a Unix time of now", what, a["created"])
		}
		if kvNum(a["updated"]) < kvNum(a["created"]) {
			t.Errorf("%s: updated %v before created %v", what, a["updated"], a["created"])
		}
		if a["recoveryLevel"] != "Recoverable+Purgeable" || kvNum(a["recoverableDays"]) != 90 {
			t.Errorf("%s: recoveryLevel %v, recoverableDays %v; want Recoverable+Purgeable, 90", what, a["recoveryLevel"], a["recoverableDays"])
		}
		return ver
	}

	// Set, a second version, get latest, get a version.
	m := s.ok("set", "-name", "db-password", "-value", "v1-s3cret", "-content-type", "text/plain", "-tags", "env=test,team=a")
	v1 := checkSecret("set", m, "db-password", "v1-s3cret")
	if m["contentType"] != "text/plain" || !cmp.Equal(m["tags"], map[string]any{"env": "test", "team": "a"}) || kvMap(m["attributes"])["enabled"] != true {
		t.Errorf("set: contentType %v, tags %v, attributes %v", m["contentType"], m["tags"], m["attributes"])
	}
	m = s.ok("set", "-name", "db-password", "-value", "v2-s3cret")
	v2 := checkSecret("set again", m, "db-password", "v2-s3cret")
	if v1 == v2 {
		t.Fatalf("a second set kept version %s", v1)
	}
	if _, ok := m["contentType"]; ok {
		t.Errorf("new version inherited contentType %v", m["contentType"])
	}
	if got := checkSecret("get latest", s.ok("get", "-name", "db-password"), "db-password", "v2-s3cret"); got != v2 {
		t.Errorf("get latest = version %s, want %s", got, v2)
	}
	m = s.ok("get", "-name", "db-password", "-version", v1)
	if got := checkSecret("get version", m, "db-password", "v1-s3cret"); got != v1 || m["contentType"] != "text/plain" {
		t.Errorf("get version = %s (contentType %v), want %s (text/plain)", got, m["contentType"], v1)
	}
	// Names are case-insensitive.
	if got := checkSecret("get upper case", s.ok("get", "-name", "DB-PASSWORD"), "db-password", "v2-s3cret"); got != v2 {
		t.Errorf("get DB-PASSWORD = %s", got)
	}
	s.fails(404, "SecretNotFound", "get", "-name", "no-such-secret")
	s.fails(404, "SecretNotFound", "get", "-name", "db-password", "-version", strings.Repeat("0", 32))

	// Update properties of the first version: contentType, tags, disable.
	m = s.ok("update", "-name", "db-password", "-version", v1, "-content-type", "application/json", "-tags", "env=prod", "-enabled", "false")
	if _, ok := m["value"]; ok {
		t.Errorf("update returned the value")
	}
	if got := checkSecret("update", m, "db-password", ""); got != v1 || m["contentType"] != "application/json" ||
		!cmp.Equal(m["tags"], map[string]any{"env": "prod"}) || kvMap(m["attributes"])["enabled"] != false {
		t.Errorf("update = %v", m)
	}
	// A disabled version cannot be read; the latest still can.
	if e := s.fails(403, "Forbidden", "get", "-name", "db-password", "-version", v1); !strings.Contains(kvStr(e["message"]), "disabled") {
		t.Errorf("disabled get message = %v", e["message"])
	}
	s.ok("get", "-name", "db-password")
	// Updating the latest without a version; enabling again.
	m = s.ok("update", "-name", "db-password", "-content-type", "text/x-latest")
	if checkSecret("update latest", m, "db-password", "") != v2 || m["contentType"] != "text/x-latest" {
		t.Errorf("update latest = %v", m)
	}
	s.ok("update", "-name", "db-password", "-version", v1, "-enabled", "true")
	if m := s.ok("get", "-name", "db-password", "-version", v1); m["value"] != "v1-s3cret" || !cmp.Equal(m["tags"], map[string]any{"env": "prod"}) {
		t.Errorf("re-enabled version = %v", m)
	}
	// Clearing the tags.
	if m := s.ok("update", "-name", "db-password", "-version", v1, "-tags", "-"); len(kvMap(m["tags"])) != 0 {
		t.Errorf("tags after clearing = %v", m["tags"])
	}
	s.fails(404, "SecretNotFound", "update", "-name", "no-such-secret", "-content-type", "x")

	// Versions of one secret.
	m = s.ok("versions", "-name", "db-password")
	var vers []string
	for _, it := range m["value"].([]any) {
		it := it.(map[string]any)
		if _, ok := it["value"]; ok {
			t.Errorf("versions list carries values")
		}
		vers = append(vers, kvStr(it["id"])[len(base+"/secrets/db-password/"):])
	}
	slices.Sort(vers)
	want := []string{v1, v2}
	slices.Sort(want)
	if !cmp.Equal(vers, want) {
		t.Errorf("versions = %v, want %v", vers, want)
	}

	// Paging: 30 more secrets and 27 versions of one; the SDK follows
	// nextLink (25 per page).
	for i := range 30 {
		s.ok("set", "-name", fmt.Sprintf("bulk-%02d", i), "-value", fmt.Sprint("value-", i))
	}
	for i := range 27 {
		s.ok("set", "-name", "many-versions", "-value", fmt.Sprint("v", i))
	}
	m = s.ok("list")
	var names []string
	for _, it := range m["value"].([]any) {
		it := it.(map[string]any)
		id := kvStr(it["id"])
		name, ok := strings.CutPrefix(id, base+"/secrets/")
		if !ok || strings.Contains(name, "/") {
			t.Errorf("list item id %q is not %s/secrets/{name}", id, base)
		}
		if _, ok := it["value"]; ok {
			t.Errorf("list carries values")
		}
		names = append(names, name)
	}
	if len(names) != 32 || kvNum(m["pages"]) < 2 {
		t.Errorf("list: %d secrets on %v pages, want 32 on >= 2: %v", len(names), m["pages"], names)
	}
	if c := slices.Compact(slices.Sorted(slices.Values(names))); len(c) != len(names) {
		t.Errorf("list returned duplicates: %v", names)
	}
	m = s.ok("versions", "-name", "many-versions")
	if n := len(m["value"].([]any)); n != 27 || kvNum(m["pages"]) != 2 {
		t.Errorf("versions of many-versions: %d on %v pages, want 27 on 2", n, m["pages"])
	}

	// Delete, get deleted, list deleted, recover.
	m = s.ok("delete", "-name", "db-password")
	if m["recoveryId"] != base+"/deletedsecrets/db-password" {
		t.Errorf("delete: recoveryId = %v", m["recoveryId"])
	}
	if del, purge := kvNum(m["deletedDate"]), kvNum(m["scheduledPurgeDate"]); del < start || purge != del+90*24*3600 {
		t.Errorf("delete: deletedDate %v, scheduledPurgeDate %v; want now and now+90d", m["deletedDate"], m["scheduledPurgeDate"])
	}
	s.fails(404, "SecretNotFound", "get", "-name", "db-password")
	s.fails(404, "SecretNotFound", "get", "-name", "db-password", "-version", v2)
	s.fails(409, "Conflict", "set", "-name", "db-password", "-value", "x")
	s.fails(404, "SecretNotFound", "delete", "-name", "db-password")
	m = s.ok("get-deleted", "-name", "db-password")
	if m["recoveryId"] != base+"/deletedsecrets/db-password" || kvNum(m["deletedDate"]) == 0 || m["value"] != nil {
		t.Errorf("get-deleted = %v", m)
	}
	m = s.ok("list-deleted")
	if items := m["value"].([]any); len(items) != 1 || kvMap(items[0])["recoveryId"] != base+"/deletedsecrets/db-password" {
		t.Errorf("list-deleted = %v", m)
	}
	checkSecret("recover", s.ok("recover", "-name", "db-password"), "db-password", "")
	if got := checkSecret("get after recover", s.ok("get", "-name", "db-password"), "db-password", "v2-s3cret"); got != v2 {
		t.Errorf("recovered latest = %s, want %s", got, v2)
	}
	s.fails(404, "SecretNotFound", "get-deleted", "-name", "db-password")
	s.fails(404, "SecretNotFound", "recover", "-name", "db-password")
	s.fails(404, "SecretNotFound", "purge", "-name", "db-password")

	// Backup, delete, purge, restore: every version comes back.
	s.ok("update", "-name", "db-password", "-version", v1, "-enabled", "false")
	blob := kvStr(s.ok("backup", "-name", "db-password")["value"])
	if len(blob) < 32 {
		t.Fatalf("backup blob = %q", blob)
	}
	if strings.Contains(blob, base64.RawURLEncoding.EncodeToString([]byte("v2-s3cret"))) {
		t.Errorf("the backup blob carries the value in the clear")
	}
	s.fails(409, "Conflict", "restore", "-blob", blob)
	s.ok("delete", "-name", "db-password")
	s.fails(409, "Conflict", "restore", "-blob", blob)
	if m := s.ok("purge", "-name", "db-password"); len(m) != 0 {
		t.Errorf("purge = %v, want {}", m)
	}
	s.fails(404, "SecretNotFound", "get-deleted", "-name", "db-password")
	s.fails(404, "SecretNotFound", "get", "-name", "db-password")
	m = s.ok("restore", "-blob", blob)
	if got := checkSecret("restore", m, "db-password", ""); got != v2 {
		t.Errorf("restore = version %s, want the latest %s", got, v2)
	}
	if got := checkSecret("get restored", s.ok("get", "-name", "db-password"), "db-password", "v2-s3cret"); got != v2 {
		t.Errorf("restored latest = %s", got)
	}
	s.fails(403, "Forbidden", "get", "-name", "db-password", "-version", v1)
	if n := len(s.ok("versions", "-name", "db-password")["value"].([]any)); n != 2 {
		t.Errorf("restored versions = %d, want 2", n)
	}
	s.fails(400, "BadParameter", "restore", "-blob", base64.RawURLEncoding.EncodeToString([]byte("not a backup")))

	// Sets with attributes: a disabled secret and an expiry.
	exp := time.Now().Add(48 * time.Hour).Unix()
	m = s.ok("set", "-name", "disabled-one", "-value", "x", "-enabled", "false", "-exp", fmt.Sprint(exp))
	if a := kvMap(m["attributes"]); a["enabled"] != false || kvNum(a["exp"]) != exp {
		t.Errorf("set disabled: attributes = %v", a)
	}
	s.fails(403, "Forbidden", "get", "-name", "disabled-one")
}

// kvOps are the data-plane operations of the RBAC matrix, each with the
// data action Azure documents for it.
var kvOps = []string{"get", "versions", "list", "list-deleted", "get-deleted", "backup", "update", "set", "recover", "purge", "delete", "restore"}

// kvGrants lists, per role, the operations its documented data actions
// allow, written out by hand from "Azure built-in roles" (Security):
// Secrets User has secrets/getSecret/action and secrets/readMetadata/action,
// Reader has vaults/*/read and secrets/readMetadata/action, Secrets Officer
// has secrets/*, Administrator has vaults/*, and Owner and Contributor have
// no data actions at all.
var kvGrants = map[string][]string{
	kvRoleSecretsUser:    {"get", "versions", "list", "list-deleted", "get-deleted"},
	kvRoleReader:         {"versions", "list", "list-deleted", "get-deleted"},
	kvRoleSecretsOfficer: kvOps,
	kvRoleAdministrator:  kvOps,
	"Owner":              {},
	"Contributor":        {},
	"":                   {},
}

// TestKeyVaultRBACMatrix checks each role against each operation with raw
// HTTP and wif access tokens, assignments at the vault, the resource group
// and the secret, and the tokens the data plane must refuse.
func TestKeyVaultRBACMatrix(t *testing.T) {
	kvEnsureHosts(t, "kvrbac", "kvother")
	e := kvStart(t)
	e.createVault(t, e.rg, "kvrbac")
	e.createVault(t, e.rg, "kvother")
	host := e.vaultHost("kvrbac")
	scope := e.resource() + "/.default"
	vaultScope := e.vaultScope(e.rg, "kvrbac")

	admin := e.identity(t, "kv-admin")
	e.assign(t, admin.objectID, kvRoleSecretsOfficer, vaultScope)
	adminTok := e.token(t, admin, scope)
	put := func(tok, name, value string) kvResp {
		return e.do(t, host, tok, http.MethodPut, "/secrets/"+name+"?api-version=7.6", []byte(`{"value":"`+value+`"}`))
	}
	must := func(r kvResp, status int, what string) kvResp {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s: %d %s, want %d", what, r.Status, kvShort(r.Body), status)
		}
		return r
	}

	type caller struct {
		label, role, scope string
	}
	callers := []caller{
		{"none", "", ""},
		{"user-at-vault", kvRoleSecretsUser, vaultScope},
		{"reader-at-vault", kvRoleReader, vaultScope},
		{"officer-at-vault", kvRoleSecretsOfficer, vaultScope},
		{"admin-at-vault", kvRoleAdministrator, vaultScope},
		{"user-at-group", kvRoleSecretsUser, e.groupScope(e.rg)},
		{"officer-at-subscription", kvRoleSecretsOfficer, "/subscriptions/" + e.sub},
		{"owner-at-subscription", "Owner", "/subscriptions/" + e.sub},
		{"contributor-at-vault", "Contributor", vaultScope},
		{"officer-at-other-vault", kvRoleSecretsOfficer, e.vaultScope(e.rg, "kvother")},
	}
	for _, c := range callers {
		t.Run(c.label, func(t *testing.T) {
			p := e.identity(t, "c-"+c.label)
			if c.role != "" {
				e.assign(t, p.objectID, c.role, c.scope)
			}
			tok := e.token(t, p, scope)
			// Fixtures, made by the admin: a live secret, two deleted ones
			// and a backup of a purged one.
			n := func(s string) string { return "m-" + c.label + "-" + s }
			must(put(adminTok, n("live"), "live-value"), 200, "fixture")
			for _, d := range []string{"rec", "pur", "bk"} {
				must(put(adminTok, n(d), "x"), 200, "fixture")
			}
			blob := kvStr(must(e.do(t, host, adminTok, http.MethodPost, "/secrets/"+n("bk")+"/backup?api-version=7.6", nil), 200, "backup").json(t)["value"])
			for _, d := range []string{"rec", "pur", "bk"} {
				must(e.do(t, host, adminTok, http.MethodDelete, "/secrets/"+n(d)+"?api-version=7.6", nil), 200, "fixture delete")
			}
			must(e.do(t, host, adminTok, http.MethodDelete, "/deletedsecrets/"+n("bk")+"?api-version=7.6", nil), 204, "fixture purge")
			granted := map[string]bool{}
			for _, op := range kvGrants[c.role] {
				granted[op] = true
			}
			if c.label == "officer-at-other-vault" {
				granted = map[string]bool{}
			}
			before := e.snapshot(t, "kvrbac", adminTok)
			reqs := map[string]struct {
				method, path string
				body         []byte
				status       int
			}{
				"get":          {http.MethodGet, "/secrets/" + n("live") + "/", nil, 200},
				"versions":     {http.MethodGet, "/secrets/" + n("live") + "/versions", nil, 200},
				"list":         {http.MethodGet, "/secrets", nil, 200},
				"list-deleted": {http.MethodGet, "/deletedsecrets", nil, 200},
				"get-deleted":  {http.MethodGet, "/deletedsecrets/" + n("rec"), nil, 200},
				"backup":       {http.MethodPost, "/secrets/" + n("live") + "/backup", nil, 200},
				"update":       {http.MethodPatch, "/secrets/" + n("live") + "/", []byte(`{"contentType":"changed"}`), 200},
				"set":          {http.MethodPut, "/secrets/" + n("new"), []byte(`{"value":"new"}`), 200},
				"recover":      {http.MethodPost, "/deletedsecrets/" + n("rec") + "/recover", nil, 200},
				"purge":        {http.MethodDelete, "/deletedsecrets/" + n("pur"), nil, 204},
				"delete":       {http.MethodDelete, "/secrets/" + n("live"), nil, 200},
				"restore":      {http.MethodPost, "/secrets/restore", []byte(`{"value":"` + blob + `"}`), 200},
			}
			for _, op := range kvOps {
				rq := reqs[op]
				r := e.do(t, host, tok, rq.method, rq.path+"?api-version=2026-04-01", rq.body)
				if granted[op] {
					if r.Status != rq.status {
						t.Errorf("%s as %s: %d %s, want %d", op, c.label, r.Status, kvShort(r.Body), rq.status)
					}
					continue
				}
				if r.Status != 403 {
					t.Errorf("%s as %s: %d %s, want 403", op, c.label, r.Status, kvShort(r.Body))
					continue
				}
				if code, inner := r.errorCode(t); code != "Forbidden" || inner != "ForbiddenByRbac" {
					t.Errorf("%s as %s: code %s/%s, want Forbidden/ForbiddenByRbac", op, c.label, code, inner)
				}
			}
			// A caller that may write nothing changed nothing.
			if !granted["set"] && !granted["update"] && !granted["delete"] {
				if diff := cmp.Diff(before, e.snapshot(t, "kvrbac", adminTok)); diff != "" {
					t.Errorf("refused requests changed the vault (-before +after):\n%s", diff)
				}
			}
		})
	}

	t.Run("assignment on one secret", func(t *testing.T) {
		p := e.identity(t, "c-one-secret")
		must(put(adminTok, "scoped-one", "one"), 200, "fixture")
		must(put(adminTok, "scoped-two", "two"), 200, "fixture")
		if _, err := e.w.tryCLI("role", "assignment", "create", "--assignee-object-id", p.objectID, "--assignee-principal-type", "ServicePrincipal",
			"--role", kvRoleSecretsUser, "--scope", vaultScope+"/secrets/scoped-one"); err != nil {
			t.Fatal(err)
		}
		tok := e.token(t, p, scope)
		if r := e.do(t, host, tok, http.MethodGet, "/secrets/scoped-one?api-version=7.6", nil); r.Status != 200 || r.json(t)["value"] != "one" {
			t.Errorf("get the assigned secret: %d %s", r.Status, kvShort(r.Body))
		}
		for _, path := range []string{"/secrets/scoped-two", "/secrets"} {
			if r := e.do(t, host, tok, http.MethodGet, path+"?api-version=7.6", nil); r.Status != 403 {
				t.Errorf("GET %s with a secret-scoped assignment: %d, want 403", path, r.Status)
			}
		}
	})

	t.Run("revoked assignment", func(t *testing.T) {
		p := e.identity(t, "c-revoked")
		e.assign(t, p.objectID, kvRoleSecretsUser, vaultScope)
		tok := e.token(t, p, scope)
		must(put(adminTok, "revoke-me", "x"), 200, "fixture")
		must(e.do(t, host, tok, http.MethodGet, "/secrets/revoke-me?api-version=7.6", nil), 200, "before revocation")
		e.w.cli(t, "role", "assignment", "delete", "--assignee", p.objectID, "--role", kvRoleSecretsUser, "--scope", vaultScope)
		// wif caches for at most --cache-ttl (5s by default).
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := e.do(t, host, tok, http.MethodGet, "/secrets/revoke-me?api-version=7.6", nil)
			if r.Status == 403 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d 15s after the assignment was deleted", r.Status)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})

	t.Run("real clients", func(t *testing.T) {
		user := e.identity(t, "sdk-user")
		e.assign(t, user.objectID, kvRoleSecretsUser, vaultScope)
		must(put(adminTok, "for-sdk", "sdk-value"), 200, "fixture")
		if m := e.kvGo(t, user, e.vaultURL("kvrbac"), "get", "-name", "for-sdk"); m["value"] != "sdk-value" {
			t.Errorf("Go SDK get as Secrets User = %v", m)
		}
		m := e.kvGo(t, user, e.vaultURL("kvrbac"), "set", "-name", "for-sdk", "-value", "overwritten")
		if em := kvMap(m["error"]); kvNum(em["status"]) != 403 || em["code"] != "Forbidden" || !strings.Contains(kvStr(em["message"]), "secrets/setSecret/action") {
			t.Errorf("Go SDK set as Secrets User = %v, want 403 Forbidden naming setSecret/action", m)
		}
		nobody := e.identity(t, "sdk-nobody")
		m = e.kvGo(t, nobody, e.vaultURL("kvrbac"), "get", "-name", "for-sdk")
		if em := kvMap(m["error"]); kvNum(em["status"]) != 403 || em["code"] != "Forbidden" {
			t.Errorf("Go SDK get without a role = %v, want 403 Forbidden", m)
		}
	})

	t.Run("tokens the data plane refuses", func(t *testing.T) {
		must(put(adminTok, "guarded", "x"), 200, "fixture")
		path := "/secrets/guarded?api-version=7.6"
		armTok := e.token(t, admin, e.w.Boot.ARMEndpoint+".default")
		otherPort := e.token(t, admin, "https://vault.localhost:1/.default")
		parts := strings.Split(adminTok, ".")
		tampered := parts[0] + "." + parts[1] + "." + flip(parts[2])
		// A token from another wif (another tenant, other keys): the only
		// way to hold a validly signed token of another tenant, since a
		// wif has one tenant through its API.
		other := startWif(t)
		otherTr := other.postToken(t, other.Boot.TenantID, map[string][]string{"grant_type": {"client_credentials"},
			"client_id": {other.Boot.ClientID}, "client_secret": {other.Boot.ClientSecret}, "scope": {scope}})
		if otherTr.AccessToken == "" {
			t.Fatalf("other wif token: %s", otherTr.Description)
		}
		if kvClaims(t, otherTr.AccessToken)["aud"] != e.resource() {
			t.Fatalf("other wif token audience = %v", kvClaims(t, otherTr.AccessToken)["aud"])
		}
		challenge := `Bearer authorization="` + e.w.URL + "/" + e.tenant + `", resource="` + e.resource() + `"`
		for _, tc := range []struct {
			name, token, authz string
			akv                string
		}{
			{name: "no token", akv: "AKV10000"},
			{name: "ARM audience", token: armTok, akv: "AKV10022"},
			{name: "vault resource on another port", token: otherPort, akv: "AKV10022"},
			{name: "tampered signature", token: tampered, akv: "AKV10013"},
			{name: "another tenant's wif", token: otherTr.AccessToken},
			{name: "not a JWT", token: "not-a-jwt", akv: "AKV10013"},
			{name: "Basic scheme", authz: "Basic YTpi", akv: "AKV10000"},
			{name: "empty bearer", authz: "Bearer ", akv: "AKV10000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
				switch {
				case tc.authz != "":
					req.Header.Set("Authorization", tc.authz)
				case tc.token != "":
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				resp, err := e.raw.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				r := kvResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
				if r.Status != 401 {
					t.Fatalf("status %d %s, want 401", r.Status, kvShort(r.Body))
				}
				if got := r.Header.Get("WWW-Authenticate"); got != challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
				}
				code, _ := r.errorCode(t)
				if code != "Unauthorized" {
					t.Errorf("code = %s, want Unauthorized", code)
				}
				if tc.akv != "" && !strings.Contains(string(r.Body), tc.akv) {
					t.Errorf("message does not carry %s: %s", tc.akv, kvShort(r.Body))
				}
			})
		}
	})
}

// TestKeyVaultBadInput sends malformed requests over raw HTTP: each gets a
// 4xx in Key Vault's error shape and the vault is unchanged.
func TestKeyVaultBadInput(t *testing.T) {
	kvEnsureHosts(t, "kvbad")
	e := kvStart(t)
	e.createVault(t, e.rg, "kvbad")
	host := e.vaultHost("kvbad")
	p := e.identity(t, "bad-admin")
	e.assign(t, p.objectID, kvRoleAdministrator, e.vaultScope(e.rg, "kvbad"))
	tok := e.token(t, p, e.resource()+"/.default")
	r := e.do(t, host, tok, http.MethodPut, "/secrets/s1?api-version=7.6", []byte(`{"value":"one","tags":{"a":"b"}}`))
	if r.Status != 200 {
		t.Fatalf("set: %d %s", r.Status, kvShort(r.Body))
	}
	ver := kvStr(r.json(t)["id"])
	ver = ver[strings.LastIndex(ver, "/")+1:]
	e.do(t, host, tok, http.MethodPut, "/secrets/gone?api-version=7.6", []byte(`{"value":"x"}`))
	e.do(t, host, tok, http.MethodDelete, "/secrets/gone?api-version=7.6", nil)
	before := e.snapshot(t, "kvbad", tok)

	big := strings.Repeat("x", 25601)
	tags16 := map[string]string{}
	for i := range 16 {
		tags16[fmt.Sprint("t", i)] = "v"
	}
	tags16JSON, _ := json.Marshal(map[string]any{"value": "x", "tags": tags16})
	type tc struct {
		name, method, path, body string
		host                     string
		status                   int
		code                     string
		// notKV: net/http itself refuses the request line, before any
		// handler runs, with a text/plain 400.
		notKV bool
	}
	cases := []tc{
		{name: "truncated JSON", method: "PUT", path: "/secrets/s1", body: `{"value":`, status: 400, code: "BadParameter"},
		{name: "JSON array", method: "PUT", path: "/secrets/s1", body: `[]`, status: 400, code: "BadParameter"},
		{name: "value is a number", method: "PUT", path: "/secrets/s1", body: `{"value":5}`, status: 400, code: "BadParameter"},
		{name: "no value", method: "PUT", path: "/secrets/s1", body: `{"contentType":"text/plain"}`, status: 400, code: "BadParameter"},
		{name: "empty body", method: "PUT", path: "/secrets/s1", body: ``, status: 400, code: "BadParameter"},
		{name: "trailing data", method: "PUT", path: "/secrets/s1", body: `{"value":"a"}{"value":"b"}`, status: 400, code: "BadParameter"},
		{name: "value over 25 KiB", method: "PUT", path: "/secrets/s1", body: `{"value":"` + big + `"}`, status: 400, code: "BadParameter"},
		{name: "body over 1 MiB", method: "PUT", path: "/secrets/s1", body: `{"value":"x","pad":"` + strings.Repeat("p", 1<<20) + `"}`, status: 400, code: "BadParameter"},
		{name: "16 tags", method: "PUT", path: "/secrets/s1", body: string(tags16JSON), status: 400, code: "BadParameter"},
		{name: "tag value too long", method: "PUT", path: "/secrets/s1", body: `{"value":"x","tags":{"a":"` + strings.Repeat("v", 257) + `"}}`, status: 400, code: "BadParameter"},
		{name: "empty tag name", method: "PUT", path: "/secrets/s1", body: `{"value":"x","tags":{"":"v"}}`, status: 400, code: "BadParameter"},
		{name: "contentType too long", method: "PUT", path: "/secrets/s1", body: `{"value":"x","contentType":"` + strings.Repeat("c", 256) + `"}`, status: 400, code: "BadParameter"},
		{name: "negative exp", method: "PUT", path: "/secrets/s1", body: `{"value":"x","attributes":{"exp":-1}}`, status: 400, code: "BadParameter"},
		{name: "exp after 9999", method: "PUT", path: "/secrets/s1", body: `{"value":"x","attributes":{"exp":253402300800}}`, status: 400, code: "BadParameter"},
		{name: "enabled is a string", method: "PUT", path: "/secrets/s1", body: `{"value":"x","attributes":{"enabled":"yes"}}`, status: 400, code: "BadParameter"},
		{name: "underscore in name", method: "PUT", path: "/secrets/bad_name", body: `{"value":"x"}`, status: 400, code: "BadParameter"},
		{name: "128-character name", method: "PUT", path: "/secrets/" + strings.Repeat("n", 128), body: `{"value":"x"}`, status: 400, code: "BadParameter"},
		{name: "encoded space in name", method: "PUT", path: "/secrets/bad%20name", body: `{"value":"x"}`, status: 400, code: "BadParameter"},
		{name: "encoded slash in name", method: "PUT", path: "/secrets/s1%2Fx", body: `{"value":"x"}`, status: 400, code: "BadParameter"},
		{name: "dot-dot name", method: "GET", path: "/secrets/%2e%2e", status: 400, code: "BadParameter"},
		{name: "bad percent-encoding", method: "GET", path: "/secrets/a%zz", status: 400, notKV: true},
		{name: "not a version", method: "GET", path: "/secrets/s1/not-a-version", status: 404, code: "SecretNotFound"},
		{name: "unknown collection", method: "GET", path: "/keys/k1", status: 404, code: "NotFound"},
		{name: "too deep", method: "GET", path: "/secrets/s1/" + ver + "/x/y", status: 404, code: "NotFound"},
		{name: "POST on a secret", method: "POST", path: "/secrets/s1", body: `{"value":"x"}`, status: 405, code: "MethodNotAllowed"},
		{name: "PUT on a version", method: "PUT", path: "/secrets/s1/" + ver, body: `{"value":"x"}`, status: 405, code: "MethodNotAllowed"},
		{name: "tags is a string", method: "PATCH", path: "/secrets/s1/" + ver, body: `{"tags":"x"}`, status: 400, code: "BadParameter"},
		{name: "update a missing secret", method: "PATCH", path: "/secrets/nope/", body: `{"contentType":"x"}`, status: 404, code: "SecretNotFound"},
		{name: "set a deleted name", method: "PUT", path: "/secrets/gone", body: `{"value":"x"}`, status: 409, code: "Conflict"},
		{name: "restore garbage", method: "POST", path: "/secrets/restore", body: `{"value":"bm90IGEgYmFja3Vw"}`, status: 400, code: "BadParameter"},
		{name: "restore not base64url", method: "POST", path: "/secrets/restore", body: `{"value":"!!!"}`, status: 400, code: "BadParameter"},
		{name: "restore empty value", method: "POST", path: "/secrets/restore", body: `{"value":""}`, status: 400, code: "BadParameter"},
		{name: "restore bad JSON", method: "POST", path: "/secrets/restore", body: `{`, status: 400, code: "BadParameter"},
		{name: "maxresults 0", method: "GET", path: "/secrets?maxresults=0", status: 400, code: "BadParameter"},
		{name: "maxresults 26", method: "GET", path: "/secrets?maxresults=26", status: 400, code: "BadParameter"},
		{name: "maxresults not a number", method: "GET", path: "/secrets?maxresults=ten", status: 400, code: "BadParameter"},
		{name: "bad skiptoken", method: "GET", path: "/secrets?$skiptoken=!!!", status: 400, code: "BadParameter"},
		{name: "purge a live secret", method: "DELETE", path: "/deletedsecrets/s1", status: 404, code: "SecretNotFound"},
		{name: "recover a live secret", method: "POST", path: "/deletedsecrets/s1/recover", status: 404, code: "SecretNotFound"},
		{name: "unknown vault", host: e.vaultHost("nosuchvault"), method: "GET", path: "/secrets/s1", status: 404, code: "VaultNotFound"},
		{name: "unknown vault, PUT", host: e.vaultHost("nosuchvault"), method: "PUT", path: "/secrets/s1", body: `{"value":"x"}`, status: 404, code: "VaultNotFound"},
		{name: "nested vault host", host: "a.kvbad.vault.localhost:" + e.port, method: "GET", path: "/secrets/s1", status: 404, code: "VaultNotFound"},
		{name: "invalid vault label", host: "kv_bad.vault.localhost:" + e.port, method: "GET", path: "/secrets/s1", status: 404, code: "VaultNotFound"},
		{name: "the resource host itself", host: "vault.localhost:" + e.port, method: "GET", path: "/secrets/s1", status: 404, code: "VaultNotFound"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := host
			if c.host != "" {
				h = c.host
			}
			var body []byte
			if c.method == "PUT" || c.method == "PATCH" || c.method == "POST" {
				body = []byte(c.body)
			}
			sep := "?"
			if strings.Contains(c.path, "?") {
				sep = "&"
			}
			r := e.do(t, h, tok, c.method, c.path+sep+"api-version=7.6", body)
			if r.Status != c.status {
				t.Errorf("status %d, want %d: %s", r.Status, c.status, kvShort(r.Body))
			}
			if c.notKV {
				return
			}
			if code, _ := r.errorCode(t); code != c.code {
				t.Errorf("code %q, want %q", code, c.code)
			}
		})
	}
	// Upper-case vault hosts and missing api-versions are accepted.
	if r := e.do(t, "KVBAD.vault.localhost:"+e.port, tok, http.MethodGet, "/secrets/s1/", nil); r.Status != 200 || r.json(t)["value"] != "one" {
		t.Errorf("upper-case host, no api-version: %d %s", r.Status, kvShort(r.Body))
	}
	// The challenge comes before the body is read, even a malformed one.
	if r := e.do(t, host, "", http.MethodPut, "/secrets/s1?api-version=7.6", []byte(`{"value":`)); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated malformed PUT: %d, WWW-Authenticate %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if diff := cmp.Diff(before, e.snapshot(t, "kvbad", tok)); diff != "" {
		t.Errorf("bad requests changed the vault (-before +after):\n%s", diff)
	}
	if logs := readLogs(e.w); strings.Contains(logs, `"value":"one"`) || strings.Contains(logs, big[:100]) {
		t.Errorf("the log contains a secret value")
	}
}

// TestKeyVaultJSSDK runs every operation through the unmodified
// @azure/keyvault-secrets client (test/js/kv.mjs) with
// WorkloadIdentityCredential, including the delete and recover pollers.
func TestKeyVaultJSSDK(t *testing.T) {
	node := kvNode(t)
	kvEnsureHosts(t, "kvjs")
	e := kvStart(t)
	e.createVault(t, e.rg, "kvjs")
	app := e.identity(t, "js-app")
	e.assign(t, app.objectID, kvRoleSecretsOfficer, e.vaultScope(e.rg, "kvjs"))
	cmd := exec.Command(node, "kv.mjs", "scenario", "js")
	cmd.Dir = kvJSDir
	cmd.Env = e.workloadEnv(t, app, strings.TrimSuffix(e.vaultURL("kvjs"), "/"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	out, err := cmd.Output()
	steps := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			steps[kvStr(m["step"])] = m
		}
	}
	if err != nil {
		t.Fatalf("node kv.mjs scenario: %v\n%s\nstderr: %s", err, out, stderr.String())
	}
	t.Logf("JS scenario took %v", time.Since(t0).Round(time.Millisecond))
	base := "https://" + e.vaultHost("kvjs")
	props := func(step string) map[string]any { return kvMap(steps[step]["properties"]) }
	set := props("set")
	if steps["set"]["value"] != "value-one" || set["vaultUrl"] != base || set["name"] != "js-a" || !kvVersionRE.MatchString(kvStr(set["version"])) ||
		set["id"] != base+"/secrets/js-a/"+kvStr(set["version"]) || set["contentType"] != "text/plain" ||
		!cmp.Equal(set["tags"], map[string]any{"env": "test"}) || set["enabled"] != true || set["recoveryLevel"] != "Recoverable+Purgeable" {
		t.Errorf("set = %v", steps["set"])
	}
	if steps["get"]["value"] != "value-two" || props("get")["version"] != props("set-version-2")["version"] {
		t.Errorf("get = %v", steps["get"])
	}
	if steps["get-version"]["value"] != "value-one" || props("get-version")["version"] != set["version"] {
		t.Errorf("get-version = %v", steps["get-version"])
	}
	if got := steps["list"]["names"]; !cmp.Equal(got, []any{"js-a", "js-b", "js-c"}) {
		t.Errorf("list = %v", got)
	}
	if got := steps["list-versions"]["versions"].([]any); len(got) != 2 {
		t.Errorf("list-versions = %v", got)
	}
	if u := props("update"); u["contentType"] != "application/json" || u["enabled"] != false || !cmp.Equal(u["tags"], map[string]any{"env": "prod", "team": "a"}) {
		t.Errorf("update = %v", u)
	}
	if g := steps["get-disabled"]; kvNum(g["statusCode"]) != 403 || g["code"] != "Forbidden" {
		t.Errorf("get-disabled = %v", g)
	}
	for _, s := range []string{"delete", "get-deleted"} {
		if d := steps[s]; d["name"] != "js-b" || d["recoveryId"] != base+"/deletedsecrets/js-b" || d["deletedOn"] == nil || d["scheduledPurgeDate"] == nil {
			t.Errorf("%s = %v", s, d)
		}
	}
	if got := steps["list-deleted"]["names"]; !cmp.Equal(got, []any{"js-b"}) {
		t.Errorf("list-deleted = %v", got)
	}
	if r := steps["recover"]; r["name"] != "js-b" || r["value"] != "bee" {
		t.Errorf("recover = %v", r)
	}
	if b := steps["backup"]; kvNum(b["bytes"]) < 32 {
		t.Errorf("backup = %v", b)
	}
	if d := steps["delete-purge"]; kvNum(d["getDeletedAfterPurge"]) != 404 {
		t.Errorf("delete-purge = %v", d)
	}
	if r := steps["restore"]; r["name"] != "js-c" || r["value"] != "sea" {
		t.Errorf("restore = %v", r)
	}
}

// TestSeedGuideEndToEnd is the seed guide in one script: a cluster with
// wif's OIDC issuer (its tokens signed with the exported service-account
// key, as kube-apiserver would), an identity federated with it, a vault
// with a secret and a Secrets User assignment, and then unmodified Go and
// JavaScript workloads that read the secret given only the webhook's
// environment and the CA trust variable. docs/keyvault.md walks through
// the same steps.
func TestSeedGuideEndToEnd(t *testing.T) {
	kvEnsureHosts(t, "kvseed")
	seedGuide(t, startWif(t))
}

// seedGuide runs the seed guide's steps against w, a wif server or a load
// balancer in front of replicas, with the CLI logged in to it.
func seedGuide(t *testing.T, w *wifProc) {
	tenant := w.Boot.TenantID
	port := strings.TrimPrefix(w.URL, "https://localhost:")

	// 1. Resource group and cluster with the OIDC issuer and workload identity.
	w.cli(t, "group", "create", "-n", "myRG", "-l", "eastus")
	w.cli(t, "aks", "create", "-g", "myRG", "-n", "myCluster")
	w.cli(t, "aks", "update", "-g", "myRG", "-n", "myCluster", "--enable-oidc-issuer", "--enable-workload-identity")
	issuerURL := strings.TrimSpace(w.cli(t, "aks", "show", "-n", "myCluster", "-g", "myRG", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv"))
	if !strings.HasPrefix(issuerURL, w.URL+"/oidc/"+tenant+"/") || !strings.HasSuffix(issuerURL, "/") {
		t.Fatalf("issuer URL = %q", issuerURL)
	}
	keyDir := t.TempDir()
	flags := w.cli(t, "aks", "oidc-issuer", "export-keys", "-g", "myRG", "-n", "myCluster", "--dir", keyDir)
	if !strings.Contains(flags, "--service-account-issuer="+issuerURL) {
		t.Errorf("export-keys flags = %q", flags)
	}

	// 2. Identity and federated credential for the service account.
	var id struct{ ClientID, PrincipalID string }
	json.Unmarshal([]byte(w.cli(t, "identity", "create", "--name", "my-app-identity", "--resource-group", "myRG")), &id)
	clientID := strings.TrimSpace(w.cli(t, "identity", "show", "--name", "my-app-identity", "--resource-group", "myRG", "--query", "clientId", "-o", "tsv"))
	if clientID != id.ClientID || clientID == "" {
		t.Fatalf("clientId = %q, create said %q", clientID, id.ClientID)
	}
	w.cli(t, "identity", "federated-credential", "create", "--name", "my-federated-id", "--identity-name", "my-app-identity",
		"--resource-group", "myRG", "--issuer", issuerURL, "--subject", "system:serviceaccount:default:my-app-sa")

	// 3. Vault, the admin's secret, and Secrets User for the identity.
	kv := jsonObject(t, w.cli(t, "keyvault", "create", "-n", "kvseed", "-g", "myRG"))
	vaultURL := kvStr(kvMap(kv["properties"])["vaultUri"])
	vaultID := kvStr(kv["id"])
	if vaultURL != "https://kvseed.vault.localhost:"+port+"/" {
		t.Fatalf("vaultUri = %q", vaultURL)
	}
	adminOID := strings.TrimSpace(w.cli(t, "role", "assignment", "list", "--role", "Owner", "--query", "[0].principalId", "-o", "tsv"))
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", adminOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", kvRoleSecretsOfficer, "--scope", vaultID)
	w.cli(t, "role", "assignment", "create", "--assignee-object-id", id.PrincipalID, "--assignee-principal-type", "ServicePrincipal",
		"--role", kvRoleSecretsUser, "--scope", vaultID)
	e := &kvEnv{w: w, tenant: tenant, sub: w.Boot.SubscriptionID, port: port}
	e.raw = kvLoopbackClient(t, w.Boot.CAFile, port)
	adminTok, oid := e.adminToken(t, "https://vault.localhost:"+port+"/.default")
	if oid != adminOID {
		t.Fatalf("admin token oid %s, Owner assignment principal %s", oid, adminOID)
	}
	if r := e.do(t, e.vaultHost("kvseed"), adminTok, http.MethodPut, "/secrets/my-secret?api-version=7.6", []byte(`{"value":"Hello from wif!"}`)); r.Status != 200 {
		t.Fatalf("admin set secret: %d %s", r.Status, kvShort(r.Body))
	}

	// 4. The cluster's service-account token, signed with the exported key
	// and kid derived as kube-apiserver derives it.
	keyPEM, err := os.ReadFile(filepath.Join(keyDir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		t.Fatal("sa.key is not PEM")
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		key = k.(crypto.Signer)
	} else if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		key = k
	} else {
		t.Fatalf("sa.key: %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	now := time.Now()
	saToken := signJWT(t, jose.RS256, key, kid, map[string]any{
		"iss": issuerURL, "sub": "system:serviceaccount:default:my-app-sa", "aud": []string{"api://AzureADTokenExchange"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(now.UnixNano()),
		"kubernetes.io": map[string]any{"namespace": "default", "serviceaccount": map[string]any{"name": "my-app-sa", "uid": "1111"},
			"pod": map[string]any{"name": "my-app", "uid": "2222"}},
	})
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	os.WriteFile(tokenFile, []byte(saToken), 0o600)

	// 5. The workloads, given only what the webhook injects plus CA trust.
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AZURE_CLIENT_ID=" + clientID, "AZURE_TENANT_ID=" + tenant,
		"AZURE_FEDERATED_TOKEN_FILE=" + tokenFile, "AZURE_AUTHORITY_HOST=" + w.Boot.AuthorityHost,
	}
	t.Run("Go", func(t *testing.T) {
		cmd := exec.Command(kvBinary(t), "-vault", vaultURL, "get", "-name", "my-secret")
		cmd.Env = append(slices.Clone(env), "SSL_CERT_FILE="+w.Boot.CAFile)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("Go workload: %v\n%s\n%s", err, out, stderrOf(err))
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		if m["value"] != "Hello from wif!" || !strings.HasPrefix(kvStr(m["id"]), strings.TrimSuffix(vaultURL, "/")+"/secrets/my-secret/") {
			t.Errorf("Go workload read %s", out)
		}
		// Without the CA trust the SDK refuses the connection.
		cmd = exec.Command(kvBinary(t), "-vault", vaultURL, "-timeout", "3s", "get", "-name", "my-secret")
		cmd.Env = env
		// (azcore retries the failed TLS handshakes until the timeout.)
		if out, err := cmd.Output(); err == nil || !strings.Contains(string(out)+stderrOf(err), "certificate") && !strings.Contains(string(out), "deadline exceeded") {
			t.Errorf("Go workload without SSL_CERT_FILE: err %v, %s", err, out)
		}
		// Secrets User may read but not write.
		cmd = exec.Command(kvBinary(t), "-vault", vaultURL, "set", "-name", "my-secret", "-value", "changed")
		cmd.Env = append(slices.Clone(env), "SSL_CERT_FILE="+w.Boot.CAFile)
		out, _ = cmd.Output()
		if !strings.Contains(string(out), `"status":403`) {
			t.Errorf("Go workload set as Secrets User: %s", out)
		}
	})
	t.Run("JavaScript", func(t *testing.T) {
		node := kvNode(t)
		cmd := exec.Command(node, "kv.mjs", "get", "my-secret")
		cmd.Dir = kvJSDir
		cmd.Env = append(slices.Clone(env), "NODE_EXTRA_CA_CERTS="+w.Boot.CAFile, "AZURE_KEYVAULT_URL="+strings.TrimSuffix(vaultURL, "/"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("JS workload: %v\n%s\n%s", err, out, stderrOf(err))
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		if m["value"] != "Hello from wif!" || m["name"] != "my-secret" {
			t.Errorf("JS workload read %s", out)
		}
	})
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
