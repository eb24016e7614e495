package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wifproject/wif/internal/webhook"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mapSAs is an in-memory webhook.ServiceAccountGetter holding a population,
// shaped like the informer's slimmed objects.
type mapSAs map[string]*corev1.ServiceAccount

func newMapSAs(pop population) mapSAs {
	m := make(mapSAs, pop.Count)
	for i := range pop.Count {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Namespace: pop.namespace(i), Name: pop.name(i),
			Labels:      map[string]string{"app.kubernetes.io/part-of": "whload"},
			Annotations: map[string]string{annotationClientID: pop.clientID(i)},
		}}
		m[sa.Namespace+"/"+sa.Name] = sa
	}
	return m
}

// Cached makes mapSAs a cache, as the webhook's informer is: the handler
// reads it first.
func (m mapSAs) Cached(ns, name string) (*corev1.ServiceAccount, bool) {
	sa, ok := m[ns+"/"+name]
	return sa, ok
}

func (m mapSAs) Get(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := m.Cached(ns, name); ok {
		return sa, nil
	}
	return nil, fmt.Errorf("map: %s/%s: %w", ns, name, webhook.ErrServiceAccountNotFound)
}

var benchPop = population{Prefix: "whload", Namespaces: 100, Count: 10000}

// newHandler is the handler as "wif webhook" wires it: JSON logs (here
// discarded, so the encoding cost stays in the profile) and metrics.
func newHandler(t testing.TB, sas webhook.ServiceAccountGetter) http.Handler {
	t.Helper()
	m, err := webhook.NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := webhook.Config{TenantID: "00000000-0000-4000-8000-00000000beef", AuthorityHost: "https://wif.example:8443/"}
	return webhook.NewHandler(cfg, sas, slog.New(slog.NewJSONHandler(io.Discard, nil)), m)
}

func serve(h http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, pathMutate+"?timeout=10s", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestReviewsArePatched checks that the generator's reviews are what the
// benchmark claims: each is a labelled pod CREATE the real handler
// patches, and check accepts exactly the right answer.
func TestReviewsArePatched(t *testing.T) {
	pop := population{Prefix: "t", Namespaces: 7, Count: 50}
	h := newHandler(t, newMapSAs(pop))
	rvs, err := buildReviews(pop, 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, rv := range rvs {
		if uids[rv.uid] {
			t.Fatalf("uid %s repeated", rv.uid)
		}
		uids[rv.uid] = true
		rec := serve(h, rv.body)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		if err := rv.check(rec.Body.Bytes()); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	// The answer to one review does not pass for another.
	rec := serve(h, rvs[0].body)
	other := rvs[1]
	other.uid = rvs[0].uid
	if other.clientID != rvs[0].clientID {
		if err := other.check(rec.Body.Bytes()); !errors.Is(err, errBadAnswer) {
			t.Errorf("check with another client id = %v, want errBadAnswer", err)
		}
	}
	if err := rvs[1].check(rec.Body.Bytes()); !errors.Is(err, errBadAnswer) {
		t.Errorf("check with another uid = %v, want errBadAnswer", err)
	}
}

func TestCheckRejects(t *testing.T) {
	rv := review{uid: "u1", clientID: "c1"}
	patch := func(s string) string {
		b, _ := json.Marshal([]byte(s))
		return string(b)
	}
	good := `[{"op":"add","path":"/spec/containers/0/env/-","value":{"name":"AZURE_CLIENT_ID","value":"c1"}},{"op":"add","path":"/spec/volumes/-","value":{"name":"azure-identity-token"}}]`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"good", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":` + patch(good) + `}}`, true},
		{"v1beta1", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":` + patch(good) + `}}`, false},
		{"denied", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":false,"status":{"code":403,"message":"no"}}}`, false},
		{"no patch", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true}}`, false},
		{"wrong uid", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u2","allowed":true,"patchType":"JSONPatch","patch":` + patch(good) + `}}`, false},
		{"wrong client", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":` + patch(strings.Replace(good, `"c1"`, `"c2"`, 1)) + `}}`, false},
		{"patch not array", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":` + patch(`{"a":1}`) + `}}`, false},
		{"garbage", `<html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rv.check([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("check = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, errBadAnswer) {
				t.Fatalf("check = %v, want errBadAnswer", err)
			}
		})
	}
}

// BenchmarkHandler is the webhook's per-review CPU cost without TLS or
// HTTP/2: decode, look up (a map in place of the informer), Mutate, patch,
// encode, log, metrics. Profile it with
//
//	go test ./test/load/whload -run '^$' -bench Handler -cpuprofile /tmp/wh.cpu -benchmem
//	go tool pprof -top /tmp/wh.cpu
func BenchmarkHandler(b *testing.B) {
	h := newHandler(b, newMapSAs(benchPop))
	rvs, err := buildReviews(benchPop, 1024, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rec := serve(h, rvs[n%len(rvs)].body)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d", rec.Code)
		}
		n++
	}
}

// FuzzCheck: check never panics, and every rejection wraps errBadAnswer.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":"W10="}}`))
	f.Add([]byte(`{"response":null}`))
	f.Add([]byte(`[`))
	rv := review{uid: "u1", clientID: "c1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := rv.check(body); err != nil && !errors.Is(err, errBadAnswer) {
			t.Fatalf("check = %v, want errBadAnswer", err)
		}
	})
}

func TestReadH2loadLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h2load.log")
	if err := os.WriteFile(path, []byte("1796273013548879\t200\t1623\n1796273013548885\t500\t92\n1796273013548886\t0\t7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lats, errs, err := readH2loadLog(path)
	if err != nil || len(lats) != 1 || lats[0] != 1623*time.Microsecond || len(errs) != 1 || errs[0] != "HTTP 500" {
		t.Errorf("readH2loadLog = %v, %q, %v; want [1.623ms], [HTTP 500]", lats, errs, err)
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readH2loadLog(path); err == nil {
		t.Error("a malformed line was accepted")
	}
}

// TestCheckPatched: an h2load phase gains errors unless the webhook
// patched as many reviews as the phase had successful answers, plus at
// most the concurrency (in flight when h2load stopped).
func TestCheckPatched(t *testing.T) {
	for _, tc := range []struct {
		requests, errors int
		patched          float64
		wantErrors       int
	}{
		{requests: 100, errors: 0, patched: 100, wantErrors: 0},
		{requests: 100, errors: 2, patched: 98, wantErrors: 2},
		{requests: 100, errors: 0, patched: 108, wantErrors: 0}, // 8 in flight at the end
		{requests: 100, errors: 0, patched: 90, wantErrors: 10}, // answered 200 without a patch
		{requests: 100, errors: 0, patched: 109, wantErrors: 1}, // more than were sent
	} {
		p := Phase{Requests: tc.requests, Errors: tc.errors, Concurrency: 8}
		checkPatched(&p, tc.patched)
		if p.Errors != tc.wantErrors {
			t.Errorf("%d requests, %d errors, %.0f patched: errors = %d, want %d", tc.requests, tc.errors, tc.patched, p.Errors, tc.wantErrors)
		}
		if (p.Errors != tc.errors) != (len(p.ErrorSamples) > 0) {
			t.Errorf("%d requests, %.0f patched: error samples %q", tc.requests, tc.patched, p.ErrorSamples)
		}
	}
}
