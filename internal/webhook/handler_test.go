package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeSAs is an in-memory ServiceAccountGetter.
type fakeSAs struct {
	mu   sync.Mutex
	sas  map[string]*corev1.ServiceAccount // "namespace/name"
	err  error                             // returned by every Get when set
	gets []string
	ctxs []context.Context
	// quiet disables recording (fuzzing, benchmarks).
	quiet bool
}

func newFakeSAs(sas ...*corev1.ServiceAccount) *fakeSAs {
	f := &fakeSAs{sas: make(map[string]*corev1.ServiceAccount)}
	for _, sa := range sas {
		f.sas[sa.Namespace+"/"+sa.Name] = sa
	}
	return f
}

func (f *fakeSAs) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.quiet {
		f.gets = append(f.gets, namespace+"/"+name)
		f.ctxs = append(f.ctxs, ctx)
	}
	if f.err != nil {
		return nil, f.err
	}
	sa, ok := f.sas[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("fake: %s/%s: %w", namespace, name, ErrServiceAccountNotFound)
	}
	return sa, nil
}

// cachingSAs puts a cache in front of a fakeSAs, as InformerServiceAccounts
// has one.
type cachingSAs struct {
	*fakeSAs
	cache map[string]*corev1.ServiceAccount
}

func (c cachingSAs) Cached(namespace, name string) (*corev1.ServiceAccount, bool) {
	sa, ok := c.cache[namespace+"/"+name]
	return sa, ok
}

// TestHandlerReadsCacheFirst: a cached service account is used without a
// lookup; on a miss, Get runs with the API server's deadline.
func TestHandlerReadsCacheFirst(t *testing.T) {
	cached := testSA("apps", "workload", map[string]string{AnnotationClientID: "from-cache"})
	sas := cachingSAs{newFakeSAs(testSA("apps", "other", map[string]string{AnnotationClientID: "from-get"})),
		map[string]*corev1.ServiceAccount{"apps/workload": cached}}
	h := NewHandler(testConfig, sas, nil, nil)
	for _, tc := range []struct{ sa, want string }{{"workload", "from-cache"}, {"other", "from-get"}} {
		pod := strings.Replace(labelledPod, `"serviceAccountName":"workload"`, `"serviceAccountName":"`+tc.sa+`"`, 1)
		rec, review := post(t, h, PathMutate+"?timeout=10s", reviewJSON(t, reviewV1, admissionv1.Create, "apps", pod))
		if review == nil || !bytes.Contains(review.Response.Patch, []byte(tc.want)) {
			t.Errorf("%s: HTTP %d %s; want %s injected", tc.sa, rec.Code, rec.Body, tc.want)
		}
	}
	if len(sas.gets) != 1 || sas.gets[0] != "apps/other" {
		t.Fatalf("Get calls %v, want only the cache miss apps/other", sas.gets)
	}
	if _, ok := sas.ctxs[0].Deadline(); !ok {
		t.Error("the lookup on a miss has no deadline despite ?timeout=10s")
	}
}

// TestQueryTimeout: the scan reads ?timeout= as r.URL.Query() does.
func TestQueryTimeout(t *testing.T) {
	for q, want := range map[string]time.Duration{
		"timeout=10s": 10 * time.Second, "": 0, "timeout=": 0, "timeout=-1s": 0, "timeout=abc": 0,
		"a=b&timeout=1500ms&timeout=3s": 1500 * time.Millisecond, "timeout%3D2s": 0, "time%6Fut=2s": 2 * time.Second,
		"timeout=2s;x=y": 0, "x;y&timeout=2s": 2 * time.Second, "timeout": 0,
	} {
		if got := queryTimeout(q); got != want {
			t.Errorf("queryTimeout(%q) = %v, want %v", q, got, want)
		}
	}
}

