package sts

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// A syntactically plausible JWT; ParseRequest does not look inside it.
const fakeJWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3VlciIsInN1YiI6InMifQ.c2lnbmF0dXJl"

const testClientID = "0b3c1a5e-4b6f-4c4e-9d51-3c1f4a2b7e10"

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%q): %v", raw, err)
	}
	return v
}

func TestParseRequest(t *testing.T) {
	cc := func(extra string) string {
		return "grant_type=client_credentials&client_id=" + testClientID + extra
	}
	tx := func(extra string) string {
		return "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=" + testClientID +
			"&subject_token=" + fakeJWT + "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt" + extra
	}
	assertion := "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + fakeJWT
	tests := []struct {
		name    string
		body    string
		want    Request
		wantErr int    // AADSTS code; 0 for success
		wantOE  string // OAuth error string when wantErr != 0
		wantIn  string // fragment of Desc
	}{
		// Success paths.
		{
			name: "MSAL Go confidential client with assertion",
			body: "claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22CP1%22%5D%7D%7D%7D&client_assertion=" + fakeJWT +
				"%0A&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id=" + testClientID +
				"&client_info=1&grant_type=client_credentials&scope=https%3A%2F%2Fvault.localhost%3A8443%2F.default+openid+offline_access+profile",
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, Assertion: fakeJWT, Audience: "https://vault.localhost:8443"},
		},
		{
			name: "az with a double slash scope",
			body: cc("&client_secret=s3cret&scope=https://management.localhost//.default"),
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "s3cret", Audience: "https://management.localhost/"},
		},
		{
			name: "MSAL JS with x-client params",
			body: "client_id=" + testClientID +
				"&scope=https%3A%2F%2Fstorage.localhost%2F.default%20openid%20profile%20offline_access" +
				"&grant_type=client_credentials&client_info=1" +
				"&x-client-SKU=msal.js.node&x-client-VER=2.16.2&x-client-OS=linux&x-client-CPU=x64" +
				"&x-ms-lib-capability=retry-after,%20h429&x-client-current-telemetry=5%7C771,2,,,%7C,&x-client-last-telemetry=5%7C0%7C%7C%7C0,0" +
				"&client-request-id=4f1c1b1e-3a7e-4a53-9a3e-7f3c1d2e5b6a" +
				"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + fakeJWT,
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, Assertion: fakeJWT, Audience: "https://storage.localhost"},
		},
		{
			name: "secret with surrounding spaces kept verbatim",
			body: cc("&client_secret=%20s3cret%20&scope=api://x/.default"),
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: " s3cret ", Audience: "api://x"},
		},
		{
			name: "client id trimmed",
			body: "grant_type=client_credentials&client_id=%20" + testClientID + "%0A&client_secret=s&scope=api://x/.default",
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "s", Audience: "api://x"},
		},
		{
			name: "OIDC scopes in any case and order",
			body: cc("&client_secret=s&scope=OpenID+https://x/.default+Profile+email+OFFLINE_ACCESS"),
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "s", Audience: "https://x"},
		},
		{
			name: "only the final /.default is removed",
			body: cc("&client_secret=s&scope=https://x/.default/.default"),
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, ClientSecret: "s", Audience: "https://x/.default"},
		},
		{
			name: "token exchange with scope",
			body: tx("&scope=api://AzureADTokenExchange/.default"),
			want: Request{Grant: GrantTokenExchange, ClientID: testClientID, Assertion: fakeJWT, Audience: "api://AzureADTokenExchange"},
		},
		{
			name: "token exchange with resource",
			body: tx("&resource=https://vault.localhost"),
			want: Request{Grant: GrantTokenExchange, ClientID: testClientID, Assertion: fakeJWT, Audience: "https://vault.localhost"},
		},
		{
			name: "token exchange with audience/.default",
			body: tx("&audience=https://vault.localhost/.default"),
			want: Request{Grant: GrantTokenExchange, ClientID: testClientID, Assertion: fakeJWT, Audience: "https://vault.localhost"},
		},
		{
			name: "token exchange id_token type, trimmed token",
			body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=" + testClientID +
				"&subject_token=%20" + fakeJWT + "%0D%0A&subject_token_type=urn:ietf:params:oauth:token-type:id_token&scope=api://x/.default",
			want: Request{Grant: GrantTokenExchange, ClientID: testClientID, Assertion: fakeJWT, Audience: "api://x"},
		},

		// grant_type.
		{name: "empty body", body: "", wantErr: 900144, wantOE: "invalid_request", wantIn: "'grant_type'"},
		{name: "unsupported grant", body: "grant_type=password&client_id=x", wantErr: 70003, wantOE: "unsupported_grant_type", wantIn: "'password'"},
		{name: "grant type is case-sensitive", body: "grant_type=Client_Credentials&client_id=x", wantErr: 70003, wantOE: "unsupported_grant_type"},
		{name: "overlong grant type is truncated in the message", body: "grant_type=" + strings.Repeat("g", 5000), wantErr: 70003, wantOE: "unsupported_grant_type"},

		// client_credentials.
		{name: "cc missing client_id", body: "grant_type=client_credentials&client_secret=s&scope=api://x/.default", wantErr: 900144, wantOE: "invalid_request", wantIn: "'client_id'"},
		{name: "cc blank client_id", body: "grant_type=client_credentials&client_id=%20&client_secret=s&scope=api://x/.default", wantErr: 900144, wantIn: "'client_id'"},
		{name: "cc no credential", body: cc("&scope=api://x/.default"), wantErr: 7000218, wantOE: "invalid_client", wantIn: "'client_assertion' or 'client_secret'"},
		{name: "cc blank assertion", body: cc("&client_assertion=%20%0A&scope=api://x/.default"), wantErr: 7000218, wantOE: "invalid_client"},
		{name: "cc secret and assertion", body: cc("&client_secret=s" + assertion + "&scope=api://x/.default"), wantErr: 90023, wantOE: "invalid_request", wantIn: "not both"},
		{name: "cc assertion without type", body: cc("&client_assertion=" + fakeJWT + "&scope=api://x/.default"), wantErr: 900144, wantIn: "'client_assertion_type'"},
		{name: "cc wrong assertion type", body: cc("&client_assertion=" + fakeJWT + "&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:saml2-bearer&scope=api://x/.default"),
			wantErr: 50027, wantOE: "invalid_request", wantIn: "saml2-bearer"},
		{name: "cc assertion too large", body: cc("&client_assertion_type=" + url.QueryEscape(AssertionTypeJWTBearer) + "&client_assertion=" + strings.Repeat("a", maxAssertion+1) + "&scope=api://x/.default"),
			wantErr: 50027, wantOE: "invalid_request", wantIn: "more than"},
		{name: "cc assertion at the size limit", body: cc("&client_assertion_type=" + url.QueryEscape(AssertionTypeJWTBearer) + "&client_assertion=" + strings.Repeat("a", maxAssertion) + "&scope=api://x/.default"),
			want: Request{Grant: GrantClientCredentials, ClientID: testClientID, Assertion: strings.Repeat("a", maxAssertion), Audience: "api://x"}},
		{name: "cc missing scope", body: cc("&client_secret=s"), wantErr: 900144, wantOE: "invalid_request", wantIn: "'scope'"},
		{name: "cc blank scope", body: cc("&client_secret=s&scope=+%09"), wantErr: 900144, wantIn: "'scope'"},
		{name: "cc only OIDC scopes", body: cc("&client_secret=s&scope=openid+offline_access+profile"), wantErr: 70011, wantOE: "invalid_scope", wantIn: "no resource scope"},
		{name: "cc two resources", body: cc("&client_secret=s&scope=https://a/.default+https://b/.default"), wantErr: 70011, wantOE: "invalid_scope", wantIn: "exactly one"},
		{name: "cc scope without .default", body: cc("&client_secret=s&scope=https://vault.localhost/user_impersonation"), wantErr: 70011, wantOE: "invalid_scope", wantIn: "'/.default'"},
		{name: "cc bare /.default", body: cc("&client_secret=s&scope=/.default"), wantErr: 70011, wantOE: "invalid_scope"},
		{name: "cc .default without slash", body: cc("&client_secret=s&scope=.default"), wantErr: 70011, wantOE: "invalid_scope"},

		// token exchange.
		{name: "tx missing client_id", body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&subject_token=" + fakeJWT, wantErr: 900144, wantIn: "'client_id'"},
		{name: "tx missing subject_token", body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=x&subject_token_type=urn:ietf:params:oauth:token-type:jwt&scope=a/.default", wantErr: 900144, wantIn: "'subject_token'"},
		{name: "tx missing subject_token_type", body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=x&subject_token=" + fakeJWT + "&scope=a/.default", wantErr: 900144, wantIn: "'subject_token_type'"},
		{name: "tx unsupported subject_token_type", body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=x&subject_token=" + fakeJWT + "&subject_token_type=urn:ietf:params:oauth:token-type:saml2&scope=a/.default",
			wantErr: 90023, wantOE: "invalid_request", wantIn: "saml2"},
		{name: "tx no scope, resource or audience", body: tx(""), wantErr: 900144, wantIn: "'scope'"},
		{name: "tx scope without .default", body: tx("&scope=https://x"), wantErr: 70011, wantOE: "invalid_scope"},
		{name: "tx resource with space", body: tx("&resource=https://a%20b"), wantErr: 70011, wantOE: "invalid_scope", wantIn: "whitespace"},
		{name: "tx audience with newline", body: tx("&audience=https://a%0A"), wantErr: 70011, wantOE: "invalid_scope"},
		{name: "tx subject token too large", body: "grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=x&subject_token=" + strings.Repeat("a", maxAssertion+1) + "&subject_token_type=urn:ietf:params:oauth:token-type:jwt&scope=a/.default",
			wantErr: 50027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(mustQuery(t, tt.body))
			if tt.wantErr == 0 {
				if err != nil {
					t.Fatalf("ParseRequest: unexpected error %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParseRequest (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRequest = %+v, want AADSTS%d", got, tt.wantErr)
			}
			if err.Code != tt.wantErr {
				t.Errorf("Code = %d, want %d (%v)", err.Code, tt.wantErr, err)
			}
			if tt.wantOE != "" && err.Err != tt.wantOE {
				t.Errorf("Err = %q, want %q", err.Err, tt.wantOE)
			}
			if !strings.Contains(err.Desc, tt.wantIn) {
				t.Errorf("Desc %q does not contain %q", err.Desc, tt.wantIn)
			}
			if !strings.HasPrefix(err.Error(), "AADSTS") {
				t.Errorf("Error() = %q, want an AADSTS prefix", err.Error())
			}
			if len(err.Desc) > 1000 {
				t.Errorf("Desc is %d bytes: user input is not truncated", len(err.Desc))
			}
			if diff := cmp.Diff(Request{}, got); diff != "" {
				t.Errorf("partial request returned with an error:\n%s", diff)
			}
		})
	}
}

// TestParseRequestTokenExchangeResource: the resource and audience
// parameters of a token exchange must pass the same checks as a scope: a
// non-empty resource without whitespace.
func TestParseRequestTokenExchangeResource(t *testing.T) {
	var accepted []string
	for _, resource := range []string{"/.default", "https://a\vb", "https://a\u00a0b", "https://a\u2003"} {
		for _, param := range []string{"resource", "audience"} {
			form := url.Values{
				"grant_type":         {GrantTokenExchange},
				"client_id":          {testClientID},
				"subject_token":      {fakeJWT},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
				param:                {resource},
			}
			got, err := ParseRequest(form)
			if err == nil {
				accepted = append(accepted, fmt.Sprintf("%s=%q → audience %q", param, resource, got.Audience))
				continue
			}
			if err.Code != 70011 {
				t.Errorf("%s=%q: Code = %d, want 70011", param, resource, err.Code)
			}
		}
	}
	if len(accepted) > 0 {
		t.Fatalf("token exchange accepts empty or whitespace audiences, want AADSTS70011: %s", strings.Join(accepted, "; "))
	}
}

// knownTokenExchangeAudienceBug reports the inputs that
// TestParseRequestTokenExchangeResource documents as a bug, so that the
// fuzz target keeps looking for other failures until it is fixed.
func knownTokenExchangeAudienceBug(form url.Values, r Request) bool {
	return r.Grant == GrantTokenExchange && form.Get("scope") == "" && !audienceOK(r.Audience)
}

func audienceOK(a string) bool {
	return a != "" && strings.IndexFunc(a, unicode.IsSpace) < 0
}

func FuzzParseRequest(f *testing.F) {
	f.Add("claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22CP1%22%5D%7D%7D%7D&client_assertion=" + fakeJWT +
		"%0A&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id=" + testClientID +
		"&client_info=1&grant_type=client_credentials&scope=https%3A%2F%2Fvault.localhost%3A8443%2F.default+openid+offline_access+profile")
	f.Add("grant_type=client_credentials&client_id=a&client_secret=b&scope=https://management.localhost//.default")
	f.Add("grant_type=client_credentials&client_id=a&client_secret=b&scope=openid")
	f.Add("grant_type=client_credentials&client_id=a&client_secret=b&client_assertion=c")
	f.Add("grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=a&subject_token=t&subject_token_type=urn:ietf:params:oauth:token-type:jwt&resource=https://x")
	f.Add("grant_type=" + url.QueryEscape(GrantTokenExchange) + "&client_id=a&subject_token=t&subject_token_type=urn:ietf:params:oauth:token-type:jwt&audience=x/.default")
	f.Add("grant_type=x&grant_type=client_credentials")
	f.Add("%zz&grant_type=client_credentials")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil && form == nil {
			return
		}
		// ParseQuery keeps what it could parse; feed that, too.
		r, perr := ParseRequest(form)
		if perr != nil {
			if perr.Code == 0 || perr.Err == "" || perr.Desc == "" {
				t.Fatalf("incomplete error %+v", perr)
			}
			if r != (Request{}) {
				t.Fatalf("request %+v returned with error %v", r, perr)
			}
			return
		}
		if knownTokenExchangeAudienceBug(form, r) {
			t.Fatal("see TestParseRequestTokenExchangeResource")
		}
		if !audienceOK(r.Audience) {
			t.Fatalf("accepted audience %q (empty or with whitespace) from %q", r.Audience, raw)
		}
		if r.ClientID == "" || r.ClientID != strings.TrimSpace(r.ClientID) {
			t.Fatalf("accepted client id %q", r.ClientID)
		}
		if (r.ClientSecret == "") == (r.Assertion == "") {
			t.Fatalf("want exactly one of secret and assertion: %+v", r)
		}
		if r.Assertion != strings.TrimSpace(r.Assertion) || len(r.Assertion) > maxAssertion {
			t.Fatalf("assertion not trimmed or too long: %q", r.Assertion)
		}
		if r.Grant != GrantClientCredentials && r.Grant != GrantTokenExchange {
			t.Fatalf("accepted grant %q", r.Grant)
		}
		if len(r.Audience) > maxScope || strings.IndexFunc(r.Audience, unprintable) >= 0 || !utf8.ValidString(r.Audience) {
			t.Fatalf("accepted audience %q: too long, unprintable or invalid UTF-8", r.Audience)
		}
	})
}

