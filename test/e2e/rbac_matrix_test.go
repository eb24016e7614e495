package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// This file checks wif's ARM authorisation end to end: every built-in role
// wif knows, assigned at three scope levels, against every guarded control
// plane operation. The expected decisions are written out by hand from
// Azure's documentation of each role's actions ("Azure built-in roles" on
// learn.microsoft.com), never computed with internal/rbac, so a wrong
// built-in definition or a wrong evaluator both show up here.

// Well-known GUIDs of Azure's built-in roles, the same in every tenant.
const (
	rmOwner                   = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	rmContributor             = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	rmReader                  = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	rmUserAccessAdministrator = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	rmMIContributor           = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"
	rmMIOperator              = "f1a07417-d97a-45cb-824c-7a7467783830"
	rmKVAdministrator         = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	rmKVSecretsOfficer        = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	rmKVSecretsUser           = "4633458b-17de-408a-b874-0445c86b69e6"
	rmKVReader                = "21090545-7ca7-4776-b22c-e363652d74d2"
	rmStorageBlobDataReader   = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
)

// Guarded operations, all against resources in rgA.
const (
	rmRGRead         = "rg-read"         // GET rgA
	rmRGWrite        = "rg-write"        // PATCH tags on rgA
	rmIdentityRead   = "identity-read"   // GET target-id
	rmIdentityWrite  = "identity-write"  // PUT tags on target-id
	rmIdentityCreate = "identity-create" // PUT a new identity in rgA
	rmIdentityDelete = "identity-delete" // DELETE a disposable identity in rgA
	rmFICRead        = "fic-read"        // GET target-id's FIC
	rmFICList        = "fic-list"        // GET target-id's FIC collection
	rmFICWrite       = "fic-write"       // PUT a new FIC on target-id
	rmFICDelete      = "fic-delete"      // DELETE a disposable FIC of target-id
	rmRAWrite        = "ra-write"        // PUT a Reader assignment at rgA
	rmRADelete       = "ra-delete"       // DELETE a disposable assignment at rgA
	rmRAList         = "ra-list"         // GET the assignments at rgA
	rmVaultRead      = "vault-read"      // GET the target vault
	rmVaultWrite     = "vault-write"     // PUT tags on the target vault
	rmVaultDelete    = "vault-delete"    // DELETE a disposable vault in rgA
)

// Scope levels of the caller's assignment.
const (
	rmAtSubscription = "subscription"
	rmAtGroup        = "resourceGroup" // rgA
	rmAtResource     = "resource"      // target-id, the vault and each disposable resource
	rmAtSibling      = "siblingGroup"  // rgB only
	rmNoAssignment   = "none"
)

func rmSet(ops ...string) map[string]bool {
	m := make(map[string]bool, len(ops))
	for _, op := range ops {
		m[op] = true
	}
	return m
}

// rmReads are the operations "*/read" grants.
var rmReads = []string{rmRGRead, rmIdentityRead, rmFICRead, rmFICList, rmRAList, rmVaultRead}

