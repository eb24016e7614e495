package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wifproject/wif/internal/arm"
	"github.com/wifproject/wif/internal/rbac"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/store/storetest"
	"github.com/wifproject/wif/internal/token"
)

const (
	cliTenant = "7f0c6e5e-1111-4a4a-8a8a-00000000000a"
	cliSub    = "5b3c2d1e-2222-4b4b-9b9b-00000000000a"
	cliAdmin  = "0b1f6471-1bf0-4dda-aec3-00000000c411"
	cliToken  = "cli-test-token"
)

// adminVerifier accepts cliToken as the admin's.
type adminVerifier struct{}

func (adminVerifier) Verify(_ context.Context, raw string, _ ...string) (*token.Claims, error) {
	if raw != cliToken {
		return nil, token.ErrSignature
	}
	return &token.Claims{OID: cliAdmin, TenantID: cliTenant, AppID: cliAdmin}, nil
}

// cliEnv runs the wif CLI against wif's real ARM handler over TLS, logged
// in as a subscription Owner (with a cached token, so no token request).
type cliEnv struct {
	t      *testing.T
	getenv func(string) string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	for _, err := range []error{
		db.CreateTenant(ctx, store.Tenant{ID: cliTenant}),
		db.CreateSubscription(ctx, store.Subscription{ID: cliSub, TenantID: cliTenant, DisplayName: "s", State: "Enabled"}),
		db.CreatePrincipal(ctx, store.Principal{ObjectID: cliAdmin, ClientID: cliAdmin, TenantID: cliTenant, Kind: store.KindServicePrincipal, DisplayName: "admin"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.PutRoleAssignment(ctx, store.RoleAssignment{ID: "00000000-0000-0000-0000-000000000001", Scope: "/subscriptions/" + cliSub,
		RoleDefinitionID: "/subscriptions/" + cliSub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.OwnerID, PrincipalID: cliAdmin, PrincipalType: "ServicePrincipal"}); err != nil {
		t.Fatal(err)
	}
	var h *arm.Handler
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h = arm.NewHandler(arm.Config{PublicURL: srv.URL, Audiences: []string{srv.URL + "/"}, MaxFICsPerIdentity: 20,
		VaultURL: func(n string) string { return "https://" + n + ".vault.localhost/" }}, db, adminVerifier{}, time.Now)
	srv.Config.Handler = h

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := saveProfile(dir, Profile{Server: srv.URL, TenantID: cliTenant, SubscriptionID: cliSub, ClientID: cliAdmin, CAFile: ca}); err != nil {
		t.Fatal(err)
	}
	tok, _ := json.Marshal(cachedToken{AccessToken: cliToken, ExpiresOn: time.Now().Add(time.Hour), Audience: srv.URL, ClientID: cliAdmin})
	if err := os.WriteFile(filepath.Join(dir, "token.json"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, getenv: func(k string) string {
		if k == "WIF_CONFIG_DIR" {
			return dir
		}
		return ""
	}}
}

// run runs one command and returns its stdout.
func (c *cliEnv) run(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := Run(c.t.Context(), args, nil, &out, &errOut, c.getenv)
	return out.String(), err
}

func (c *cliEnv) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("wif %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c *cliEnv) object(args ...string) map[string]any {
	c.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.must(args...)), &m); err != nil {
		c.t.Fatalf("wif %s: not a JSON object: %v", strings.Join(args, " "), err)
	}
	return m
}

var guidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)

// TestCommandsPrintAsAz: the create, show and list commands send the
// shared wire types to wif's real ARM handler and print what az prints:
// properties lifted, resourceGroup added, --query and -o applied.
func TestCommandsPrintAsAz(t *testing.T) {
	c := newCLIEnv(t)
	g := c.object("group", "create", "-n", "myRG", "-l", "eastus", "--tags", "team=a")
	if g["managedBy"] != nil || g["location"] != "eastus" || g["tags"].(map[string]any)["team"] != "a" {
		t.Errorf("group create = %v", g)
	}
	if _, ok := g["managedBy"]; !ok {
		t.Error("az prints managedBy, null")
	}
	if out := c.must("group", "list", "--query", "[].name", "-o", "tsv"); out != "myRG\n" {
		t.Errorf("group list = %q", out)
	}

	id := c.object("identity", "create", "-n", "app-id", "-g", "myRG")
	if id["location"] != "eastus" || id["resourceGroup"] != "myRG" || id["clientId"] == nil || id["properties"] != nil {
		t.Errorf("identity create (location from the group, properties lifted) = %v", id)
	}
	if out := c.must("identity", "show", "-n", "app-id", "-g", "myRG", "--query", "clientId", "-o", "tsv"); !guidLine.MatchString(out) || out != id["clientId"].(string)+"\n" {
		t.Errorf("identity show --query clientId -o tsv = %q", out)
	}

	fic := c.object("identity", "federated-credential", "create", "--name", "fic1", "--identity-name", "app-id", "-g", "myRG",
		"--issuer", "https://issuer.example/", "--subject", "system:serviceaccount:default:app")
	if auds, _ := fic["audiences"].([]any); len(auds) != 1 || auds[0] != "api://AzureADTokenExchange" || fic["subject"] != "system:serviceaccount:default:app" {
		t.Errorf("federated-credential create (default audience) = %v", fic)
	}
	c.must("identity", "federated-credential", "create", "--name", "fic2", "--identity-name", "app-id", "-g", "myRG",
		"--issuer", "https://issuer.example/", "--claims-matching-expression", "claims['sub'] matches 'system:serviceaccount:team-*:app'")
	if out := c.must("identity", "federated-credential", "list", "--identity-name", "app-id", "-g", "myRG", "--query", "[].name", "-o", "tsv"); out != "fic1\nfic2\n" {
		t.Errorf("federated-credential list = %q", out)
	}
	if _, err := c.run("identity", "federated-credential", "create", "--name", "fic3", "--identity-name", "app-id", "-g", "myRG", "--issuer", "https://i/"); err == nil || !strings.Contains(err.Error(), "--subject") {
		t.Errorf("create without --subject or expression: %v", err)
	}
	c.must("identity", "federated-credential", "delete", "--name", "fic2", "--identity-name", "app-id", "-g", "myRG", "--yes")

	kv := c.object("keyvault", "create", "-n", "kvcli1", "-g", "myRG", "--sku", "premium", "--retention-days", "30")
	props, _ := kv["properties"].(map[string]any)
	if kv["resourceGroup"] != "myRG" || props["sku"].(map[string]any)["name"] != "premium" || props["softDeleteRetentionInDays"] != 30.0 {
		t.Errorf("keyvault create = %v", kv)
	}
	if _, ok := props["networkAcls"]; !ok {
		t.Error("az prints every attribute of its vault model, null when unset")
	}
	if out := c.must("keyvault", "show", "-n", "kvcli1", "--query", "name", "-o", "tsv"); out != "kvcli1\n" {
		t.Errorf("keyvault show without -g (found by name) = %q", out)
	}

	c.must("aks", "create", "-n", "c1", "-g", "myRG")
	cl := c.object("aks", "update", "-n", "c1", "-g", "myRG", "--enable-oidc-issuer", "--enable-workload-identity")
	oidc, _ := cl["oidcIssuerProfile"].(map[string]any)
	if u, _ := oidc["issuerUrl"].(string); !strings.HasPrefix(u, "https://127.0.0.1:") || oidc["issuerURL"] != nil {
		t.Errorf("aks update: az prints issuerURL as issuerUrl: %v", oidc)
	}
	if out := c.must("aks", "show", "-n", "c1", "-g", "myRG", "--query", "securityProfile.workloadIdentity.enabled", "-o", "json"); strings.TrimSpace(out) != "true" {
		t.Errorf("aks show workload identity = %q", out)
	}

	ra := c.object("role", "assignment", "create", "--assignee-object-id", id["principalId"].(string), "--assignee-principal-type", "ServicePrincipal",
		"--role", "Key Vault Secrets User", "--scope", kv["id"].(string))
	if ra["principalId"] != id["principalId"] || !strings.EqualFold(ra["scope"].(string), kv["id"].(string)) {
		t.Errorf("role assignment create = %v", ra)
	}
	if out := c.must("role", "assignment", "list", "--scope", kv["id"].(string), "--query", "[?principalId=='"+id["principalId"].(string)+"'].roleDefinitionName", "-o", "tsv"); out != "Key Vault Secrets User\n" {
		t.Errorf("role assignment list = %q", out)
	}
	if out := c.must("role", "definition", "list", "--name", "Reader", "--query", "[].[name, roleType]", "-o", "tsv"); out != "acdd72a7-3385-48ef-bd42-f606fba81ae7\tBuiltInRole\n" {
		t.Errorf("role definition list = %q", out)
	}
	if out := c.must("identity", "delete", "-n", "app-id", "-g", "myRG", "-y"); out != "" {
		t.Errorf("delete prints nothing: %q", out)
	}
	if out := c.must("group", "show", "-n", "myRG", "-o", "none"); out != "" {
		t.Errorf("-o none = %q", out)
	}
}

// TestARMErrorsPrintAsAz: ARM's error envelope is printed as az prints
// it, and the CLI branches on its code.
func TestARMErrorsPrintAsAz(t *testing.T) {
	c := newCLIEnv(t)
	_, err := c.run("identity", "show", "-n", "nope", "-g", "noRG")
	var ae *armError
	if !errors.As(err, &ae) || ae.Code != "ResourceGroupNotFound" || ae.Status != 404 {
		t.Fatalf("show in a missing group: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "(ResourceGroupNotFound) ") || !strings.Contains(err.Error(), "\nCode: ResourceGroupNotFound\nMessage: ") {
		t.Errorf("az prints (Code) message, then Code and Message lines: %q", err)
	}
	if _, err := c.run("keyvault", "show", "-n", "nokv"); !errors.As(err, &ae) || ae.Code != "ResourceNotFound" {
		t.Errorf("a vault not found by name: %v", err)
	}
	if _, err := c.run("identity", "create", "-n", "x"); err == nil || !strings.Contains(err.Error(), "--resource-group") {
		t.Errorf("missing flags are named: %v", err)
	}
}