// TestParseRequestScopeText: scope, resource and audience parameters are
// bounded (maxScope bytes) and hold no control or formatting characters.
func TestParseRequestScopeText(t *testing.T) {
	cc := func(scope string) url.Values {
		return url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testClientID}, "client_secret": {"s"}, "scope": {scope}}
	}
	tx := func(k, v string) url.Values {
		return url.Values{"grant_type": {GrantTokenExchange}, "client_id": {testClientID}, "subject_token": {fakeJWT},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, k: {v}}
	}
	atLimit := "https://" + strings.Repeat("a", maxScope-len("https:///.default")) + "/.default"
	for _, ok := range []url.Values{cc(atLimit), cc("https://vault.localhost:8443/.default openid"), cc("https://日本.example/.default"), tx("resource", atLimit[:maxScope-len("/.default")])} {
		if _, err := ParseRequest(ok); err != nil {
			t.Errorf("ParseRequest(%.60q…) = %v", ok.Encode(), err)
		}
	}
	for _, bad := range []url.Values{
		cc(atLimit + "x"), cc(strings.Repeat("a", 20000) + "/.default"),
		cc("\u202ehttps://vault.localhost/.default"), cc("https://vault.localhost/.default\u200b"),
		cc("https://vault.localhost\x00/.default"), cc("https://vault.localhost/.default\x7f"),
		cc("https://vault.localhost/.default\nopenid"), cc("https://v\xffault.localhost/.default"),
		tx("resource", "https://x\u202e"), tx("resource", "https://"+strings.Repeat("a", maxScope)),
		tx("audience", "https://x\x1b[31m"), tx("scope", "https://x\u2066/.default"),
	} {
		_, err := ParseRequest(bad)
		if err == nil || err.Code != 70011 || err.Err != "invalid_scope" {
			t.Errorf("ParseRequest(%.60q…) = %v, want AADSTS70011 invalid_scope", bad.Encode(), err)
			continue
		}
		if len(err.Desc) > 300 || strings.ContainsFunc(err.Desc, unprintable) {
			t.Errorf("ParseRequest(%.60q…): description echoes the input: %.300q", bad.Encode(), err.Desc)
		}
	}
}

