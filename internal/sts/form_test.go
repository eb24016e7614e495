package sts

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// post builds a token request with body and query.
func post(body, query string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/"+testTenant+"/oauth2/v2.0/token", strings.NewReader(body))
	r.URL.RawQuery = query
	r.Header.Set("Content-Type", formType)
	return r
}

func TestReadForm(t *testing.T) {
	const id = "4f1c1b1e-3a7e-4a53-9a3e-7f3c1d2e5b6a"
	form, err := readForm(httptest.NewRecorder(), post("a=1&&b=x+y%2Fz&client-request-id="+id+"&c&=e", "b=query&client-request-id="+id))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"a": {"1"}, "b": {"x y/z", "query"}, "c": {""}, "": {"e"}, "client-request-id": {id, id}}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("readForm (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ name, body, query string }{
		{"bad escape", "a=%zz", ""},
		{"bad escape in the name", "a%=1", ""},
		{"semicolon", "a=1;b=2", ""},
		{"bad escape in the query", "a=1", "b=%"},
		{"decisive parameter twice", "grant_type=client_credentials&grant_type=x", ""},
		{"decisive parameter twice with one value", "scope=a&scope=a", ""},
		{"decisive parameter in body and query", "client_id=a", "client_id=a"},
		{"decisive parameter twice in the query", "", "client_assertion=a&client_assertion=b"},
		{"body over the bound", "a=" + strings.Repeat("x", maxBody), ""},
		{"too many parameters", "a=1" + strings.Repeat("&p=1", maxParams/2), strings.Repeat("q=1&", maxParams/2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, err := readForm(httptest.NewRecorder(), post(tc.body, tc.query))
			if err == nil || err.Code != 90023 || err.Err != "invalid_request" {
				t.Fatalf("readForm = %v, %v; want AADSTS90023 invalid_request", form, err)
			}
			if len(err.Desc) > 300 {
				t.Errorf("description echoes the input: %.300q", err.Desc)
			}
		})
	}

	if _, err := readForm(httptest.NewRecorder(), post("a=1"+strings.Repeat("&p=1", maxParams/2-1), strings.Repeat("q=1&", maxParams/2-1)+"q=1")); err != nil {
		t.Errorf("%d parameters: %v", maxParams, err)
	}

	r := post("grant_type=x", "")
	r.Header.Set("Content-Type", "application/json")
	if _, err := readForm(httptest.NewRecorder(), r); err == nil || err.Code != 90023 {
		t.Errorf("JSON body: %v, want AADSTS90023", err)
	}
	r = post("grant_type=x", "")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if form, err := readForm(httptest.NewRecorder(), r); err != nil || form.Get("grant_type") != "x" {
		t.Errorf("form with charset: %v, %v", form, err)
	}
	r = post("grant_type=x", "")
	r.Header.Del("Content-Type")
	if form, err := readForm(httptest.NewRecorder(), r); err != nil || form.Get("grant_type") != "x" {
		t.Errorf("no Content-Type: %v, %v", form, err)
	}
}

// FuzzReadForm parses a body and a query string as the token endpoint
// does, and then the request: what is accepted is url.ParseQuery's reading
// of body and query, every decisive parameter at most once, and a request
// whose fields come from those single values.
func FuzzReadForm(f *testing.F) {
	f.Add("claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22CP1%22%5D%7D%7D%7D&client_assertion="+fakeJWT+
		"%0A&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id="+testClientID+
		"&client_info=1&grant_type=client_credentials&scope=https%3A%2F%2Fvault.localhost%3A8443%2F.default+openid+offline_access+profile", "")
	f.Add("client_id="+testClientID+"&scope=https%3A%2F%2Fvault.localhost%2F.default&grant_type=client_credentials&client-request-id=x&client_secret=s",
		"client-request-id=x")
	f.Add("grant_type="+url.QueryEscape(GrantTokenExchange)+"&client_id=a&subject_token=t&subject_token_type=urn:ietf:params:oauth:token-type:jwt", "resource=https://x")
	f.Add("grant_type=client_credentials&grant_type=client_credentials", "")
	f.Add("a=%zz;b", "client_id=a&client_id=b")
	f.Fuzz(func(t *testing.T, body, query string) {
		form, err := readForm(httptest.NewRecorder(), post(body, query))
		if err != nil {
			if err.Code != 90023 || err.Err != "invalid_request" || err.Desc == "" {
				t.Fatalf("readForm error %+v", err)
			}
			return
		}
		want, werr := url.ParseQuery(body)
		q, qerr := url.ParseQuery(query)
		if werr != nil || qerr != nil || len(body) > maxBody || pairs(body)+pairs(query) > maxParams {
			t.Fatalf("readForm accepted body %q, query %q (url.ParseQuery: %v, %v)", body, query, werr, qerr)
		}
		for name, vs := range q {
			want[name] = append(want[name], vs...)
		}
		if diff := cmp.Diff(want, form); diff != "" {
			t.Fatalf("readForm differs from url.ParseQuery (-want +got):\n%s", diff)
		}
		for name := range decisive {
			if len(form[name]) > 1 {
				t.Fatalf("accepted %q %d times", name, len(form[name]))
			}
		}
		r, perr := ParseRequest(form)
		if perr != nil {
			return
		}
		if r.ClientID != strings.TrimSpace(form.Get("client_id")) || r.Grant != form.Get("grant_type") {
			t.Fatalf("request %+v does not come from form %v", r, form)
		}
		if a := r.Assertion; a != "" && a != strings.TrimSpace(form.Get("client_assertion")) && a != strings.TrimSpace(form.Get("subject_token")) {
			t.Fatalf("assertion %q does not come from form %v", a, form)
		}
	})
}