// rmRoles lists, for each role, the operations its documented actions grant
// when the assignment's scope covers the operation's scope.
var rmRoles = []struct {
	name, guid string
	grants     map[string]bool
}{
	// Actions: *
	{"Owner", rmOwner, rmSet(rmRGRead, rmRGWrite, rmIdentityRead, rmIdentityWrite, rmIdentityCreate, rmIdentityDelete,
		rmFICRead, rmFICList, rmFICWrite, rmFICDelete, rmRAWrite, rmRADelete, rmRAList, rmVaultRead, rmVaultWrite, rmVaultDelete)},
	// Actions: *; NotActions: Microsoft.Authorization/*/Delete, Microsoft.Authorization/*/Write, ...
	{"Contributor", rmContributor, rmSet(rmRGRead, rmRGWrite, rmIdentityRead, rmIdentityWrite, rmIdentityCreate, rmIdentityDelete,
		rmFICRead, rmFICList, rmFICWrite, rmFICDelete, rmRAList, rmVaultRead, rmVaultWrite, rmVaultDelete)},
	// Actions: */read
	{"Reader", rmReader, rmSet(rmReads...)},
	// Actions: */read, Microsoft.Authorization/*, Microsoft.Support/*
	{"User Access Administrator", rmUserAccessAdministrator, rmSet(append([]string{rmRAWrite, rmRADelete}, rmReads...)...)},
	// Actions: userAssignedIdentities/{read,write,delete},
	// userAssignedIdentities/federatedIdentityCredentials/{read,write,delete},
	// Microsoft.Authorization/*/read, Microsoft.Resources/subscriptions/resourceGroups/read, ...
	{"Managed Identity Contributor", rmMIContributor, rmSet(rmRGRead, rmIdentityRead, rmIdentityWrite, rmIdentityCreate, rmIdentityDelete,
		rmFICRead, rmFICList, rmFICWrite, rmFICDelete, rmRAList)},
	// Actions: userAssignedIdentities/*/read, userAssignedIdentities/*/assign/action,
	// Microsoft.Authorization/*/read, Microsoft.Resources/subscriptions/resourceGroups/read, ...
	{"Managed Identity Operator", rmMIOperator, rmSet(rmRGRead, rmIdentityRead, rmFICRead, rmFICList, rmRAList)},
	// Actions: Microsoft.Authorization/*/read, Microsoft.Resources/subscriptions/resourceGroups/read,
	// Microsoft.KeyVault/vaults/*/read, ... (no vault write or delete); the rest are DataActions.
	{"Key Vault Administrator", rmKVAdministrator, rmSet(rmRGRead, rmRAList, rmVaultRead)},
	{"Key Vault Secrets Officer", rmKVSecretsOfficer, rmSet(rmRGRead, rmRAList, rmVaultRead)},
	{"Key Vault Reader", rmKVReader, rmSet(rmRGRead, rmRAList, rmVaultRead)},
	// Actions: none; DataActions only.
	{"Key Vault Secrets User", rmKVSecretsUser, rmSet()},
	// Actions: Microsoft.Storage/storageAccounts/blobServices/containers/read,
	// .../generateUserDelegationKey/action: nothing wif's ARM serves.
	{"Storage Blob Data Reader", rmStorageBlobDataReader, rmSet()},
}

// rmCovers lists, per assignment level, the operations whose scope lies at
// or below the assignment's scope. A resource-level caller holds its role on
// target-id, on the vault and on each disposable resource it deletes, and
// nothing on rgA itself or on a new resource's id.
var rmCovers = map[string]map[string]bool{
	rmAtSubscription: rmSet(rmRGRead, rmRGWrite, rmIdentityRead, rmIdentityWrite, rmIdentityCreate, rmIdentityDelete,
		rmFICRead, rmFICList, rmFICWrite, rmFICDelete, rmRAWrite, rmRADelete, rmRAList, rmVaultRead, rmVaultWrite, rmVaultDelete),
	rmAtGroup: rmSet(rmRGRead, rmRGWrite, rmIdentityRead, rmIdentityWrite, rmIdentityCreate, rmIdentityDelete,
		rmFICRead, rmFICList, rmFICWrite, rmFICDelete, rmRAWrite, rmRADelete, rmRAList, rmVaultRead, rmVaultWrite, rmVaultDelete),
	rmAtResource: rmSet(rmIdentityRead, rmIdentityWrite, rmIdentityDelete, rmFICRead, rmFICList, rmFICWrite, rmFICDelete,
		rmVaultRead, rmVaultWrite, rmVaultDelete),
	rmAtSibling:    rmSet(),
	rmNoAssignment: rmSet(),
}

// rmEnv is the shared fixture: a wif server, the test issuer, the admin
// token and the target resources in rgA.
type rmEnv struct {
	w        *wifProc
	iss      *issuer
	sub      string
	tenant   string
	admin    string // admin ARM token
	targetID struct{ oid, clientID string }
	seq      int
}

const (
	rmRGA      = "rgA"
	rmRGB      = "rgB"
	rmRGCaller = "rgCallers"
	rmTargetID = "target-id"
	rmTarFIC   = "target-fic"
	rmVault    = "kvtargetrm"
)

func (e *rmEnv) rmNext() int { e.seq++; return e.seq }

func (e *rmEnv) rmGroup(rg string) string { return "/subscriptions/" + e.sub + "/resourceGroups/" + rg }
func (e *rmEnv) rmIdentity(rg, name string) string {
	return e.rmGroup(rg) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}
