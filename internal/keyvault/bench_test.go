package keyvault_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGetSecret measures an authenticated GET of the latest version
// through ServeHTTP (vault lookup, cached token verification, RBAC with its
// store lookup, the secret read and unsealing, JSON), without the network.
func BenchmarkGetSecret(b *testing.B) {
	e := newEnv(b)
	tok := e.officer()
	e.set(tok, "bench", "a-secret-value-of-some-length-0123456789")
	req := httptest.NewRequest(http.MethodGet, vaultURL+"/secrets/bench/?api-version=2026-04-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	// Warm the verification cache.
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
