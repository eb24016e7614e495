package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// amKind is one ARM resource type under test.
type amKind struct {
	name string
	// path returns the escaped request path (with api-version) of the
	// resource named name (escaped) in subscription sub, with parent the
	// escaped name of the resource group (and, for FICs, "rg/identity").
	path func(sub, parent, name string) string
	// parents are the escaped parent names of the deliberately created
	// resources.
	parents []string
	body    string // a valid creation body
	// existing is a deliberately created resource; fresh is a valid,
	// unused name.
	existing, fresh string
	nameCode        string // the code for an invalid name
	patch           bool   // PATCH is supported
}

// amWithField inserts a top-level field into a JSON object.
func amWithField(body, field string) string {
	return "{" + field + "," + strings.TrimPrefix(body, "{")
}

// TestARMBadInput sends malformed, oversized, misaddressed and
// unauthenticated requests to every ARM resource type: each gets a 4xx
// with an ARM error body and the specific code, and nothing is written.
func TestARMBadInput(t *testing.T) {
	w := startWif(t)
	b := w.Boot
	token := amARMToken(t, w)
	auth := amBearer(token)
	sub := b.SubscriptionID

	// The deliberate resources.
	const rg, identity, fic, vault = "badRG", "victim", "existing-fic", "badkv1"
	mustPut := func(path, body string) map[string]any {
		t.Helper()
		r := amDo(t, w, http.MethodPut, path, []byte(body), auth)
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", path, r.Status, r.Body)
		}
		var m map[string]any
		json.Unmarshal(r.Body, &m)
		return m
	}
	groupPath := func(sub, _, name string) string {
		return "/subscriptions/" + sub + "/resourceGroups/" + name + "?api-version=2021-04-01"
	}
	identityPath := func(sub, rg, name string) string {
		return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "?api-version=2024-11-30"
	}
	ficPath := func(sub, parent, name string) string {
		rg, id, _ := strings.Cut(parent, "/")
		return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + id + "/federatedIdentityCredentials/" + name + "?api-version=2024-11-30"
	}
	raPath := func(sub, rg, name string) string {
		return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Authorization/roleAssignments/" + name + "?api-version=2022-04-01"
	}
	vaultPath := func(sub, rg, name string) string {
		return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.KeyVault/vaults/" + name + "?api-version=2023-07-01"
	}
	mustPut(groupPath(sub, "", rg), `{"location":"eastus","tags":{"keep":"me"}}`)
	victim := mustPut(identityPath(sub, rg, identity), `{"location":"eastus","tags":{"keep":"me"}}`)
	principalID := victim["properties"].(map[string]any)["principalId"].(string)
	ficBody := func(subject string) string {
		return `{"properties":{"issuer":"https://issuer.example.com","subject":"` + subject + `","audiences":["api://AzureADTokenExchange"]}}`
	}
	mustPut(ficPath(sub, rg+"/"+identity, fic), ficBody("system:serviceaccount:default:existing"))
	vaultBody := `{"location":"eastus","properties":{"tenantId":"` + b.TenantID + `","sku":{"family":"A","name":"standard"}}}`
	mustPut(vaultPath(sub, rg, vault), vaultBody)
	raBody := func(role string) string {
		return `{"properties":{"roleDefinitionId":"/subscriptions/` + sub + `/providers/Microsoft.Authorization/roleDefinitions/` + role +
			`","principalId":"` + principalID + `","principalType":"ServicePrincipal"}}`
	}
	existingRA := uuid.NewString()
	mustPut(raPath(sub, rg, existingRA), raBody("acdd72a7-3385-48ef-bd42-f606fba81ae7"))

	before := amSnapshot(t, w, token)
	if len(before.Groups) != 1 || len(before.Identities) != 1 || len(before.Vaults) != 1 || len(before.FICs[amString(before.Identities[0]["id"])]) != 1 || len(before.RoleAssignments) < 2 {
		t.Fatalf("unexpected starting state: %s", amJSON(before))
	}

	kinds := []amKind{
		{name: "group", path: groupPath, body: `{"location":"eastus"}`, existing: rg, fresh: "freshRG", nameCode: "InvalidResourceGroup", patch: true},
		{name: "identity", path: identityPath, parents: []string{rg}, body: `{"location":"eastus"}`, existing: identity, fresh: "fresh-identity", nameCode: "InvalidResourceName", patch: true},
		{name: "fic", path: ficPath, parents: []string{rg, identity}, body: ficBody("system:serviceaccount:default:fresh"), existing: fic, fresh: "fresh-fic", nameCode: "BadRequest"},
		{name: "roleassignment", path: raPath, parents: []string{rg}, body: raBody("b24988ac-6180-42a0-ab88-20f7382dd24c"), existing: existingRA, fresh: uuid.NewString(), nameCode: "InvalidRoleAssignmentId"},
		{name: "vault", path: vaultPath, parents: []string{rg}, body: vaultBody, existing: vault, fresh: "freshkv1", nameCode: "VaultNameNotValid", patch: true},
	}

	// Tokens that must not be accepted.
	vaultToken := amToken(t, w, "https://vault.localhost/.default")
	parts := strings.Split(token, ".")
	var hdr struct {
		KID string `json:"kid"`
	}
	var claims map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(hb, &hdr)
	json.Unmarshal(pb, &claims)
	past := time.Now().Add(-2 * time.Hour)
	expiredClaims := map[string]any{}
	for k, v := range claims {
		expiredClaims[k] = v
	}
	expiredClaims["iat"], expiredClaims["nbf"], expiredClaims["exp"] = past.Unix(), past.Unix(), past.Add(time.Hour).Unix()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expiredPayload, _ := json.Marshal(expiredClaims)
	b64 := base64.RawURLEncoding.EncodeToString
	badToken := []struct {
		name   string
		header amHeaders
		codes  []string
	}{
		{"no Authorization header", amHeaders{}, []string{"AuthenticationFailed"}},
		{"Basic scheme", amHeaders{"Authorization": "Basic " + b64([]byte(b.ClientID+":"+b.ClientSecret))}, []string{"AuthenticationFailed"}},
		{"empty bearer", amHeaders{"Authorization": "Bearer "}, []string{"AuthenticationFailed", "InvalidAuthenticationToken"}},
		{"garbage bearer", amHeaders{"Authorization": "Bearer garbage"}, []string{"InvalidAuthenticationToken"}},
		{"three garbage parts", amHeaders{"Authorization": "Bearer a.b.c"}, []string{"InvalidAuthenticationToken"}},
		{"expired-looking, foreign key", amBearer(signJWT(t, jose.RS256, otherKey, hdr.KID, expiredClaims)), []string{"InvalidAuthenticationToken", "ExpiredAuthenticationToken"}},
		{"expired-looking, re-encoded payload", amBearer(parts[0] + "." + b64(expiredPayload) + "." + parts[2]), []string{"InvalidAuthenticationToken", "ExpiredAuthenticationToken"}},
		{"tampered signature", amBearer(parts[0] + "." + parts[1] + "." + flip(parts[2])), []string{"InvalidAuthenticationToken"}},
		{"alg none", amBearer(b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+hdr.KID+`"}`)) + "." + parts[1] + "."), []string{"InvalidAuthenticationToken"}},
		{"oversized token", amBearer(strings.Repeat("a", 64<<10)), []string{"InvalidAuthenticationToken"}},
		{"token for another audience", amBearer(vaultToken), []string{"InvalidAuthenticationTokenAudience"}},
	}

	type tc struct {
		name     string
		method   string
		path     string
		body     string
		header   amHeaders
		statuses []int
		codes    []string
		skip     string
	}
	var cases []tc
	big := `{"location":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, k := range kinds {
		parent := strings.Join(k.parents, "/")
		fresh := k.path(sub, parent, k.fresh)
		existing := k.path(sub, parent, k.existing)
		add := func(c tc) {
			c.name = k.name + "/" + c.name
			if c.header == nil {
				c.header = auth
			}
			cases = append(cases, c)
		}
		// Bodies.
		badBody := func(name, body string, status int, code, skip string) {
			add(tc{name: name, method: http.MethodPut, path: fresh, body: body, statuses: []int{status}, codes: []string{code}, skip: skip})
			add(tc{name: name + " (existing)", method: http.MethodPut, path: existing, body: body, statuses: []int{status}, codes: []string{code}, skip: skip})
			if k.patch {
				add(tc{name: name + " (PATCH existing)", method: http.MethodPatch, path: existing, body: body, statuses: []int{status}, codes: []string{code}, skip: skip})
			}
		}
		badBody("malformed JSON", `{"location":`, 400, "InvalidRequestContent", "")
		badBody("not JSON", `<xml/>`, 400, "InvalidRequestContent", "")
		badBody("empty body", ``, 400, "InvalidRequestContent", "")
		badBody("array", `[]`, 400, "InvalidRequestContent", "")
		badBody("unknown top-level field", amWithField(k.body, `"bogus":true`), 400, "InvalidRequestContent", "")
		badBody("trailing garbage", k.body+` garbage`, 400, "InvalidRequestContent", "")
		badBody("second JSON object", k.body+`{}`, 400, "InvalidRequestContent", "")
		badBody("trailing brace", k.body+`}`, 400, "InvalidRequestContent", "")
		badBody("trailing bracket", k.body+`]`, 400, "InvalidRequestContent", "")
		badBody("2 MiB body", big, 413, "RequestEntityTooLarge", "")
		badBody("valid JSON then 2 MiB of spaces", k.body+strings.Repeat(" ", 2<<20), 413, "RequestEntityTooLarge", "")
		switch k.name {
		case "fic", "roleassignment":
			badBody("wrong type", `{"properties":42}`, 400, "InvalidRequestContent", "")
		default:
			badBody("wrong type", `{"location":42}`, 400, "InvalidRequestContent", "")
		}

		// Names.
		names := []string{"bad%20name%21", strings.Repeat("a", 200), "..%2F..%2Fsubscriptions", "a%2Fb", "a%00b", "%FF%FEx", url.PathEscape("rg-😀")}
		if k.name != "group" {
			// One character and letters outside ASCII are valid group names.
			names = append(names, "a", url.PathEscape("ñame-ü"))
		}
		for _, n := range names {
			add(tc{name: "name " + amShort(n), method: http.MethodPut, path: k.path(sub, parent, n), body: k.body, statuses: []int{400}, codes: []string{k.nameCode}})
		}
		for _, n := range []string{"%2e%2e", "%2E", ".."} {
			add(tc{name: "dot segment " + n, method: http.MethodPut, path: k.path(sub, parent, n), body: k.body, statuses: []int{400}, codes: []string{"InvalidRequestUri"}})
		}
		// Traversal in the parent segments.
		for i := range k.parents {
			for _, n := range []string{"..%2F..%2Fsubscriptions", "a%2Fb"} {
				ps := slices.Clone(k.parents)
				ps[i] = n
				add(tc{name: fmt.Sprintf("parent %d %s", i, n), method: http.MethodPut, path: k.path(sub, strings.Join(ps, "/"), k.fresh), body: k.body,
					statuses: []int{400}, codes: []string{"InvalidResourceGroup", "InvalidResourceName"}})
			}
			ps := slices.Clone(k.parents)
			ps[i] = "%2e%2e"
			add(tc{name: fmt.Sprintf("parent %d dot-dot", i), method: http.MethodPut, path: k.path(sub, strings.Join(ps, "/"), k.fresh), body: k.body, statuses: []int{400}, codes: []string{"InvalidRequestUri"}})
		}

		// Authentication, on creation and on deletion of the existing one.
		for _, bt := range badToken {
			add(tc{name: "create, " + bt.name, method: http.MethodPut, path: fresh, body: k.body, header: bt.header, statuses: []int{401}, codes: bt.codes})
			add(tc{name: "delete, " + bt.name, method: http.MethodDelete, path: existing, header: bt.header, statuses: []int{401}, codes: bt.codes})
		}

		// Unknown subscriptions.
		for _, s := range []string{uuid.NewString(), "not-a-subscription"} {
			add(tc{name: "create in subscription " + s, method: http.MethodPut, path: k.path(s, parent, k.fresh), body: k.body, statuses: []int{404}, codes: []string{"SubscriptionNotFound"}})
			add(tc{name: "delete in subscription " + s, method: http.MethodDelete, path: k.path(s, parent, k.existing), statuses: []int{404}, codes: []string{"SubscriptionNotFound"}})
		}
		if !k.patch {
			add(tc{name: "PATCH", method: http.MethodPatch, path: existing, body: k.body, statuses: []int{405}, codes: []string{"MethodNotAllowed"}})
		}
	}
	if len(cases) < 300 {
		t.Fatalf("only %d cases", len(cases))
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			var body []byte
			if c.method == http.MethodPut || c.method == http.MethodPatch {
				body = []byte(c.body)
			}
			r := amDo(t, w, c.method, c.path, body, c.header)
			if r.Status >= 500 {
				t.Fatalf("%s %s: server error %d %s", c.method, amShort(c.path), r.Status, amShort(string(r.Body)))
			}
			code, msg, ok := r.armError()
			if !ok {
				t.Fatalf("%s %s: %d, not an ARM error: %s", c.method, amShort(c.path), r.Status, amShort(string(r.Body)))
			}
			if !slices.Contains(c.statuses, r.Status) || !slices.Contains(c.codes, code) {
				t.Errorf("%s %s: %d %s (%s), want %v %v", c.method, amShort(c.path), r.Status, code, amShort(msg), c.statuses, c.codes)
			}
			if !strings.HasPrefix(r.ContentType, "application/json") {
				t.Errorf("Content-Type = %q", r.ContentType)
			}
			if r.Status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(msg, token) || strings.Contains(msg, vaultToken) {
				t.Errorf("error message echoes a token")
			}
		})
	}

	t.Run("nothing half-written", func(t *testing.T) {
		after := amSnapshot(t, w, token)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("state changed by refused requests (-before +after):\n%s", diff)
		}
	})
}