func (e *rmEnv) rmFIC(identity, name string) string {
	return e.rmIdentity(rmRGA, identity) + "/federatedIdentityCredentials/" + name
}
func (e *rmEnv) rmVaultID(name string) string {
	return e.rmGroup(rmRGA) + "/providers/Microsoft.KeyVault/vaults/" + name
}
func rmRA(scope, name string) string {
	return scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// rmResp is an ARM answer.
type rmResp struct {
	Status int
	Raw    []byte
	Body   map[string]any
}

func (r rmResp) rmError() (code, message string) {
	e, _ := r.Body["error"].(map[string]any)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

func (r rmResp) rmTag(k string) string {
	tags, _ := r.Body["tags"].(map[string]any)
	v, _ := tags[k].(string)
	return v
}

// rmDo sends one ARM request with token tok to path (a resource id) with the
// api-version of its provider.
func (e *rmEnv) rmDo(t testing.TB, tok, method, path string, body any) rmResp {
	t.Helper()
	version := "2021-04-01"
	switch {
	case strings.Contains(path, "Microsoft.Authorization"):
		version = "2022-04-01"
	case strings.Contains(path, "Microsoft.KeyVault"):
		version = "2023-07-01"
	case strings.Contains(path, "Microsoft.ManagedIdentity"):
		version = "2023-01-31"
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.w.URL+path+"?api-version="+version, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.w.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := rmResp{Status: resp.StatusCode}
	r.Raw, _ = io.ReadAll(resp.Body)
	if len(r.Raw) > 0 {
		json.Unmarshal(r.Raw, &r.Body)
	}
	return r
}

// rmAdmin sends a request as the bootstrap admin and fails unless the answer
// has one of the wanted statuses.
func (e *rmEnv) rmAdmin(t testing.TB, method, path string, body any, want ...int) rmResp {
	t.Helper()
	r := e.rmDo(t, e.admin, method, path, body)
	for _, s := range want {
		if r.Status == s {
			return r
		}
	}
	t.Fatalf("admin %s %s = %d %s, want %v", method, path, r.Status, r.Raw, want)
	return r
}

// rmExists reports, as admin, whether GET path answers 200 (false on 404).
func (e *rmEnv) rmExists(t testing.TB, path string) bool {
	t.Helper()
	return e.rmAdmin(t, http.MethodGet, path, nil, http.StatusOK, http.StatusNotFound).Status == http.StatusOK
}

func (e *rmEnv) rmAssign(t testing.TB, scope, roleGUID, principal string) string {
	t.Helper()
	name := uuid.NewString()
	e.rmAdmin(t, http.MethodPut, rmRA(scope, name), map[string]any{"properties": map[string]any{
		"roleDefinitionId": "/subscriptions/" + e.sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID,
		"principalId":      principal, "principalType": "ServicePrincipal",
	}}, http.StatusCreated)
	return name
}

func (e *rmEnv) rmCreateIdentity(t testing.TB, rg, name string) (oid, clientID string) {
	t.Helper()
	r := e.rmAdmin(t, http.MethodPut, e.rmIdentity(rg, name), map[string]any{"location": "eastus"}, http.StatusCreated)
	p, _ := r.Body["properties"].(map[string]any)
	oid, _ = p["principalId"].(string)
	clientID, _ = p["clientId"].(string)
	if oid == "" || clientID == "" {
		t.Fatalf("identity %s: no principalId/clientId in %s", name, r.Raw)
	}
	return oid, clientID
}

func (e *rmEnv) rmFICBody(subject string) map[string]any {
	return map[string]any{"properties": map[string]any{
		"issuer": e.iss.URL, "subject": subject, "audiences": []string{"api://AzureADTokenExchange"},
	}}
}

func (e *rmEnv) rmVaultBody(tags map[string]string) map[string]any {
	return map[string]any{"location": "eastus", "tags": tags, "properties": map[string]any{
		"tenantId": e.tenant, "sku": map[string]any{"family": "A", "name": "standard"},
	}}
}

// rmARMToken gets an ARM token for a managed identity with a JWT of the
// test issuer that its federated credential matches.
func (e *rmEnv) rmARMToken(t testing.TB, clientID, subject string) string {
	t.Helper()
	claims := e.iss.saClaims("rbac", "x", time.Now())
	claims["sub"] = subject
	tr := e.w.postToken(t, e.tenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {e.iss.mint(t, claims)},
		"scope":                 {e.w.URL + "//.default"},
	})
	if tr.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("ARM token for %s: %d %s %s", clientID, tr.Status, tr.Error, tr.Description)
	}
	return tr.AccessToken
}

// rmCaller is a managed identity whose ARM token is under test.
type rmCaller struct {
	name, oid, token string
	role, level      string // role GUID ("" for none) and assignment level
}

// rmNewCaller creates an identity in rgCallers with a FIC, assigns role at
// level and gets its ARM token.
func (e *rmEnv) rmNewCaller(t testing.TB, roleGUID, level string) *rmCaller {
	t.Helper()
	c := &rmCaller{name: fmt.Sprintf("caller-%03d", e.rmNext()), role: roleGUID, level: level}
	var clientID string
	c.oid, clientID = e.rmCreateIdentity(t, rmRGCaller, c.name)
	subject := "system:serviceaccount:rbac:" + c.name
	e.rmAdmin(t, http.MethodPut, e.rmIdentity(rmRGCaller, c.name)+"/federatedIdentityCredentials/token", e.rmFICBody(subject), http.StatusCreated)
	switch level {
	case rmAtSubscription:
		e.rmAssign(t, "/subscriptions/"+e.sub, roleGUID, c.oid)
	case rmAtGroup:
		e.rmAssign(t, e.rmGroup(rmRGA), roleGUID, c.oid)
	case rmAtResource:
		e.rmAssign(t, e.rmIdentity(rmRGA, rmTargetID), roleGUID, c.oid)
		e.rmAssign(t, e.rmVaultID(rmVault), roleGUID, c.oid)
	case rmAtSibling:
		e.rmAssign(t, e.rmGroup(rmRGB), roleGUID, c.oid)
	case rmNoAssignment:
	default:
		t.Fatalf("unknown level %q", level)
	}
	c.token = e.rmARMToken(t, clientID, subject)
	return c
}

// rmOnDisposable gives a resource-level caller its role on a disposable
// resource too, so that deleting it tests the resource-level grant.
func (e *rmEnv) rmOnDisposable(t testing.TB, c *rmCaller, id string) {
	if c.level == rmAtResource {
		e.rmAssign(t, id, c.role, c.oid)
	}
}

// rmAttempt is the outcome of one guarded operation.
type rmAttempt struct {
	resp  rmResp
	scope string // the resource id ARM must name in a denial
	// took reports, as admin, whether the write took effect; nil for reads.
	took    func() bool
	cleanup func()
}

type rmOp struct {
	name, action string
	try          func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt
}

func rmOps() []rmOp {
	const (
		mi  = "Microsoft.ManagedIdentity/userAssignedIdentities/"
		fic = mi + "federatedIdentityCredentials/"
	)
	return []rmOp{
		{rmRGRead, "Microsoft.Resources/subscriptions/resourceGroups/read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, e.rmGroup(rmRGA), nil), scope: e.rmGroup(rmRGA)}
		}},
		{rmRGWrite, "Microsoft.Resources/subscriptions/resourceGroups/write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			probe := fmt.Sprint("p", e.rmNext())
			r := e.rmDo(t, c.token, http.MethodPatch, e.rmGroup(rmRGA), map[string]any{"tags": map[string]string{"rm-probe": probe}})
			return rmAttempt{resp: r, scope: e.rmGroup(rmRGA), took: func() bool {
				return e.rmAdmin(t, http.MethodGet, e.rmGroup(rmRGA), nil, http.StatusOK).rmTag("rm-probe") == probe
			}}
		}},
		{rmIdentityRead, mi + "read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmIdentity(rmRGA, rmTargetID)
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, id, nil), scope: id}
		}},
		{rmIdentityWrite, mi + "write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmIdentity(rmRGA, rmTargetID)
			probe := fmt.Sprint("p", e.rmNext())
			r := e.rmDo(t, c.token, http.MethodPut, id, map[string]any{"location": "eastus", "tags": map[string]string{"rm-probe": probe}})
			return rmAttempt{resp: r, scope: id, took: func() bool {
				return e.rmAdmin(t, http.MethodGet, id, nil, http.StatusOK).rmTag("rm-probe") == probe
			}}
		}},
		{rmIdentityCreate, mi + "write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmIdentity(rmRGA, fmt.Sprint("new-", e.rmNext()))
			r := e.rmDo(t, c.token, http.MethodPut, id, map[string]any{"location": "eastus"})
			return rmAttempt{resp: r, scope: id,
				took:    func() bool { return e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmIdentityDelete, mi + "delete", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			name := fmt.Sprint("del-", e.rmNext())
			id := e.rmIdentity(rmRGA, name)
			e.rmCreateIdentity(t, rmRGA, name)
			e.rmOnDisposable(t, c, id)
			r := e.rmDo(t, c.token, http.MethodDelete, id, nil)
			return rmAttempt{resp: r, scope: id,
				took:    func() bool { return !e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmFICRead, fic + "read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmFIC(rmTargetID, rmTarFIC)
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, id, nil), scope: id}
		}},
		{rmFICList, fic + "read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmIdentity(rmRGA, rmTargetID)
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, id+"/federatedIdentityCredentials", nil), scope: id}
		}},
		{rmFICWrite, fic + "write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			n := e.rmNext()
			id := e.rmFIC(rmTargetID, fmt.Sprint("fic-", n))
			r := e.rmDo(t, c.token, http.MethodPut, id, e.rmFICBody(fmt.Sprint("system:serviceaccount:rbac:written-", n)))
			return rmAttempt{resp: r, scope: id,
				took:    func() bool { return e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmFICDelete, fic + "delete", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			n := e.rmNext()
			id := e.rmFIC(rmTargetID, fmt.Sprint("fic-", n))
			e.rmAdmin(t, http.MethodPut, id, e.rmFICBody(fmt.Sprint("system:serviceaccount:rbac:disposable-", n)), http.StatusCreated)
			r := e.rmDo(t, c.token, http.MethodDelete, id, nil)
			return rmAttempt{resp: r, scope: id,
				took:    func() bool { return !e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmRAWrite, "Microsoft.Authorization/roleAssignments/write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			scope := e.rmGroup(rmRGA)
			id := rmRA(scope, uuid.NewString())
			r := e.rmDo(t, c.token, http.MethodPut, id, map[string]any{"properties": map[string]any{
				"roleDefinitionId": "/subscriptions/" + e.sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rmReader,
				"principalId":      e.targetID.oid, "principalType": "ServicePrincipal",
			}})
			return rmAttempt{resp: r, scope: scope,
				took:    func() bool { return e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmRADelete, "Microsoft.Authorization/roleAssignments/delete", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			scope := e.rmGroup(rmRGA)
			id := rmRA(scope, e.rmAssign(t, scope, rmKVReader, e.targetID.oid))
			r := e.rmDo(t, c.token, http.MethodDelete, id, nil)
			return rmAttempt{resp: r, scope: scope,
				took:    func() bool { return !e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
		{rmRAList, "Microsoft.Authorization/roleAssignments/read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			scope := e.rmGroup(rmRGA)
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, scope+"/providers/Microsoft.Authorization/roleAssignments", nil), scope: scope}
		}},
		{rmVaultRead, "Microsoft.KeyVault/vaults/read", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmVaultID(rmVault)
			return rmAttempt{resp: e.rmDo(t, c.token, http.MethodGet, id, nil), scope: id}
		}},
		{rmVaultWrite, "Microsoft.KeyVault/vaults/write", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmVaultID(rmVault)
			probe := fmt.Sprint("p", e.rmNext())
			r := e.rmDo(t, c.token, http.MethodPut, id, e.rmVaultBody(map[string]string{"rm-probe": probe}))
			return rmAttempt{resp: r, scope: id, took: func() bool {
				return e.rmAdmin(t, http.MethodGet, id, nil, http.StatusOK).rmTag("rm-probe") == probe
			}}
		}},
		{rmVaultDelete, "Microsoft.KeyVault/vaults/delete", func(t *testing.T, e *rmEnv, c *rmCaller) rmAttempt {
			id := e.rmVaultID(fmt.Sprintf("kvdel%04d", e.rmNext()))
			e.rmAdmin(t, http.MethodPut, id, e.rmVaultBody(nil), http.StatusCreated)
			e.rmOnDisposable(t, c, id)
			r := e.rmDo(t, c.token, http.MethodDelete, id, nil)
			return rmAttempt{resp: r, scope: id,
				took:    func() bool { return !e.rmExists(t, id) },
				cleanup: func() { e.rmAdmin(t, http.MethodDelete, id, nil, http.StatusOK, http.StatusNoContent) },
			}
		}},
	}
}

// rmCheck runs op as c and asserts the decision want.
func (e *rmEnv) rmCheck(t *testing.T, c *rmCaller, op rmOp, want bool) {
	t.Helper()
	a := op.try(t, e, c)
	if a.cleanup != nil {
		defer a.cleanup()
	}
	r := a.resp
	if want {
		if r.Status < 200 || r.Status > 299 {
			t.Fatalf("allowed by the documented role, but got %d %s", r.Status, r.Raw)
		}
		if a.took != nil && !a.took() {
			t.Errorf("write answered %d but did not take effect", r.Status)
		}
		return
	}
	code, msg := r.rmError()
	if r.Status != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Errorf("denied by the documented role, but got %d %s; want 403 AuthorizationFailed", r.Status, r.Raw)
	} else {
		lower := strings.ToLower(msg)
		if !strings.Contains(lower, "'"+strings.ToLower(op.action)+"'") {
			t.Errorf("denial message does not name action %q: %s", op.action, msg)
		}
		if !strings.Contains(lower, "'"+strings.ToLower(a.scope)+"'") {
			t.Errorf("denial message does not name scope %q: %s", a.scope, msg)
		}
		if !strings.Contains(msg, c.oid) {
			t.Errorf("denial message does not name the caller %s: %s", c.oid, msg)
		}
	}
	if a.took != nil && a.took() {
		t.Errorf("denied write took effect anyway (status %d)", r.Status)
	}
}

func rmSetup(t *testing.T) *rmEnv {
	t.Helper()
	iss := newIssuer(t)
	w := startWif(t, "--extra-ca-file", iss.CAFile)
	e := &rmEnv{w: w, iss: iss, sub: w.Boot.SubscriptionID, tenant: w.Boot.TenantID}
	tr := w.postToken(t, e.tenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
		"client_secret": {w.Boot.ClientSecret}, "scope": {w.URL + "//.default"},
	})
	if tr.Status != http.StatusOK {
		t.Fatalf("admin token: %d %s %s", tr.Status, tr.Error, tr.Description)
	}
	e.admin = tr.AccessToken
	for _, rg := range []string{rmRGA, rmRGB, rmRGCaller} {
		e.rmAdmin(t, http.MethodPut, e.rmGroup(rg), map[string]any{"location": "eastus"}, http.StatusCreated)
	}
	e.targetID.oid, e.targetID.clientID = e.rmCreateIdentity(t, rmRGA, rmTargetID)
	e.rmAdmin(t, http.MethodPut, e.rmFIC(rmTargetID, rmTarFIC), e.rmFICBody("system:serviceaccount:rbac:target"), http.StatusCreated)
	e.rmAdmin(t, http.MethodPut, e.rmVaultID(rmVault), e.rmVaultBody(nil), http.StatusCreated)
	return e
}

