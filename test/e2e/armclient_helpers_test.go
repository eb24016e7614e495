package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// amCloud is the cloud configuration that points the Azure SDK at w.
func amCloud(w *wifProc) cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: w.Boot.AuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: w.Boot.ARMEndpoint, Endpoint: w.Boot.ARMEndpoint},
		},
	}
}

// amToken gets a client-credentials token for scope with the bootstrap
// admin's secret.
func amToken(t testing.TB, w *wifProc, scope string) string {
	t.Helper()
	tr := w.postToken(t, w.Boot.TenantID, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {w.Boot.ClientID},
		"client_secret": {w.Boot.ClientSecret}, "scope": {scope},
	})
	if tr.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", scope, tr.Status, tr.Description)
	}
	return tr.AccessToken
}

// amARMToken is a management token for w's ARM endpoint.
func amARMToken(t testing.TB, w *wifProc) string {
	return amToken(t, w, strings.TrimSuffix(w.Boot.ARMEndpoint, "/")+"/.default")
}

// amResponse is a raw ARM answer.
type amResponse struct {
	Status      int
	ContentType string
	Header      http.Header
	Body        []byte
}

// amARMError is ARM's error envelope.
type amARMError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// armError decodes the body as an ARM error; ok is false when it is not
// one (not JSON, no error object, or an empty code or message).
func (r amResponse) armError() (code, message string, ok bool) {
	var e amARMError
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		return "", "", false
	}
	return e.Error.Code, e.Error.Message, true
}

// amHeaders sets request headers; a nil Authorization leaves it out.
type amHeaders map[string]string

// amDo sends method rawPath (already escaped, with query) to w's ARM
// endpoint with an optional body and headers.
func amDo(t testing.TB, w *wifProc, method, rawPath string, body []byte, h amHeaders) amResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, w.URL+rawPath, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := w.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, amShort(rawPath), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, amShort(rawPath), err)
	}
	return amResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Header: resp.Header, Body: b}
}

// amBearer returns the headers carrying token.
func amBearer(token string) amHeaders { return amHeaders{"Authorization": "Bearer " + token} }

func amShort(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// amList GETs an ARM collection and returns its "value" entries.
func amList(t testing.TB, w *wifProc, token, rawPath string) []map[string]any {
	t.Helper()
	r := amDo(t, w, http.MethodGet, rawPath, nil, amBearer(token))
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", rawPath, r.Status, r.Body)
	}
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"nextLink"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatalf("GET %s: %v: %s", rawPath, err, r.Body)
	}
	if page.NextLink != "" {
		t.Fatalf("GET %s: unexpected nextLink %q", rawPath, page.NextLink)
	}
	sort.Slice(page.Value, func(i, j int) bool {
		return strings.ToLower(amString(page.Value[i]["id"])) < strings.ToLower(amString(page.Value[j]["id"]))
	})
	return page.Value
}

func amString(v any) string {
	s, _ := v.(string)
	return s
}

// amState is everything the ARM API shows in a subscription.
type amState struct {
	Groups          []map[string]any
	Identities      []map[string]any
	FICs            map[string][]map[string]any // by identity id
	Vaults          []map[string]any
	RoleAssignments []map[string]any
}

// amSnapshot lists the subscription's groups, identities, their federated
// credentials, vaults and role assignments through the API.
func amSnapshot(t testing.TB, w *wifProc, token string) amState {
	t.Helper()
	sub := "/subscriptions/" + w.Boot.SubscriptionID
	s := amState{
		Groups:          amList(t, w, token, sub+"/resourcegroups?api-version=2021-04-01"),
		Identities:      amList(t, w, token, sub+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2024-11-30"),
		Vaults:          amList(t, w, token, sub+"/providers/Microsoft.KeyVault/vaults?api-version=2023-07-01"),
		RoleAssignments: amList(t, w, token, sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"),
		FICs:            map[string][]map[string]any{},
	}
	for _, id := range s.Identities {
		s.FICs[amString(id["id"])] = amList(t, w, token, amString(id["id"])+"/federatedIdentityCredentials?api-version=2024-11-30")
	}
	return s
}
