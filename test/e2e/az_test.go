package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// azCLI runs the real Azure CLI (Debian's azure-cli 2.45) in its own
// config directory, trusting wif's CA.
type azCLI struct {
	t   *testing.T
	env []string
}

func newAz(t *testing.T, w *wifProc) *azCLI {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("az (Debian package azure-cli) is required in CI")
		}
		t.Skip("az not installed; run .ci/run or apt-get install azure-cli")
	}
	dir := t.TempDir()
	a := &azCLI{t: t, env: append(os.Environ(), "AZURE_CONFIG_DIR="+dir, "REQUESTS_CA_BUNDLE="+w.Boot.CAFile,
		"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_ONLY_SHOW_ERRORS=true")}
	a.run("config", "set", "core.use_msal_http_cache=false")
	return a
}

// try runs az and returns stdout, stderr and whether it succeeded.
func (a *azCLI) try(args ...string) (string, string, bool) {
	cmd := exec.Command("az", args...)
	cmd.Env = a.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err == nil
}

func (a *azCLI) run(args ...string) string {
	a.t.Helper()
	out, errOut, ok := a.try(args...)
	if !ok {
		a.t.Fatalf("az %s failed:\n%s", strings.Join(args, " "), errOut)
	}
	return out
}

func (a *azCLI) json(args ...string) map[string]any {
	a.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.run(args...)), &m); err != nil {
		a.t.Fatalf("az %s: output is not a JSON object: %v", strings.Join(args, " "), err)
	}
	return m
}

func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sameShape checks that every field az prints is printed by wif too, with
// the same JSON type.
func sameShape(t *testing.T, what string, az, wif map[string]any) {
	t.Helper()
	for k, v := range az {
		w, ok := wif[k]
		if !ok {
			t.Errorf("%s: wif output lacks %q (az: %v)", what, k, keys(az))
			continue
		}
		if fmt.Sprintf("%T", v) != fmt.Sprintf("%T", w) {
			t.Errorf("%s: field %q is %T in az, %T in wif", what, k, v, w)
		}
	}
}