// TestRBACMatrix: each built-in role × each guarded operation × three scope
// levels gives exactly the decisions Azure documents, and no write succeeds
// for a principal without the right role.
func TestRBACMatrix(t *testing.T) {
	start := time.Now()
	e := rmSetup(t)
	ops := rmOps()
	var allowed, denied int
	run := func(t *testing.T, roleGUID, level string, grants map[string]bool) {
		c := e.rmNewCaller(t, roleGUID, level)
		for _, op := range ops {
			want := grants[op.name] && rmCovers[level][op.name]
			if want {
				allowed++
			} else {
				denied++
			}
			t.Run(op.name, func(t *testing.T) { e.rmCheck(t, c, op, want) })
		}
	}
	for _, role := range rmRoles {
		levels := []string{rmAtSubscription, rmAtGroup, rmAtResource}
		if role.guid == rmOwner {
			// Owner of the sibling group may do nothing in rgA.
			levels = append(levels, rmAtSibling)
		}
		t.Run(role.name, func(t *testing.T) {
			for _, level := range levels {
				t.Run(level, func(t *testing.T) { run(t, role.guid, level, role.grants) })
			}
		})
	}
	// Nor may a principal with no role at all.
	t.Run("no role", func(t *testing.T) {
		t.Run(rmNoAssignment, func(t *testing.T) { run(t, "", rmNoAssignment, nil) })
	})

	// The target identity survived every write with its ids intact, and only
	// its own credential is left on it.
	r := e.rmAdmin(t, http.MethodGet, e.rmIdentity(rmRGA, rmTargetID), nil, http.StatusOK)
	p, _ := r.Body["properties"].(map[string]any)
	if p["principalId"] != e.targetID.oid || p["clientId"] != e.targetID.clientID {
		t.Errorf("target-id changed ids: %s", r.Raw)
	}
	fics := e.rmAdmin(t, http.MethodGet, e.rmIdentity(rmRGA, rmTargetID)+"/federatedIdentityCredentials", nil, http.StatusOK)
	if v, _ := fics.Body["value"].([]any); len(v) != 1 {
		t.Errorf("target-id has %d FICs after the matrix, want 1: %s", len(v), fics.Raw)
	}
	t.Logf("matrix of %d expected allows and %d expected denials done in %v", allowed, denied, time.Since(start).Round(time.Millisecond))
}
