package keyvault_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wifproject/wif/internal/rbac"
)

// parseChallengeGo parses WWW-Authenticate the way azsecrets' challenge
// policy does: strip "Bearer ", split on spaces, then on "=", keep parts of
// exactly two pieces, trim a trailing "," and the quotes.
func parseChallengeGo(h string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(h, "Bearer "), " ") {
		kv := strings.Split(part, "=")
		if len(kv) != 2 {
			continue
		}
		out[kv[0]] = strings.Trim(strings.TrimSuffix(kv[1], ","), `"`)
	}
	return out
}

// parseChallengeJS parses it like @azure/keyvault-common: split on
// /,? +/, then key="value".
func parseChallengeJS(h string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`^(\w+)="([^"]*)"$`)
	for _, part := range regexp.MustCompile(`,? +`).Split(h, -1) {
		if m := re.FindStringSubmatch(part); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

func TestChallenge(t *testing.T) {
	e := newEnv(t)
	want := `Bearer authorization="https://localhost:8443/` + tenantA + `", resource="https://vault.localhost:8443"`
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"get", http.MethodGet, "/secrets/s1/", nil},
		{"body-less put", http.MethodPut, "/secrets/s1", nil},
		{"put with body", http.MethodPut, "/secrets/s1", `{"value":"v"}`},
		{"invalid path", http.MethodGet, "/nothing/here", nil},
		{"malformed body", http.MethodPut, "/secrets/s1", `{"value":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, vaultURL+tc.path+apiQuery, "", tc.body)
			if r.status != http.StatusUnauthorized || r.code() != "Unauthorized" {
				t.Fatalf("status %d code %q, want 401 Unauthorized", r.status, r.code())
			}
			got := r.header.Get("WWW-Authenticate")
			if got != want {
				t.Fatalf("WWW-Authenticate = %s\nwant %s", got, want)
			}
			for name, parse := range map[string]func(string) map[string]string{"go": parseChallengeGo, "js": parseChallengeJS} {
				p := parse(got)
				authz, err := url.Parse(p["authorization"])
				if err != nil || strings.Split(p["authorization"], "/")[3] != tenantA || authz.Path[1:] != tenantA {
					t.Errorf("%s: authorization %q does not carry the tenant", name, p["authorization"])
				}
				res, err := url.Parse(p["resource"])
				if err != nil || res.String() != resource {
					t.Errorf("%s: resource %q", name, p["resource"])
				}
				// Go's check: the vault host (with port) ends with "." + resource host.
				if !strings.HasSuffix(vaultHost, "."+res.Host) {
					t.Errorf("%s: vault host %s fails Go's resource verification against %s", name, vaultHost, res.Host)
				}
				if !strings.HasSuffix("myvault.vault.localhost", "."+res.Hostname()) {
					t.Errorf("%s: JS resource verification fails", name)
				}
			}
		})
	}
	if s := e.snapshot(); len(s) != 0 {
		t.Errorf("unauthenticated requests changed the store: %v", s)
	}
	// The challenge names the vault's tenant, on any 401.
	other := e.token(tenantB, "someone", resource)
	r := e.do(http.MethodGet, vaultURL+"/secrets"+apiQuery, other, nil)
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != want {
		t.Errorf("token of another tenant: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	// Unknown vaults and foreign hosts are 404 VaultNotFound, without a
	// challenge.
	for _, u := range []string{"https://nosuch.vault.localhost:8443/secrets", "https://a.b.vault.localhost:8443/secrets", "https://elsewhere:8443/secrets"} {
		r := e.do(http.MethodGet, u+apiQuery, "", nil)
		if r.status != http.StatusNotFound || r.code() != "VaultNotFound" || r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	oid := e.principal(rbac.KeyVaultSecretsOfficerID, vaultScope)
	good := e.token(tenantA, oid, resource)
	e.set(good, "s1", "v1")
	expired := e.token(tenantA, oid, resource)
	e.clock.Advance(2 * time.Hour)
	good = e.token(tenantA, oid, resource)
	for _, tc := range []struct {
		name, authz string
		status      int
	}{
		{"valid", "Bearer " + good, 200},
		{"valid, trailing slash audience", "Bearer " + e.token(tenantA, oid, resource+"/"), 200},
		{"lower-case scheme", "bearer " + good, 200},
		{"other audience", "Bearer " + e.token(tenantA, oid, "https://management.localhost/"), 401},
		{"audience without port", "Bearer " + e.token(tenantA, oid, "https://vault.localhost"), 401},
		{"other tenant", "Bearer " + e.token(tenantB, oid, resource), 401},
		{"expired", "Bearer " + expired, 401},
		{"garbage", "Bearer abc.def.ghi", 401},
		{"tampered", "Bearer " + good[:len(good)-4] + "AAAA", 401},
		{"basic", "Basic dXNlcjpwYXNz", 401},
		{"empty bearer", "Bearer ", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, vaultURL+"/secrets/s1/"+apiQuery, nil)
			req.Header.Set("Authorization", tc.authz)
			res, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	base := vaultURL + "/secrets/"

	// Set, with content type, attributes and tags.
	nbf, exp := t0.Add(-time.Hour).Unix(), t0.Add(24*time.Hour).Unix()
	r := e.do(http.MethodPut, base+"Alpha"+apiQuery, tok, map[string]any{"value": "v1", "contentType": "text/plain",
		"attributes": map[string]any{"enabled": true, "nbf": nbf, "exp": exp, "created": 1, "recoveryLevel": "x"},
		"tags":       map[string]any{"env": "test", "nil": nil}})
	if r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	b1 := r.bundle(t)
	v1 := strings.TrimPrefix(b1.ID, vaultURL+"/secrets/Alpha/")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(v1) {
		t.Fatalf("id %s: version %q is not 32 lower-case hex digits", b1.ID, v1)
	}
	if *b1.Value != "v1" || b1.ContentType != "text/plain" || !cmp.Equal(b1.Tags, map[string]string{"env": "test", "nil": ""}) ||
		b1.Attributes.NotBefore != nbf || b1.Attributes.Expires != exp || b1.Attributes.Created != t0.Unix() ||
		b1.Attributes.Updated != t0.Unix() || !b1.Attributes.Enabled || b1.Attributes.RecoverableDays != 90 ||
		b1.Attributes.RecoveryLevel != "Recoverable+Purgeable" {
		t.Errorf("set returned %s", r.body)
	}
	if bytes.Contains(r.body, []byte(`"created":1,`)) {
		t.Error("read-only created was taken from the request")
	}
	e.clock.Advance(time.Second)
	b2 := e.set(tok, "alpha", "v2")
	v2 := b2.ID[strings.LastIndex(b2.ID, "/")+1:]
	if b2.ID != vaultURL+"/secrets/Alpha/"+v2 {
		t.Errorf("second version id %s keeps neither the first casing nor the vault host", b2.ID)
	}

	// Get: latest with and without trailing slash, by version; names are
	// case-insensitive.
	for path, want := range map[string]string{"Alpha/": "v2", "alpha": "v2", "ALPHA/" + v1: "v1", "alpha/" + strings.ToUpper(v2): "v2"} {
		r := e.do(http.MethodGet, base+path+apiQuery, tok, nil)
		if r.status != 200 || *r.bundle(t).Value != want {
			t.Errorf("GET %s: %d %s, want %s", path, r.status, r.body, want)
		}
	}
	// The percent-encoded api-version key the JS SDK sends is accepted.
	if r := e.do(http.MethodGet, base+"alpha/?api%2Dversion=7.6", tok, nil); r.status != 200 {
		t.Errorf("percent-encoded api-version: %d", r.status)
	}
	for _, path := range []string{"nope/", "alpha/" + strings.Repeat("0", 32), "alpha/notahexversion"} {
		if r := e.do(http.MethodGet, base+path+apiQuery, tok, nil); r.status != 404 || r.code() != "SecretNotFound" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}

	// Update properties of one version, then of the latest.
	e.clock.Advance(time.Second)
	r = e.do(http.MethodPatch, base+"alpha/"+v1+apiQuery, tok, map[string]any{"contentType": "application/json",
		"tags": map[string]string{"k": "v"}, "value": "ignored"})
	if u := r.bundle(t); r.status != 200 || u.Value != nil || u.ContentType != "application/json" ||
		!cmp.Equal(u.Tags, map[string]string{"k": "v"}) || u.Attributes.Updated != t0.Unix()+2 || u.Attributes.Created != t0.Unix() ||
		u.Attributes.Expires != exp {
		t.Errorf("PATCH version: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodPatch, base+"alpha/"+apiQuery, tok, map[string]any{"attributes": map[string]any{"enabled": false}})
	if u := r.bundle(t); r.status != 200 || u.Attributes.Enabled || u.ID != b2.ID {
		t.Errorf("PATCH latest: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, base+"alpha/"+apiQuery, tok, nil); r.status != 403 || r.code() != "Forbidden" || r.inner() != "SecretDisabled" ||
		!strings.Contains(r.code()+string(r.body), "Operation get is not allowed on a disabled secret.") {
		t.Errorf("GET disabled: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, base+"alpha/"+v1+apiQuery, tok, nil); r.status != 200 {
		t.Errorf("GET enabled older version: %d %s", r.status, r.body)
	}
	e.do(http.MethodPatch, base+"alpha/"+apiQuery, tok, map[string]any{"attributes": map[string]any{"enabled": true}})
	if r := e.do(http.MethodPatch, base+"nope/"+apiQuery, tok, map[string]any{}); r.status != 404 || r.code() != "SecretNotFound" {
		t.Errorf("PATCH missing: %d %s", r.status, r.body)
	}

	// Lists carry no values.
	e.set(tok, "beta", "b")
	r = e.do(http.MethodGet, vaultURL+"/secrets"+apiQuery, tok, nil)
	p := r.page(t)
	if r.status != 200 || len(p.Value) != 2 || p.NextLink != nil || bytes.Contains(r.body, []byte(`"value":"`)) ||
		p.Value[0].ID != vaultURL+"/secrets/Alpha" || p.Value[1].ID != vaultURL+"/secrets/beta" {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, base+"alpha/versions"+apiQuery, tok, nil)
	p = r.page(t)
	if r.status != 200 || len(p.Value) != 2 || p.Value[0].ID != vaultURL+"/secrets/Alpha/"+v1 || p.Value[1].ID != b2.ID {
		t.Errorf("versions: %d %s", r.status, r.body)
	}

	// Delete: soft, with recovery fields; then the name is held.
	e.clock.Advance(time.Second)
	r = e.do(http.MethodDelete, base+"alpha"+apiQuery, tok, nil)
	d := r.bundle(t)
	if r.status != 200 || d.RecoveryID != vaultURL+"/deletedsecrets/Alpha" || d.DeletedDate != t0.Unix()+3 ||
		d.ScheduledPurgeDate != t0.Add(90*24*time.Hour).Unix()+3 || d.ID != b2.ID || d.Value != nil {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, base+"alpha"+apiQuery, tok, nil); r.status != 404 || r.code() != "SecretNotFound" {
		t.Errorf("second delete: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, base+"alpha/"+apiQuery, tok, nil); r.status != 404 || r.code() != "SecretNotFound" {
		t.Errorf("GET deleted: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodPut, base+"ALPHA"+apiQuery, tok, map[string]any{"value": "x"})
	if r.status != 409 || r.code() != "Conflict" || !bytes.Contains(r.body, []byte("deleted but recoverable state")) {
		t.Errorf("PUT over deleted: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil)
	if g := r.bundle(t); r.status != 200 || g.RecoveryID != d.RecoveryID || g.DeletedDate != d.DeletedDate || g.ScheduledPurgeDate != d.ScheduledPurgeDate {
		t.Errorf("get deleted: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, vaultURL+"/deletedsecrets/beta"+apiQuery, tok, nil); r.status != 404 || r.code() != "SecretNotFound" {
		t.Errorf("get deleted of live secret: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, vaultURL+"/deletedsecrets"+apiQuery, tok, nil)
	if p := r.page(t); r.status != 200 || len(p.Value) != 1 || p.Value[0].RecoveryID != d.RecoveryID || p.Value[0].ID != vaultURL+"/secrets/Alpha" {
		t.Errorf("list deleted: %d %s", r.status, r.body)
	}

	// Recover brings every version back.
	r = e.do(http.MethodPost, vaultURL+"/deletedsecrets/alpha/recover"+apiQuery, tok, nil)
	if g := r.bundle(t); r.status != 200 || g.ID != b2.ID {
		t.Errorf("recover: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, base+"alpha/"+v1+apiQuery, tok, nil); r.status != 200 || *r.bundle(t).Value != "v1" {
		t.Errorf("GET after recover: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodPost, vaultURL+"/deletedsecrets/alpha/recover"+apiQuery, tok, nil); r.status != 404 {
		t.Errorf("recover of live secret: %d %s", r.status, r.body)
	}

	// Backup, delete, purge, restore.
	r = e.do(http.MethodPost, base+"alpha/backup"+apiQuery, tok, nil)
	var blob struct{ Value string }
	if err := json.Unmarshal(r.body, &blob); err != nil || r.status != 200 || !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(blob.Value) {
		t.Fatalf("backup: %d %s", r.status, r.body)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(blob.Value); err != nil || bytes.Contains(raw, []byte(`"versions"`)) || bytes.Contains(raw, []byte("Alpha")) {
		t.Errorf("backup blob is not sealed: %v", err)
	}
	if r := e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, map[string]string{"value": blob.Value}); r.status != 409 || r.code() != "Conflict" {
		t.Errorf("restore over live secret: %d %s", r.status, r.body)
	}
	e.do(http.MethodDelete, base+"alpha"+apiQuery, tok, nil)
	if r := e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, map[string]string{"value": blob.Value}); r.status != 409 {
		t.Errorf("restore over deleted secret: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodDelete, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil)
	if r.status != 204 || len(r.body) != 0 {
		t.Errorf("purge: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil); r.status != 404 {
		t.Errorf("second purge: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, vaultURL+"/deletedsecrets/alpha"+apiQuery, tok, nil); r.status != 404 {
		t.Errorf("get purged: %d", r.status)
	}
	r = e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, map[string]string{"value": blob.Value})
	if g := r.bundle(t); r.status != 200 || g.ID != b2.ID || g.Value != nil {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	for ver, want := range map[string]string{"": "v2", v1: "v1", v2: "v2"} {
		r := e.do(http.MethodGet, base+"alpha/"+ver+apiQuery, tok, nil)
		if r.status != 200 || *r.bundle(t).Value != want {
			t.Errorf("after restore, GET alpha/%s: %d %s", ver, r.status, r.body)
		}
	}
	r = e.do(http.MethodGet, base+"alpha/"+v1+apiQuery, tok, nil)
	if g := r.bundle(t); g.ContentType != "application/json" || g.Attributes.Created != t0.Unix() {
		t.Errorf("restore lost properties: %s", r.body)
	}
	// A tampered blob does not restore.
	bad := []byte(blob.Value)
	bad[len(bad)/2] ^= 1
	if r := e.do(http.MethodPost, vaultURL+"/secrets/restore"+apiQuery, tok, map[string]string{"value": string(bad)}); r.status != 400 || r.code() != "BadParameter" {
		t.Errorf("tampered restore: %d %s", r.status, r.body)
	}
	// "restore" is a valid secret name for everything but POST.
	e.set(tok, "restore", "r")
	if r := e.do(http.MethodGet, base+"restore"+apiQuery, tok, nil); r.status != 200 || *r.bundle(t).Value != "r" {
		t.Errorf("secret named restore: %d %s", r.status, r.body)
	}

	// Another vault with a short retention reports it.
	other := e.token(tenantA, e.principal(rbac.KeyVaultSecretsOfficerID, "/subscriptions/"+subA+"/resourceGroups/rg2"), resource)
	r = e.do(http.MethodPut, "https://other.vault.localhost:8443/secrets/x"+apiQuery, other, map[string]string{"value": "y"})
	if g := r.bundle(t); r.status != 200 || g.Attributes.RecoverableDays != 7 || g.Attributes.RecoveryLevel != "CustomizedRecoverable+Purgeable" ||
		!strings.HasPrefix(g.ID, "https://other.vault.localhost:8443/secrets/x/") {
		t.Errorf("other vault: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, base+"x/"+apiQuery, tok, nil); r.status != 404 {
		t.Errorf("secret of another vault visible: %d", r.status)
	}
	// A backup restores into another vault of the subscription, resealed
	// for its new place.
	r = e.do(http.MethodPost, "https://other.vault.localhost:8443/secrets/restore"+apiQuery, other, map[string]string{"value": blob.Value})
	if r.status != 200 {
		t.Fatalf("restore into other vault: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "https://other.vault.localhost:8443/secrets/alpha/"+v1+apiQuery, other, nil); r.status != 200 || *r.bundle(t).Value != "v1" {
		t.Errorf("GET restored copy: %d %s", r.status, r.body)
	}
}

func TestExpiredSecretsAreServed(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	for name, attrs := range map[string]map[string]any{
		"expired":  {"exp": t0.Add(-time.Hour).Unix()},
		"notyet":   {"nbf": t0.Add(time.Hour).Unix()},
		"disabled": {"enabled": false},
	} {
		r := e.do(http.MethodPut, vaultURL+"/secrets/"+name+apiQuery, tok, map[string]any{"value": "v", "attributes": attrs})
		if r.status != 200 {
			t.Fatalf("set %s: %d %s", name, r.status, r.body)
		}
	}
	for name, want := range map[string]int{"expired": 200, "notyet": 200, "disabled": 403} {
		if r := e.do(http.MethodGet, vaultURL+"/secrets/"+name+"/"+apiQuery, tok, nil); r.status != want {
			t.Errorf("GET %s: %d, want %d", name, r.status, want)
		}
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	for _, n := range []string{"s3", "s1", "s5", "s2", "s4"} {
		e.set(tok, n, "v-"+n)
	}
	for i := 0; i < 4; i++ {
		e.clock.Advance(time.Millisecond)
		e.set(tok, "s1", "again")
	}
	collect := func(first string) (ids []string, links []string) {
		t.Helper()
		next := first
		for pages := 0; next != ""; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			r := e.do(http.MethodGet, next, tok, nil)
			if r.status != 200 {
				t.Fatalf("GET %s: %d %s", next, r.status, r.body)
			}
			p := r.page(t)
			if len(p.Value) > 2 {
				t.Errorf("page of %d items with maxresults=2", len(p.Value))
			}
			for _, b := range p.Value {
				ids = append(ids, b.ID)
			}
			next = ""
			if p.NextLink != nil {
				next = *p.NextLink
				links = append(links, next)
			}
		}
		return ids, links
	}
	ids, links := collect(vaultURL + "/secrets?api-version=2026-04-01&maxresults=2")
	var want []string
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5"} {
		want = append(want, vaultURL+"/secrets/"+n)
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("paged list (-want +got):\n%s", d)
	}
	if len(links) != 2 {
		t.Errorf("nextLinks = %v", links)
	}
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil || !u.IsAbs() || u.Host != vaultHost || u.Query().Get("api-version") != "2026-04-01" || u.Query().Get("$skiptoken") == "" {
			t.Errorf("nextLink %s is not absolute with api-version and $skiptoken", l)
		}
	}
	ids, _ = collect(vaultURL + "/secrets/s1/versions?api-version=7.6&maxresults=2")
	if len(ids) != 5 {
		t.Errorf("paged versions = %v", ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !strings.HasPrefix(id, vaultURL+"/secrets/s1/") {
			t.Errorf("version id %s repeated or malformed", id)
		}
		seen[id] = true
	}
	for _, n := range []string{"s1", "s2", "s3"} {
		e.do(http.MethodDelete, vaultURL+"/secrets/"+n+apiQuery, tok, nil)
	}
	ids, _ = collect(vaultURL + "/deletedsecrets?api-version=7.6&maxresults=2")
	if len(ids) != 3 {
		t.Errorf("paged deleted list = %v", ids)
	}
	// Default page size is 25.
	r := e.do(http.MethodGet, vaultURL+"/secrets"+apiQuery, tok, nil)
	if p := r.page(t); len(p.Value) != 2 || p.NextLink != nil {
		t.Errorf("unpaged list: %s", r.body)
	}
	for _, q := range []string{"&maxresults=0", "&maxresults=26", "&maxresults=x", "&$skiptoken=%25%25"} {
		if r := e.do(http.MethodGet, vaultURL+"/secrets"+apiQuery+q, tok, nil); r.status != 400 || r.code() != "BadParameter" {
			t.Errorf("list with %s: %d %s", q, r.status, r.body)
		}
	}
}

func TestRBAC(t *testing.T) {
	e := newEnv(t)
	admin := e.officer()
	e.set(admin, "s1", "v")
	e.set(admin, "s2", "v")
	e.set(admin, "gone", "v")
	e.do(http.MethodDelete, vaultURL+"/secrets/gone"+apiQuery, admin, nil)

	otherVault := "/subscriptions/" + subA + "/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/other"
	principals := map[string]string{
		"none":            e.principal("", ""),
		"user":            e.principal(rbac.KeyVaultSecretsUserID, vaultScope),
		"officer":         e.principal(rbac.KeyVaultSecretsOfficerID, vaultScope),
		"reader":          e.principal(rbac.KeyVaultReaderID, vaultScope),
		"admin":           e.principal(rbac.KeyVaultAdministratorID, vaultScope),
		"rg user":         e.principal(rbac.KeyVaultSecretsUserID, rgScope),
		"sub officer":     e.principal(rbac.KeyVaultSecretsOfficerID, "/subscriptions/"+subA),
		"s1 user":         e.principal(rbac.KeyVaultSecretsUserID, vaultScope+"/secrets/s1"),
		"other vault":     e.principal(rbac.KeyVaultSecretsOfficerID, otherVault),
		"arm contributor": e.principal(rbac.ContributorID, vaultScope),
		"owner":           e.principal(rbac.OwnerID, "/subscriptions/"+subA),
	}
	type req struct{ method, path string }
	get := req{"GET", "/secrets/s1/"}
	list := req{"GET", "/secrets"}
	versions := req{"GET", "/secrets/s1/versions"}
	set := req{"PUT", "/secrets/s3"}
	patch := req{"PATCH", "/secrets/s2/"}
	getDeleted := req{"GET", "/deletedsecrets/gone"}
	backup := req{"POST", "/secrets/s1/backup"}
	get2 := req{"GET", "/secrets/s2/"}
	ops := []req{get, get2, list, versions, set, patch, getDeleted, backup}
	allow := func(rs ...req) map[req]bool {
		m := map[req]bool{}
		for _, r := range rs {
			m[r] = true
		}
		return m
	}
	all := allow(ops...)
	want := map[string]map[req]bool{
		"none":            allow(),
		"user":            allow(get, get2, list, versions, getDeleted),
		"officer":         all,
		"reader":          allow(list, versions, getDeleted),
		"admin":           all,
		"rg user":         allow(get, get2, list, versions, getDeleted),
		"sub officer":     all,
		"s1 user":         allow(get, versions),
		"other vault":     allow(),
		"arm contributor": allow(),
		"owner":           allow(),
	}
	for who, oid := range principals {
		tok := e.token(tenantA, oid, resource)
		for _, op := range ops {
			var body any
			if op.method == "PUT" || op.method == "PATCH" {
				body = map[string]any{"value": "new", "tags": map[string]string{"by": who}}
			}
			before := e.snapshot()
			r := e.do(op.method, vaultURL+op.path+apiQuery, tok, body)
			if want[who][op] {
				if r.status != 200 {
					t.Errorf("%s %s %s: %d %s, want 200", who, op.method, op.path, r.status, r.body)
				}
				if op == set {
					e.do(http.MethodDelete, vaultURL+"/secrets/s3"+apiQuery, admin, nil)
					e.do(http.MethodDelete, vaultURL+"/deletedsecrets/s3"+apiQuery, admin, nil)
				}
				continue
			}
			if r.status != 403 || r.code() != "Forbidden" || r.inner() != "ForbiddenByRbac" ||
				!bytes.Contains(r.body, []byte("Caller is not authorized to perform action on resource.")) ||
				!bytes.Contains(r.body, []byte("oid="+oid)) {
				t.Errorf("%s %s %s: %d %s, want 403 ForbiddenByRbac", who, op.method, op.path, r.status, r.body)
			}
			if d := cmp.Diff(before, e.snapshot()); d != "" {
				t.Errorf("%s %s %s: denied request changed the store:\n%s", who, op.method, op.path, d)
			}
		}
	}
	// The action names in the message are Azure's data actions.
	r := e.do(http.MethodPut, vaultURL+"/secrets/x"+apiQuery, e.token(tenantA, principals["user"], resource), map[string]string{"value": "v"})
	if !bytes.Contains(r.body, []byte("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'")) {
		t.Errorf("403 message: %s", r.body)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	e.set(tok, "s1", "v")
	e.set(tok, "held", "v")
	e.do(http.MethodDelete, vaultURL+"/secrets/held"+apiQuery, tok, nil)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed JSON", "PUT", "/secrets/s1", `{"value":`, 400, "BadParameter"},
		{"trailing data", "PUT", "/secrets/s1", `{"value":"a"}{}`, 400, "BadParameter"},
		{"not an object", "PUT", "/secrets/s1", `"value"`, 400, "BadParameter"},
		{"value of wrong type", "PUT", "/secrets/s1", `{"value":1}`, 400, "BadParameter"},
		{"missing value", "PUT", "/secrets/s1", `{"contentType":"x"}`, 400, "BadParameter"},
		{"empty body", "PUT", "/secrets/s1", "", 400, "BadParameter"},
		{"value too large", "PUT", "/secrets/s1", map[string]string{"value": strings.Repeat("x", 25601)}, 400, "BadParameter"},
		{"too many tags", "PUT", "/secrets/s1", map[string]any{"value": "v", "tags": manyTags(16)}, 400, "BadParameter"},
		{"negative exp", "PUT", "/secrets/s1", `{"value":"v","attributes":{"exp":-1}}`, 400, "BadParameter"},
		{"fractional nbf", "PUT", "/secrets/s1", `{"value":"v","attributes":{"nbf":1.5}}`, 400, "BadParameter"},
		{"invalid name", "PUT", "/secrets/bad_name", map[string]string{"value": "v"}, 400, "BadParameter"},
		{"encoded space in name", "PUT", "/secrets/bad%20name", map[string]string{"value": "v"}, 400, "BadParameter"},
		{"encoded slash in name", "PUT", "/secrets/a%2Fb", map[string]string{"value": "v"}, 400, "BadParameter"},
		{"name too long", "PUT", "/secrets/" + strings.Repeat("a", 128), map[string]string{"value": "v"}, 400, "BadParameter"},
		{"invalid name on get", "GET", "/secrets/b.c/", nil, 400, "BadParameter"},
		{"deleted name", "PUT", "/secrets/held", map[string]string{"value": "v"}, 409, "Conflict"},
		{"malformed patch", "PATCH", "/secrets/s1/", `[]`, 400, "BadParameter"},
		{"null body", "PUT", "/secrets/s1", `null`, 400, "BadParameter"},
		{"null patch", "PATCH", "/secrets/s1/", "\t null \n", 400, "BadParameter"},
		{"restore garbage", "POST", "/secrets/restore", map[string]string{"value": "!!!"}, 400, "BadParameter"},
		{"restore empty", "POST", "/secrets/restore", `{}`, 400, "BadParameter"},
		{"restore sealed garbage", "POST", "/secrets/restore", map[string]string{"value": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}, 400, "BadParameter"},
		{"unknown collection", "GET", "/keys", nil, 404, "NotFound"},
		{"too deep", "GET", "/secrets/a/b/c/d", nil, 404, "NotFound"},
		{"wrong method", "POST", "/secrets/s1", nil, 405, "MethodNotAllowed"},
		{"put on version", "PUT", "/secrets/s1/" + strings.Repeat("a", 32), map[string]string{"value": "v"}, 405, "MethodNotAllowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(tc.method, vaultURL+tc.path+apiQuery, tok, tc.body)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if d := cmp.Diff(before, e.snapshot()); d != "" {
				t.Errorf("store changed:\n%s", d)
			}
		})
	}
	// A value of exactly 25 KB is accepted.
	if r := e.do(http.MethodPut, vaultURL+"/secrets/big"+apiQuery, tok, map[string]string{"value": strings.Repeat("x", 25600)}); r.status != 200 {
		t.Errorf("25600-byte value: %d %s", r.status, r.body)
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[string(rune('a'+i))] = "v"
	}
	return m
}

func TestValuesAreEncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	tok := e.officer()
	const plain = "correct-horse-battery-staple-7f3a9"
	b := e.set(tok, "atrest", plain)
	if *b.Value != plain {
		t.Fatal("round trip failed")
	}
	// Force everything to the files, then look at every byte.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{e.dbPath, e.dbPath + "-wal"} {
		raw, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(plain)) {
			t.Errorf("%s contains the plaintext value", p)
		}
	}
}