// TestAzureCLIWalkthrough drives wif with the real az 2.45, step by step,
// checking every step's output, and repeats it with the wif CLI.
func TestAzureCLIWalkthrough(t *testing.T) {
	iss := newIssuer(t)
	w := startWif(t, "--extra-ca-file", iss.CAFile)
	az := newAz(t, w)
	b := w.Boot
	u := w.URL

	// 1. Register the cloud with the ADFS-style authority, then select it.
	cloud := filepath.Join(t.TempDir(), "cloud.json")
	os.WriteFile(cloud, []byte(fmt.Sprintf(`{"endpoints":{"resourceManager":"%[1]s/","activeDirectory":"%[1]s/adfs",
		"activeDirectoryResourceId":"%[1]s/","activeDirectoryGraphResourceId":"%[1]s/graph/","microsoftGraphResourceId":"%[1]s/graph/"},
		"suffixes":{"keyvaultDns":".vault.localhost:%[2]s"}}`, u, strings.TrimPrefix(u, "https://localhost:"))), 0o644)
	az.run("cloud", "register", "-n", "wif", "--cloud-config", "@"+cloud)
	az.run("cloud", "set", "-n", "wif")
	if got := strings.TrimSpace(az.run("cloud", "show", "--query", "endpoints.activeDirectory", "-o", "tsv")); got != u+"/adfs" {
		t.Fatalf("cloud activeDirectory = %q", got)
	}

	// 2. Log in with the bootstrap secret.
	var subs []map[string]any
	json.Unmarshal([]byte(az.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID)), &subs)
	if len(subs) != 1 || subs[0]["id"] != b.SubscriptionID || subs[0]["tenantId"] != b.TenantID {
		t.Fatalf("az login subscriptions = %v", subs)
	}

	// 3. Group, identity, clientId.
	g := az.json("group", "create", "-g", "myRG", "-l", "eastus")
	if g["name"] != "myRG" || g["location"] != "eastus" || g["id"] != "/subscriptions/"+b.SubscriptionID+"/resourceGroups/myRG" {
		t.Errorf("az group create = %v", g)
	}
	id := az.json("identity", "create", "-g", "myRG", "-n", "my-app-identity")
	if id["name"] != "my-app-identity" || id["resourceGroup"] != "myRG" || id["tenantId"] != b.TenantID || id["location"] != "eastus" {
		t.Errorf("az identity create = %v", id)
	}
	clientID := strings.TrimSpace(az.run("identity", "show", "--name", "my-app-identity", "--resource-group", "myRG", "--query", "clientId", "-o", "tsv"))
	if clientID != id["clientId"] || uuid.Validate(clientID) != nil {
		t.Errorf("clientId = %q, create said %v", clientID, id["clientId"])
	}
	principalID := id["principalId"].(string)

	// 4. Federated credential create, list, show, delete.
	fic := az.json("identity", "federated-credential", "create", "--name", "my-federated-id", "--identity-name", "my-app-identity",
		"--resource-group", "myRG", "--issuer", iss.URL, "--subject", "system:serviceaccount:default:my-app-sa")
	if fic["issuer"] != iss.URL || fic["subject"] != "system:serviceaccount:default:my-app-sa" || fmt.Sprint(fic["audiences"]) != "[api://AzureADTokenExchange]" {
		t.Errorf("az federated-credential create = %v", fic)
	}
	var list []map[string]any
	json.Unmarshal([]byte(az.run("identity", "federated-credential", "list", "--identity-name", "my-app-identity", "-g", "myRG")), &list)
	if len(list) != 1 || list[0]["name"] != "my-federated-id" {
		t.Errorf("az federated-credential list = %v", list)
	}
	if s := strings.TrimSpace(az.run("identity", "federated-credential", "show", "--name", "my-federated-id", "--identity-name", "my-app-identity", "-g", "myRG", "--query", "subject", "-o", "tsv")); s != "system:serviceaccount:default:my-app-sa" {
		t.Errorf("show subject = %q", s)
	}
	az.json("identity", "federated-credential", "create", "--name", "temp", "--identity-name", "my-app-identity",
		"--resource-group", "myRG", "--issuer", iss.URL, "--subject", "system:serviceaccount:default:temp")
	az.run("identity", "federated-credential", "delete", "--name", "temp", "--identity-name", "my-app-identity", "-g", "myRG", "--yes")
	if _, errOut, ok := az.try("identity", "federated-credential", "show", "--name", "temp", "--identity-name", "my-app-identity", "-g", "myRG"); ok || !strings.Contains(errOut, "ResourceNotFound") {
		t.Errorf("deleted credential still shows (ok=%v): %s", ok, errOut)
	}
	// A validation error comes back with the ARM code.
	if _, errOut, ok := az.try("identity", "federated-credential", "create", "--name", "dup", "--identity-name", "my-app-identity",
		"--resource-group", "myRG", "--issuer", iss.URL, "--subject", "system:serviceaccount:default:my-app-sa"); ok || !strings.Contains(errOut, "Issuer and subject combination already exists") {
		t.Errorf("duplicate issuer+subject: ok=%v %s", ok, errOut)
	}

	// 5. A role assignment through az rest: Reader on the group.
	raID := uuid.NewString()
	ra := az.json("rest", "--method", "put", "--url", "/subscriptions/"+b.SubscriptionID+"/resourceGroups/myRG/providers/Microsoft.Authorization/roleAssignments/"+raID+"?api-version=2022-04-01",
		"--body", fmt.Sprintf(`{"properties":{"roleDefinitionId":"/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7","principalId":"%s","principalType":"ServicePrincipal"}}`, b.SubscriptionID, principalID))
	if ra["name"] != raID || ra["properties"].(map[string]any)["principalId"] != principalID {
		t.Errorf("role assignment = %v", ra)
	}
	roleIDs := strings.TrimSpace(az.run("rest", "--method", "get", "--url", "/subscriptions/"+b.SubscriptionID+"/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20'Reader'&api-version=2022-04-01", "--query", "value[].name", "-o", "tsv"))
	if roleIDs != "acdd72a7-3385-48ef-bd42-f606fba81ae7" {
		t.Errorf("role definition filter = %q", roleIDs)
	}

	// 6. A key vault through az keyvault create (2.45 can send it with RBAC authorisation).
	kv := az.json("keyvault", "create", "-g", "myRG", "-n", "wifkv1", "--enable-rbac-authorization")
	props, _ := kv["properties"].(map[string]any)
	if props["vaultUri"] != "https://wifkv1.vault.localhost:"+strings.TrimPrefix(u, "https://localhost:")+"/" || props["enableRbacAuthorization"] != true || props["tenantId"] != b.TenantID {
		t.Errorf("az keyvault create = %v", kv)
	}
	if got := strings.TrimSpace(az.run("keyvault", "show", "-n", "wifkv1", "--query", "name", "-o", "tsv")); got != "wifkv1" {
		t.Errorf("az keyvault show = %q", got)
	}
	if got := strings.TrimSpace(az.run("keyvault", "list", "--query", "[].name", "-o", "tsv")); got != "wifkv1" {
		t.Errorf("az keyvault list = %q", got)
	}

	// 7. Log in as the managed identity with a federated token: a read its
	// Reader role allows works, a write is refused with 403.
	miAz := newAz(t, w)
	miAz.run("cloud", "register", "-n", "wif", "--cloud-config", "@"+cloud)
	miAz.run("cloud", "set", "-n", "wif")
	jwt := iss.mint(t, iss.saClaims("default", "my-app-sa", time.Now()))
	var miSubs []map[string]any
	json.Unmarshal([]byte(miAz.run("login", "--service-principal", "-u", clientID, "--tenant", b.TenantID, "--federated-token", jwt)), &miSubs)
	if len(miSubs) != 1 || miSubs[0]["id"] != b.SubscriptionID {
		t.Errorf("managed identity login subscriptions = %v", miSubs)
	}
	if got := strings.TrimSpace(miAz.run("group", "show", "-n", "myRG", "--query", "name", "-o", "tsv")); got != "myRG" {
		t.Errorf("managed identity group show = %q", got)
	}
	if got := strings.TrimSpace(miAz.run("identity", "show", "-n", "my-app-identity", "-g", "myRG", "--query", "principalId", "-o", "tsv")); got != principalID {
		t.Errorf("managed identity reads itself = %q", got)
	}
	_, errOut, ok := miAz.try("identity", "create", "-g", "myRG", "-n", "sneaky")
	if ok || !strings.Contains(errOut, "AuthorizationFailed") || !strings.Contains(errOut, "Microsoft.ManagedIdentity/userAssignedIdentities/write") {
		t.Errorf("managed identity write: ok=%v, %s", ok, errOut)
	}
	if _, errOut, ok := miAz.try("group", "create", "-g", "otherRG", "-l", "eastus"); ok || !strings.Contains(errOut, "AuthorizationFailed") {
		t.Errorf("managed identity group create: ok=%v, %s", ok, errOut)
	}
	// The refused writes left nothing behind.
	if _, errOut, ok := az.try("identity", "show", "-g", "myRG", "-n", "sneaky"); ok || !strings.Contains(errOut, "ResourceNotFound") {
		t.Errorf("refused identity exists: %s", errOut)
	}

	// The same walkthrough with the wif CLI prints the same shapes.
	t.Run("wif CLI shapes", func(t *testing.T) {
		sameShape(t, "group create", g, jsonObject(t, w.cli(t, "group", "create", "-n", "wifRG", "-l", "eastus")))
		wid := jsonObject(t, w.cli(t, "identity", "create", "--name", "wif-identity", "--resource-group", "wifRG"))
		sameShape(t, "identity create", id, wid)
		sameShape(t, "identity show", az.json("identity", "show", "-n", "my-app-identity", "-g", "myRG"),
			jsonObject(t, w.cli(t, "identity", "show", "--name", "wif-identity", "--resource-group", "wifRG")))
		wfic := jsonObject(t, w.cli(t, "identity", "federated-credential", "create", "--name", "my-federated-id", "--identity-name", "wif-identity",
			"--resource-group", "wifRG", "--issuer", iss.URL, "--subject", "system:serviceaccount:default:my-app-sa"))
		sameShape(t, "federated-credential create", fic, wfic)
		sameShape(t, "federated-credential show",
			az.json("identity", "federated-credential", "show", "--name", "my-federated-id", "--identity-name", "my-app-identity", "-g", "myRG"),
			jsonObject(t, w.cli(t, "identity", "federated-credential", "show", "--name", "my-federated-id", "--identity-name", "wif-identity", "-g", "wifRG")))
		wkv := jsonObject(t, w.cli(t, "keyvault", "create", "-n", "wifkv2", "-g", "wifRG"))
		sameShape(t, "keyvault create", kv, wkv)
		sameShape(t, "keyvault properties", props, wkv["properties"].(map[string]any))
		wra := jsonObject(t, w.cli(t, "role", "assignment", "create", "--assignee-object-id", wid["principalId"].(string),
			"--assignee-principal-type", "ServicePrincipal", "--role", "Reader", "--scope", "/subscriptions/"+b.SubscriptionID+"/resourceGroups/wifRG"))
		if wra["principalId"] != wid["principalId"] || !strings.HasSuffix(wra["roleDefinitionId"].(string), "acdd72a7-3385-48ef-bd42-f606fba81ae7") {
			t.Errorf("wif role assignment create = %v", wra)
		}
		if got := strings.TrimSpace(w.cli(t, "identity", "show", "--name", "wif-identity", "--resource-group", "wifRG", "--query", "clientId", "-o", "tsv")); got != wid["clientId"] {
			t.Errorf("wif --query clientId -o tsv = %q", got)
		}
		// az-style errors: on stderr, non-zero exit.
		if _, err := w.tryCLI("identity", "show", "--name", "nope", "--resource-group", "wifRG"); err == nil || !strings.Contains(err.Error(), "(ResourceNotFound)") {
			t.Errorf("wif identity show missing: %v", err)
		}
	})
}