// FuzzQueryTimeout: queryTimeout agrees with parsing the query into a map.
func FuzzQueryTimeout(f *testing.F) {
	for _, q := range []string{"timeout=10s", "a=1&timeout=5s", "timeout=1%30s", "timeout=+1s", "x;timeout=1s", "timeout=1s&timeout=2s", "timeout"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		want := time.Duration(0)
		u, _ := url.ParseQuery(q)
		if d, err := time.ParseDuration(u.Get("timeout")); err == nil && d > 0 {
			want = d
		}
		if got := queryTimeout(q); got != want {
			t.Fatalf("queryTimeout(%q) = %v, url.ParseQuery says %v", q, got, want)
		}
	})
}

var testConfig = Config{TenantID: "tenant-1", AuthorityHost: "https://wif.example:8443/"}

func testSA(ns, name string, ann map[string]string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann}}
}

const labelledPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-","labels":{"azure.workload.identity/use":"true"}},
"spec":{"serviceAccountName":"workload","containers":[{"name":"app","image":"app:1"}]}}`

// reviewJSON builds an AdmissionReview request body.
func reviewJSON(t testing.TB, apiVersion string, op admissionv1.Operation, namespace, rawPod string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": apiVersion,
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "705ab4f5-6393-11e8-b7cc-42010a800002",
			"kind":      map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": namespace,
			"operation": op,
			"userInfo":  map[string]any{"username": "system:serviceaccount:kube-system:replicaset-controller"},
			"object":    json.RawMessage(rawPod),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t testing.TB, h http.Handler, target string, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionReview) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatalf("decoding response %s: %v", rec.Body, err)
	}
	if review.Response == nil {
		t.Fatalf("response has no response: %s", rec.Body)
	}
	return rec, &review
}

type wirePatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func decodeOps(t testing.TB, patch []byte) []wirePatchOp {
	t.Helper()
	var ops []wirePatchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	return ops
}

func TestHandler(t *testing.T) {
	workload := testSA("apps", "workload", map[string]string{AnnotationClientID: "client-1"})
	tests := []struct {
		name       string
		getterErr  error
		body       []byte
		target     string
		wantHTTP   int
		wantAllow  bool
		wantCode   int32  // Result.Code when denied
		wantMsg    string // exact Result.Message when set
		wantMsgSub string
		wantPatch  bool
		wantAPIVer string
		wantGets   []string
	}{
		{
			name: "labelled pod is patched", body: reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod),
			wantHTTP: 200, wantAllow: true, wantPatch: true, wantAPIVer: reviewV1, wantGets: []string{"apps/workload"},
		},
		{
			name: "v1beta1 is answered in v1beta1", body: reviewJSON(t, reviewV1beta1, admissionv1.Create, "apps", labelledPod),
			wantHTTP: 200, wantAllow: true, wantPatch: true, wantAPIVer: reviewV1beta1, wantGets: []string{"apps/workload"},
		},
		{
			name: "service account missing is denied with a clear message", body: reviewJSON(t, reviewV1, admissionv1.Create, "other", labelledPod),
			wantHTTP: 200, wantCode: 403, wantMsg: `service account "workload" not found in namespace "other"`, wantAPIVer: reviewV1,
			wantGets: []string{"other/workload"},
		},
		{
			name:     "default service account when none named",
			body:     reviewJSON(t, reviewV1, admissionv1.Create, "apps", `{"spec":{"containers":[{"name":"a"}]}}`),
			wantHTTP: 200, wantCode: 403, wantMsg: `service account "default" not found in namespace "apps"`, wantAPIVer: reviewV1,
			wantGets: []string{"apps/default"},
		},
		{
			name: "transient lookup error is a 500, not a 400", getterErr: errors.New("etcdserver: request timed out"),
			body:     reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod),
			wantHTTP: 200, wantCode: 500, wantMsgSub: "etcdserver: request timed out", wantAPIVer: reviewV1, wantGets: []string{"apps/workload"},
		},
		{
			name: "bad expiration is denied with upstream's message",
			body: reviewJSON(t, reviewV1, admissionv1.Create, "apps",
				`{"metadata":{"annotations":{"azure.workload.identity/service-account-token-expiration":"100"}},"spec":{"serviceAccountName":"workload","containers":[{"name":"a"}]}}`),
			wantHTTP: 200, wantCode: 400, wantMsgSub: "token expiration 100 not valid. Expected value to be between 3600 and 86400",
			wantAPIVer: reviewV1, wantGets: []string{"apps/workload"},
		},
		{
			name: "proxy sidecar request is denied",
			body: reviewJSON(t, reviewV1, admissionv1.Create, "apps",
				`{"metadata":{"annotations":{"azure.workload.identity/inject-proxy-sidecar":"true"}},"spec":{"serviceAccountName":"workload","containers":[{"name":"a"}]}}`),
			wantHTTP: 200, wantCode: 400, wantMsgSub: "WorkloadIdentityCredential", wantAPIVer: reviewV1, wantGets: []string{"apps/workload"},
		},
		{
			name: "already injected pod is allowed without patch",
			body: reviewJSON(t, reviewV1, admissionv1.Create, "apps", `{"spec":{"serviceAccountName":"workload",
				"containers":[{"name":"a","env":[{"name":"AZURE_CLIENT_ID","value":"x"},{"name":"AZURE_TENANT_ID","value":"y"},{"name":"AZURE_FEDERATED_TOKEN_FILE","value":"z"},{"name":"AZURE_AUTHORITY_HOST","value":"w"}],
				"volumeMounts":[{"name":"azure-identity-token","mountPath":"/var/run/secrets/azure/tokens","readOnly":true}]}],
				"volumes":[{"name":"azure-identity-token","projected":{"sources":[]}}]}}`),
			wantHTTP: 200, wantAllow: true, wantAPIVer: reviewV1, wantGets: []string{"apps/workload"},
		},
		{
			name: "UPDATE is allowed untouched", body: reviewJSON(t, reviewV1, admissionv1.Update, "apps", labelledPod),
			wantHTTP: 200, wantAllow: true, wantAPIVer: reviewV1,
		},
		{
			name: "undecodable pod is denied 400", body: reviewJSON(t, reviewV1, admissionv1.Create, "apps", `{"spec":{"containers":"nope"}}`),
			wantHTTP: 200, wantCode: 400, wantMsgSub: "decoding pod", wantAPIVer: reviewV1,
		},
		{
			name: "object not shaped like a pod is fine when not a pod CREATE", body: reviewJSON(t, reviewV1, admissionv1.Update, "apps", `{"spec":{"containers":"nope"}}`),
			wantHTTP: 200, wantAllow: true, wantAPIVer: reviewV1,
		},
		{
			name: "an object failing deep inside is read past", body: reviewJSON(t, reviewV1, admissionv1.Update, "apps",
				`{"metadata":{"annotations":{"a":1}},"spec":{"containers":[{"name":"a","env":[{"name":{"x":[1,{}]}}]}],"volumes":[{"name":"v"}]}}`),
			wantHTTP: 200, wantAllow: true, wantAPIVer: reviewV1,
		},
		{name: "a malformed object is a malformed review", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{"spec":{"containers":[{]}},"uid":"u"}}`), wantHTTP: 400},
		{name: "bad JSON", body: []byte(`{"apiVersion":`), wantHTTP: 400},
		{name: "not an AdmissionReview", body: []byte(`{"apiVersion":"v1","kind":"Pod"}`), wantHTTP: 400},
		{name: "no request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantHTTP: 400},
		{name: "case-mismatched keys are not accepted", body: []byte(`{"APIVERSION":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x"}}`), wantHTTP: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sas := newFakeSAs(workload)
			sas.err = tt.getterErr
			h := NewHandler(testConfig, sas, nil, nil)
			target := tt.target
			if target == "" {
				target = PathMutate + "?timeout=10s"
			}
			rec, review := post(t, h, target, tt.body)
			if rec.Code != tt.wantHTTP {
				t.Fatalf("HTTP status = %d, want %d; body %s", rec.Code, tt.wantHTTP, rec.Body)
			}
			if d := cmp.Diff(tt.wantGets, sas.gets); d != "" {
				t.Errorf("service account lookups (-want +got):\n%s", d)
			}
			if review == nil {
				return
			}
			if review.APIVersion != tt.wantAPIVer || review.Kind != "AdmissionReview" {
				t.Errorf("answered %s %s, want %s AdmissionReview", review.APIVersion, review.Kind, tt.wantAPIVer)
			}
			resp := review.Response
			if resp.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" {
				t.Errorf("uid = %q, not echoed", resp.UID)
			}
			if resp.Allowed != tt.wantAllow {
				t.Fatalf("allowed = %v, want %v (result %+v)", resp.Allowed, tt.wantAllow, resp.Result)
			}
			if !tt.wantAllow {
				if resp.Result == nil || resp.Result.Code != tt.wantCode {
					t.Fatalf("result = %+v, want code %d", resp.Result, tt.wantCode)
				}
				if tt.wantMsg != "" && resp.Result.Message != tt.wantMsg {
					t.Errorf("message = %q, want %q", resp.Result.Message, tt.wantMsg)
				}
				if !strings.Contains(resp.Result.Message, tt.wantMsgSub) {
					t.Errorf("message = %q, want it to contain %q", resp.Result.Message, tt.wantMsgSub)
				}
			}
			if gotPatch := len(resp.Patch) > 0; gotPatch != tt.wantPatch {
				t.Fatalf("patch = %s, want patch %v", resp.Patch, tt.wantPatch)
			}
			if tt.wantPatch && (resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch) {
				t.Errorf("patchType = %v, want JSONPatch", resp.PatchType)
			}
			if len(sas.ctxs) > 0 {
				if _, ok := sas.ctxs[0].Deadline(); !ok {
					t.Error("lookup context has no deadline despite ?timeout=10s")
				}
			}
		})
	}
}

