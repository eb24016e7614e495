package keyvault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/wifproject/wif/internal/testkit"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wifproject/wif/internal/keyvault"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/seal"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/token"
)

const (
	tenantA   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB   = "33e01921-4d64-4f8c-a055-5bdaffd5e33d"
	subA      = "5b3c2d1e-2222-4b4b-9b9b-00000000000a"
	publicURL = "https://localhost:8443"
	suffix    = "vault.localhost"
	resource  = "https://vault.localhost:8443"
	vaultName = "myvault"
	vaultHost = "myvault.vault.localhost:8443"
	vaultURL  = "https://" + vaultHost
	apiQuery  = "?api-version=2025-07-01"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the shared test clock.
type clock = testkit.Clock

func issuerFor(tenantID string) string { return publicURL + "/" + tenantID + "/v2.0" }

// env is a data plane on a real TLS listener, backed by a real store,
// keyring and verifier. Requests go to any vault host: the client dials the
// test server whatever the host name, and checks its certificate as
// example.com.
type env struct {
	t      testing.TB
	db     *store.DB
	dbPath string
	kr     *token.Keyring
	kek    keyvault.Sealer
	clock  *clock
	h      *keyvault.Handler
	srv    *httptest.Server
	client *http.Client
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	e := &env{t: tb, clock: testkit.NewClock(t0), dbPath: filepath.Join(dir, "wif.db")}
	db, err := store.Open(ctx, e.dbPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e.db = db
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, id := range []string{tenantA, tenantB} {
		must(db.CreateTenant(ctx, store.Tenant{ID: id, CreatedAt: t0}))
	}
	must(db.CreateSubscription(ctx, store.Subscription{ID: subA, TenantID: tenantA, DisplayName: "a", State: "Enabled"}))
	for _, rg := range []string{"rg1", "rg2"} {
		_, _, err := db.PutResourceGroup(ctx, store.ResourceGroup{SubscriptionID: subA, Name: rg, Location: "eastus"})
		must(err)
	}
	for _, v := range []store.Vault{
		{SubscriptionID: subA, ResourceGroup: "rg1", Name: "MyVault", Location: "eastus", TenantID: tenantA, SKU: "standard",
			EnableRBACAuthorization: true, SoftDeleteRetentionDays: 90, CreatedAt: t0},
		{SubscriptionID: subA, ResourceGroup: "rg2", Name: "other", Location: "eastus", TenantID: tenantA, SKU: "standard",
			EnableRBACAuthorization: false, SoftDeleteRetentionDays: 7, CreatedAt: t0},
	} {
		_, _, err := db.PutVault(ctx, v)
		must(err)
	}
	policy := token.DefaultPolicy()
	policy.Alg = "ES256"
	e.kr = token.NewKeyring(db, policy, time.Hour, e.clock.Now)
	kek, err := seal.LoadOrCreate(filepath.Join(dir, "kek.bin"))
	must(err)
	e.kek = kek
	e.h = keyvault.NewHandler(keyvault.Config{DNSSuffix: suffix, PublicURL: publicURL, Port: "8443"}, keyvault.Deps{
		Store: db, Roles: db, Tokens: token.NewVerifier(e.kr, db, issuerFor, e.clock.Now), Sealer: kek, Now: e.clock.Now,
	})
	// As the server wires it: local writes drop the handler's caches.
	db.OnChange(e.h.Invalidate)
	e.srv = httptest.NewTLSServer(e.h)
	tb.Cleanup(e.srv.Close)
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = "example.com"
	addr := e.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.DialTLSContext = nil
	e.client = &http.Client{Transport: tr}
	tb.Cleanup(tr.CloseIdleConnections)
	return e
}

// token mints an app token for principal oid in tenant with audience aud.
func (e *env) token(tenant, oid, aud string) string {
	e.t.Helper()
	now := e.clock.Now()
	raw, err := e.kr.Sign(context.Background(), tenant, token.Claims{
		Audience: aud, Issuer: issuerFor(tenant), IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(time.Hour).Unix(),
		AppID: "app-" + oid, AppIDACR: "2", AZP: "app-" + oid, AZPACR: "2", IDType: "app", OID: oid, Subject: oid,
		TenantID: tenant, UTI: "u", Version: "2.0",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// principal returns a new principal id holding roleID at scope (none when
// roleID is "").
func (e *env) principal(roleID, scope string) string {
	e.t.Helper()
	oid := uuid.NewString()
	if roleID != "" {
		e.grant(oid, roleID, scope)
	}
	return oid
}

func (e *env) grant(oid, roleID, scope string) {
	e.t.Helper()
	_, _, err := e.db.PutRoleAssignment(context.Background(), store.RoleAssignment{
		ID: uuid.NewString(), Scope: scope, PrincipalID: oid, PrincipalType: "ServicePrincipal",
		RoleDefinitionID: "/subscriptions/" + subA + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID,
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

const (
	rgScope    = "/subscriptions/" + subA + "/resourceGroups/rg1"
	vaultScope = rgScope + "/providers/Microsoft.KeyVault/vaults/MyVault"
)

// officer returns a token of a Secrets Officer of MyVault.
func (e *env) officer() string {
	return e.token(tenantA, e.principal(rbac.KeyVaultSecretsOfficerID, vaultScope), resource)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// kvError is Key Vault's error body.
type kvError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

func (r response) code() string {
	var e kvError
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r response) inner() string {
	var e kvError
	json.Unmarshal(r.body, &e)
	if e.Error.InnerError == nil {
		return ""
	}
	return e.Error.InnerError.Code
}

// do sends a request to url (absolute) with tok (none if "") and body (a
// string is sent as is, nil as no body, anything else as JSON).
func (e *env) do(method, url, tok string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// bundle is the SecretBundle/SecretItem/DeletedSecretBundle shape.
type bundle struct {
	Value       *string           `json:"value"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  struct {
		Enabled         bool   `json:"enabled"`
		NotBefore       int64  `json:"nbf"`
		Expires         int64  `json:"exp"`
		Created         int64  `json:"created"`
		Updated         int64  `json:"updated"`
		RecoverableDays int    `json:"recoverableDays"`
		RecoveryLevel   string `json:"recoveryLevel"`
	} `json:"attributes"`
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
}

func (r response) bundle(t testing.TB) bundle {
	t.Helper()
	var b bundle
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("decode bundle %s: %v", r.body, err)
	}
	return b
}

type page struct {
	Value    []bundle `json:"value"`
	NextLink *string  `json:"nextLink"`
}

func (r response) page(t testing.TB) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode page %s: %v", r.body, err)
	}
	return p
}

func (e *env) set(tok, name, value string) bundle {
	e.t.Helper()
	r := e.do(http.MethodPut, vaultURL+"/secrets/"+name+apiQuery, tok, map[string]any{"value": value, "attributes": map[string]any{}})
	if r.status != http.StatusOK {
		e.t.Fatalf("set %s: %d %s", name, r.status, r.body)
	}
	return r.bundle(e.t)
}

// snapshot is every secret row of MyVault, for "unchanged" checks.
func (e *env) snapshot() []string {
	e.t.Helper()
	ctx := context.Background()
	var out []string
	live, err := e.db.ListSecrets(ctx, "myvault", store.SecretPage{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range live {
		vs, err := e.db.ListSecretVersions(ctx, "myvault", s.Name, store.SecretPage{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, v := range vs {
			out = append(out, "live "+v.Name+"/"+v.Version+" "+v.ContentType+" "+v.UpdatedAt.String())
		}
	}
	deleted, err := e.db.ListDeletedSecrets(ctx, "myvault", store.SecretPage{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range deleted {
		out = append(out, "deleted "+d.Latest.Name)
	}
	return out
}
