package keyvault

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRoute(t *testing.T) {
	v := "0123456789abcdef0123456789ABCDEF"
	lv := strings.ToLower(v)
	for _, tc := range []struct {
		method, path string
		want         route
		status       int // 0: success
	}{
		{"GET", "/secrets", route{op: opList}, 0},
		{"GET", "/secrets/", route{op: opList}, 0},
		{"GET", "/Secrets", route{op: opList}, 0},
		{"PUT", "/secrets/My-Secret1", route{op: opSet, name: "My-Secret1"}, 0},
		{"GET", "/secrets/s", route{op: opGet, name: "s"}, 0},
		{"GET", "/secrets/s/", route{op: opGet, name: "s"}, 0},
		{"PATCH", "/secrets/s/", route{op: opUpdate, name: "s"}, 0},
		{"PATCH", "/secrets/s", route{op: opUpdate, name: "s"}, 0},
		{"DELETE", "/secrets/s", route{op: opDelete, name: "s"}, 0},
		{"GET", "/secrets/s/" + v, route{op: opGet, name: "s", version: lv}, 0},
		{"PATCH", "/secrets/s/" + v, route{op: opUpdate, name: "s", version: lv}, 0},
		{"GET", "/secrets/s/versions", route{op: opVersions, name: "s"}, 0},
		{"GET", "/secrets/s/versions/", route{op: opVersions, name: "s"}, 0},
		{"POST", "/secrets/s/backup", route{op: opBackup, name: "s"}, 0},
		{"POST", "/secrets/restore", route{op: opRestore}, 0},
		{"PUT", "/secrets/restore", route{op: opSet, name: "restore"}, 0},
		{"GET", "/secrets/backup/", route{op: opGet, name: "backup"}, 0},
		{"GET", "/deletedsecrets", route{op: opListDeleted}, 0},
		{"GET", "/deletedsecrets/s", route{op: opGetDeleted, name: "s"}, 0},
		{"DELETE", "/deletedsecrets/s", route{op: opPurge, name: "s"}, 0},
		{"POST", "/deletedsecrets/s/recover", route{op: opRecover, name: "s"}, 0},
		{"GET", "/secrets/%73", route{op: opGet, name: "s"}, 0},

		{"PUT", "/secrets/", route{}, 405},
		{"PUT", "/secrets/s/", route{}, 405},
		{"DELETE", "/secrets/s/", route{}, 405},
		{"PUT", "/secrets/s/" + v, route{}, 405},
		{"GET", "/secrets/s/backup", route{}, 405},
		{"GET", "/secrets/s/abc", route{}, 404},
		{"GET", "/secrets/s/" + v + "/", route{}, 404},
		{"GET", "/secrets/s/x/y", route{}, 404},
		{"GET", "/", route{}, 404},
		{"GET", "", route{}, 404},
		{"GET", "/keys/k", route{}, 404},
		{"GET", "/secrets/a%2Fb", route{}, 400},
		{"GET", "/secrets/a_b", route{}, 400},
		{"GET", "/secrets/%zz", route{}, 400},
		{"GET", "/deletedsecrets/a.b", route{}, 400},
		{"POST", "/deletedsecrets/s/recover/", route{}, 404},
	} {
		got, err := parseRoute(tc.method, tc.path)
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
		case tc.status == 0 && !cmp.Equal(got, tc.want, cmp.AllowUnexported(route{})):
			t.Errorf("%s %s = %+v, want %+v", tc.method, tc.path, got, tc.want)
		case tc.status != 0 && (err == nil || err.Status != tc.status):
			t.Errorf("%s %s: %+v %v, want status %d", tc.method, tc.path, got, err, tc.status)
		}
	}
}

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

func FuzzSecretName(f *testing.F) {
	for _, s := range []string{"", "a", "my-secret", "a_b", strings.Repeat("a", 127), strings.Repeat("a", 128), "é", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := ValidSecretName(name), nameRE.MatchString(name); got != want {
			t.Fatalf("ValidSecretName(%q) = %v, want %v", name, got, want)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/secrets", "/secrets/a/", "/secrets/a/0123456789abcdef0123456789abcdef", "/deletedsecrets/a/recover",
		"/secrets/restore", "/secrets/a%2Fb", "/secrets/%", "//", "/secrets/a/versions/"} {
		for _, m := range []string{"GET", "PUT", "POST", "PATCH", "DELETE"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r, err := parseRoute(method, path)
		if err != nil {
			if err.Code == "" || err.Status < 400 || err.Status >= 500 {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if r.op < opSet || r.op > opPurge {
			t.Fatalf("op %d", r.op)
		}
		needsName := r.op != opList && r.op != opListDeleted && r.op != opRestore
		if needsName != (r.name != "") || (r.name != "" && !ValidSecretName(r.name)) {
			t.Fatalf("%s %s: name %q for op %d", method, path, r.name, r.op)
		}
		if r.version != "" && (!validVersion(r.version) || r.version != strings.ToLower(r.version)) {
			t.Fatalf("version %q", r.version)
		}
		if method != http.MethodGet && method != http.MethodPut && method != http.MethodPost && method != http.MethodPatch && method != http.MethodDelete {
			t.Fatalf("method %q routed", method)
		}
	})
}

func TestParseSetBody(t *testing.T) {
	p, err := parseSetBody([]byte(`{"value":"v","contentType":"c","attributes":{"enabled":false,"nbf":10,"exp":20,"created":5},"tags":{"a":"b","n":null},"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Value != "v" || p.ContentType != "c" || p.Enabled || p.NotBefore.Unix() != 10 || p.Expires.Unix() != 20 ||
		!cmp.Equal(p.Tags, map[string]string{"a": "b", "n": ""}) {
		t.Errorf("parsed %+v", p)
	}
	if p, err := parseSetBody([]byte(`{"value":""}`)); err != nil || !p.Enabled || p.Tags != nil || !p.Expires.IsZero() {
		t.Errorf("defaults: %+v %v", p, err)
	}
	u, err := parseUpdateBody([]byte(`{"tags":{}}`))
	if err != nil || !u.SetTags || len(u.Tags) != 0 || u.Enabled != nil {
		t.Errorf("update with empty tags: %+v %v", u, err)
	}
	if u, err := parseUpdateBody([]byte(`{}`)); err != nil || u.SetTags || u.ContentType != nil {
		t.Errorf("empty update: %+v %v", u, err)
	}
	for _, bad := range []string{``, `{`, `{"value":"v"}x`, `{"value":2}`, `{}`, `{"value":"v","attributes":{"exp":"1"}}`,
		`{"value":"v","contentType":"` + strings.Repeat("c", 256) + `"}`, `{"value":"v","tags":{"k":"` + strings.Repeat("v", 257) + `"}}`,
		`{"value":"v","attributes":{"nbf":253402300800}}`} {
		if _, err := parseSetBody([]byte(bad)); err == nil || err.Code != CodeBadParameter {
			t.Errorf("parseSetBody(%.40q) = %v, want BadParameter", bad, err)
		}
	}
}