func TestHandlerMethodNotAllowed(t *testing.T) {
	h := NewHandler(testConfig, newFakeSAs(), nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMutate, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET status = %d, want 405", rec.Code)
	}
}

func TestHandlerBodyTooLarge(t *testing.T) {
	h := NewHandler(testConfig, newFakeSAs(), nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathMutate, io.LimitReader(zeros{}, maxBodyBytes+1)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", rec.Code)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestHandlerPatchAppliesAndPreservesUnknownFields: fields our k8s.io/api
// does not know (a future container field, or restartPolicy on an init
// container as seen by an older client) survive; the patch has only adds.
func TestHandlerPatchAppliesAndPreservesUnknownFields(t *testing.T) {
	rawPod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"apps","annotations":{"x":"y"}},
	"futureTopLevel":{"a":1},
	"spec":{"serviceAccountName":"workload","futureSpecField":[1,2,3],
	  "initContainers":[{"name":"native-sidecar","image":"s:1","restartPolicy":"Always","futureInitField":true}],
	  "containers":[{"name":"app","image":"a:1","fooBar":{"nested":"kept"},
	     "env":[{"name":"USER_VAR","value":"keep","futureEnvField":"kept"}],
	     "volumeMounts":[{"name":"data","mountPath":"/data","futureMountField":"kept"}]}],
	  "volumes":[{"name":"data","emptyDir":{},"futureVolumeField":"kept"}]}}`
	sas := newFakeSAs(testSA("apps", "workload", map[string]string{AnnotationClientID: "client-1"}))
	h := NewHandler(testConfig, sas, nil, nil)
	_, review := post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "apps", rawPod))
	if review == nil || !review.Response.Allowed {
		t.Fatalf("not allowed: %+v", review)
	}
	for _, op := range decodeOps(t, review.Response.Patch) {
		if op.Op != "add" {
			t.Errorf("patch has a %q op at %s; only adds are allowed", op.Op, op.Path)
		}
	}
	var ops any
	if err := json.Unmarshal(review.Response.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	patched := applyPatch(t, []byte(rawPod), ops)

	var got, orig map[string]any
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(rawPod), &orig); err != nil {
		t.Fatal(err)
	}
	// Everything in the original is still there, unchanged, apart from the appended list items.
	if diff := missingFrom(orig, got, ""); len(diff) > 0 {
		t.Errorf("patch lost or changed original content:\n%s", strings.Join(diff, "\n"))
	}
	spec := got["spec"].(map[string]any)
	app := spec["containers"].([]any)[0].(map[string]any)
	if len(app["env"].([]any)) != 5 || len(app["volumeMounts"].([]any)) != 2 {
		t.Errorf("app container not injected: %v", app)
	}
	sidecar := spec["initContainers"].([]any)[0].(map[string]any)
	if len(sidecar["env"].([]any)) != 4 || sidecar["restartPolicy"] != "Always" {
		t.Errorf("native sidecar not injected or lost restartPolicy: %v", sidecar)
	}
	if len(spec["volumes"].([]any)) != 2 {
		t.Errorf("volumes = %v", spec["volumes"])
	}
}

// missingFrom lists every value in want that got lacks or has changed;
// arrays in got may be longer (appends).
func missingFrom(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		var out []string
		for k, v := range w {
			out = append(out, missingFrom(v, g[k], path+"/"+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return []string{path + ": array lost items"}
		}
		var out []string
		for i := range w {
			out = append(out, missingFrom(w[i], g[i], fmt.Sprintf("%s/%d", path, i))...)
		}
		return out
	default:
		if !cmp.Equal(want, got) {
			return []string{fmt.Sprintf("%s: %v became %v", path, want, got)}
		}
		return nil
	}
}

// TestHandlerReinvocation: the API server re-sends the patched pod after
// another webhook added a sidecar; only that sidecar is patched.
func TestHandlerReinvocation(t *testing.T) {
	sas := newFakeSAs(testSA("apps", "workload", map[string]string{AnnotationClientID: "client-1"}))
	h := NewHandler(testConfig, sas, nil, nil)
	_, first := post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod))
	var ops any
	if err := json.Unmarshal(first.Response.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	pod := applyPatch(t, []byte(labelledPod), ops)

	// Another webhook appends a container.
	var m map[string]any
	if err := json.Unmarshal(pod, &m); err != nil {
		t.Fatal(err)
	}
	spec := m["spec"].(map[string]any)
	spec["containers"] = append(spec["containers"].([]any), map[string]any{"name": "late-sidecar", "image": "s:1"})
	pod, _ = json.Marshal(m)

	_, second := post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "apps", string(pod)))
	var paths []string
	for _, op := range decodeOps(t, second.Response.Patch) {
		paths = append(paths, op.Op+" "+op.Path)
	}
	want := []string{"add /spec/containers/1/env", "add /spec/containers/1/volumeMounts"}
	if d := cmp.Diff(want, paths); d != "" {
		t.Errorf("reinvocation patch (-want +got):\n%s", d)
	}

	// And a third pass on the fully patched pod changes nothing.
	if err := json.Unmarshal(second.Response.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	pod = applyPatch(t, pod, ops)
	_, third := post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "apps", string(pod)))
	if len(third.Response.Patch) != 0 || !third.Response.Allowed {
		t.Errorf("third pass: allowed=%v patch=%s", third.Response.Allowed, third.Response.Patch)
	}
}

// TestHandlerTemplatePodNamespace: pods from controllers carry no
// namespace; the request's namespace is used for the lookup.
func TestHandlerTemplatePodNamespace(t *testing.T) {
	sas := newFakeSAs(testSA("team-a", "workload", nil))
	h := NewHandler(testConfig, sas, nil, nil)
	_, review := post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "team-a", labelledPod))
	if !review.Response.Allowed {
		t.Fatalf("denied: %+v", review.Response.Result)
	}
	if d := cmp.Diff([]string{"team-a/workload"}, sas.gets); d != "" {
		t.Errorf("lookups (-want +got):\n%s", d)
	}
}

func TestHandlerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg, func() int { return 7 })
	if err != nil {
		t.Fatal(err)
	}
	sas := newFakeSAs(testSA("apps", "workload", nil))
	h := NewHandler(testConfig, sas, nil, m)
	post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod))
	post(t, h, PathMutate, reviewJSON(t, reviewV1, admissionv1.Create, "nowhere", labelledPod))
	post(t, h, PathMutate, []byte("{"))
	for outcome, want := range map[string]float64{outcomePatched: 1, outcomeDenied: 1, outcomeInvalid: 1, outcomeError: 0} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(outcome)); got != want {
			t.Errorf("requests{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency collectors = %d", n)
	}
	if err := testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP wif_webhook_cached_service_accounts Service accounts held in the informer cache.
# TYPE wif_webhook_cached_service_accounts gauge
wif_webhook_cached_service_accounts 7
`), "wif_webhook_cached_service_accounts"); err != nil {
		t.Error(err)
	}
	if _, err := NewMetrics(reg, nil); err == nil {
		t.Error("registering twice succeeded")
	}
}