// FuzzResources checks that Known never panics, that a known resource is
// printable, and that the case of scheme and host and a trailing slash do
// not matter.
func FuzzResources(f *testing.F) {
	rs, err := NewResources("https://wif.example:8443", "vault.localhost", []string{"api://orders", "https://api.contoso.com/v1"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"https://management.azure.com/", "https://myvault.vault.localhost:8443", "https://wif.example:8443/", "api://orders",
		"https://api.contoso.com/v1/", "https://x.blob.core.windows.net", "https://a@b/", "https://[::1]:80", "\u202ehttps://vault.azure.net", "0b3c1a5e-4b6f-4c4e-9d51-3c1f4a2b7e10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		known := rs.Known(s)
		c, ok := canonicalResource(s)
		if known && !ok {
			t.Fatalf("Known(%q) without a canonical form", s)
		}
		if !ok {
			return
		}
		if c2, ok := canonicalResource(c); !ok || c2 != c {
			t.Fatalf("canonicalResource(%q) = %q, and of that %q, %v", s, c, c2, ok)
		}
		if rs.Known(c) != known {
			t.Fatalf("Known(%q) = %v but Known(canonical %q) = %v", s, known, c, !known)
		}
		if known && strings.ContainsFunc(s, unprintable) {
			t.Fatalf("Known(%q): unprintable", s)
		}
		if scheme, rest, found := strings.Cut(s, "://"); found && !strings.HasSuffix(s, "/") {
			variant := strings.ToUpper(scheme) + "://" + rest + "/"
			if rs.Known(variant) != known {
				t.Fatalf("Known(%q) = %v, Known(%q) = %v", s, known, variant, !known)
			}
		}
	})
}
