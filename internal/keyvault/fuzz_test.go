package keyvault_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzSetBody sends arbitrary bodies to PUT /secrets/{name} through the
// handler: never a 5xx, always Key Vault's error shape on failure, and on
// success the value reads back exactly.
func FuzzSetBody(f *testing.F) {
	for _, s := range []string{
		`{"value":"v"}`, `{"value":"v","attributes":{}}`, `{"value":"","contentType":"c","tags":{"a":"b"}}`,
		`{"value":"v","attributes":{"enabled":false,"nbf":1,"exp":253402300799}}`, `{"value":`, `null`, `[]`, ``,
		`{"value":"\u0000\ud800"}`, `{"value":"v","tags":{"":"x"}}`, `{"value":"v","attributes":{"exp":1e3}}`,
		`{"value":"v"} x`, `{"value":"v","tags":null,"attributes":null,"contentType":null}`,
	} {
		f.Add(s)
	}
	e := newEnv(f)
	tok := e.officer()
	e.clock.Advance(time.Minute)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPut, vaultURL+"/secrets/fuzz"+apiQuery, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		switch {
		case r.status >= 500:
			t.Fatalf("%d %s", r.status, r.body)
		case r.status == http.StatusOK:
			var in struct{ Value string }
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatalf("accepted a body encoding/json rejects: %v", err)
			}
			got := r.bundle(t)
			if got.Value == nil || *got.Value != in.Value || len(in.Value) > 25600 {
				t.Fatalf("value %q came back as %v", in.Value, got.Value)
			}
			if !utf8.Valid(r.body) {
				t.Fatal("response is not UTF-8")
			}
		case r.code() == "" || r.status != http.StatusBadRequest:
			t.Fatalf("failure without Key Vault's error shape or not 400: %d %s", r.status, r.body)
		}
	})
}