// FuzzHandle: arbitrary bodies never panic and never produce a 5xx (HTTP
// or Result.Code), since this getter never fails.
func FuzzHandle(f *testing.F) {
	f.Add(reviewJSON(f, reviewV1, admissionv1.Create, "apps", labelledPod))
	f.Add(reviewJSON(f, reviewV1beta1, admissionv1.Create, "default", `{"spec":{"containers":[{"name":"a","env":null}],"volumes":null}}`))
	f.Add(reviewJSON(f, reviewV1, admissionv1.Create, "apps", `{"metadata":{"annotations":{"azure.workload.identity/skip-containers":"a"}},"spec":{"serviceAccountName":"workload","containers":[{"name":"a"},null]}}`))
	f.Add(reviewJSON(f, reviewV1, admissionv1.Delete, "apps", `null`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	sas := newFakeSAs(testSA("apps", "workload", map[string]string{AnnotationClientID: "c"}), testSA("default", "default", nil))
	sas.quiet = true
	h := NewHandler(testConfig, sas, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, PathMutate, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
			t.Fatalf("200 with an unusable body %q: %v", rec.Body, err)
		}
		if r := review.Response.Result; r != nil && r.Code >= 500 {
			t.Fatalf("Result.Code %d: %s", r.Code, r.Message)
		}
		if len(review.Response.Patch) > 0 {
			for _, op := range decodeOps(t, review.Response.Patch) {
				if op.Op != "add" {
					t.Fatalf("non-add op %+v", op)
				}
			}
		}
	})
}

// benchPod is a typical pod as a Deployment's ReplicaSet creates it.
const benchPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d9f8c-","labels":{"app":"web","azure.workload.identity/use":"true","pod-template-hash":"7d9f8c"},
	"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9f8c","uid":"6c3b1d1e-1c1e-4c8e-9d0e-111111111111","controller":true,"blockOwnerDeletion":true}]},
	"spec":{"serviceAccountName":"workload","containers":[{"name":"web","image":"example.com/web:1.2.3","ports":[{"containerPort":8080,"protocol":"TCP"}],
	"env":[{"name":"LOG_LEVEL","value":"info"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},
	"volumeMounts":[{"name":"kube-api-access-abcde","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],
	"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],
	"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler",
	"volumes":[{"name":"kube-api-access-abcde","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}]}}`

// BenchmarkHandle: the full ServeHTTP for a typical pod with a cached service account.
func BenchmarkHandle(b *testing.B) {
	pod := benchPod
	body := reviewJSON(b, reviewV1, admissionv1.Create, "apps", pod)
	sas := newFakeSAs(testSA("apps", "workload", map[string]string{AnnotationClientID: "client-1"}))
	sas.quiet = true
	m, err := NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler(testConfig, sas, nil, m)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, PathMutate+"?timeout=10s", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patchType":"JSONPatch"`)) {
			b.Fatalf("unexpected response %d %s", rec.Code, rec.Body)
		}
	}
}
