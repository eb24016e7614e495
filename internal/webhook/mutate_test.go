package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// goldenInput is testdata/<case>.input.json.
type goldenInput struct {
	Config struct {
		TenantID      string    `json:"tenantID"`
		AuthorityHost string    `json:"authorityHost"`
		Audience      string    `json:"audience"`
		CABundle      *CABundle `json:"caBundle"`
	} `json:"config"`
	ServiceAccount *corev1.ServiceAccount `json:"serviceAccount"`
	Pod            json.RawMessage        `json:"pod"`
}

func (in goldenInput) config() Config {
	return Config{TenantID: in.Config.TenantID, AuthorityHost: in.Config.AuthorityHost, Audience: in.Config.Audience, CABundle: in.Config.CABundle}
}

// goldenOutput is testdata/<case>.golden.json: the mutated pod and the JSON
// patch the handler sends, or the error.
type goldenOutput struct {
	Error string      `json:"error,omitempty"`
	Patch any         `json:"patch,omitempty"`
	Pod   *corev1.Pod `json:"pod,omitempty"`
}

func loadGoldenInputs(t testing.TB) map[string]goldenInput {
	t.Helper()
	files, err := filepath.Glob("testdata/*.input.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	out := make(map[string]goldenInput)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var in goldenInput
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := in.config().Validate(); err != nil {
			t.Fatalf("%s: config: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".input.json")] = in
	}
	return out
}

func decodePod(t testing.TB, raw []byte) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &pod); err != nil {
		t.Fatalf("decoding pod: %v", err)
	}
	return &pod
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// applyPatch applies a JSON patch with evanphx/json-patch, as the API server does.
func applyPatch(t testing.TB, raw []byte, ops any) []byte {
	t.Helper()
	pb, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(pb)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", pb, err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying patch %s: %v", pb, err)
	}
	return out
}

// viewOf is the handler's view of pod, decoded from its JSON as the
// handler decodes a review's object.
func viewOf(t testing.TB, pod *corev1.Pod) *podView {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var v podView
	if err := jsonv2.Unmarshal(raw, &v, decodeOptions); err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestMutateGolden(t *testing.T) {
	wantErr := map[string]error{
		"expiration-out-of-range":   ErrInvalidTokenExpiration,
		"expiration-not-integer":    ErrInvalidTokenExpiration,
		"proxy-sidecar-true":        ErrProxySidecarUnsupported,
		"proxy-sidecar-unparseable": ErrInvalidBool,
	}
	for name, in := range loadGoldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			pod := decodePod(t, in.Pod)
			got, err := Mutate(pod, in.ServiceAccount, in.config())

			var out goldenOutput
			if want := wantErr[name]; want != nil {
				if !errors.Is(err, want) {
					t.Fatalf("Mutate error = %v, want errors.Is %v", err, want)
				}
				if _, ok := errors.AsType[*AnnotationError](err); !ok {
					t.Fatalf("Mutate error %T is not an *AnnotationError", err)
				}
				out.Error = err.Error()
			} else {
				if err != nil {
					t.Fatalf("Mutate: %v", err)
				}
				ops, err := patchOps(viewOf(t, pod), got)
				if err != nil {
					t.Fatalf("patchOps: %v", err)
				}
				out.Pod, out.Patch = got, ops

				// The patch applied to the raw input yields the mutated pod.
				patched := decodePod(t, applyPatch(t, in.Pod, ops))
				patched.Namespace = got.Namespace
				if d := cmp.Diff(mustJSON(t, got), mustJSON(t, patched)); d != "" {
					t.Errorf("patched raw pod differs from Mutate's result (-mutate +patched):\n%s", d)
				}
			}

			gotBytes := []byte(mustJSON(t, out) + "\n")
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, gotBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(gotBytes)); d != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, d)
			}
		})
	}
}

// TestMutateIdempotentAndPure: for every golden case, Mutate leaves its
// inputs untouched and a second pass changes nothing (and yields no patch).
func TestMutateIdempotentAndPure(t *testing.T) {
	for name, in := range loadGoldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			pod := decodePod(t, in.Pod)
			podBefore, saBefore := mustJSON(t, pod), mustJSON(t, in.ServiceAccount)
			once, err := Mutate(pod, in.ServiceAccount, in.config())
			if d := cmp.Diff(podBefore, mustJSON(t, pod)); d != "" {
				t.Errorf("Mutate modified its pod (-before +after):\n%s", d)
			}
			if d := cmp.Diff(saBefore, mustJSON(t, in.ServiceAccount)); d != "" {
				t.Errorf("Mutate modified the service account (-before +after):\n%s", d)
			}
			if err != nil {
				return // error cases: purity checked above
			}
			if once == pod || (len(pod.Spec.Containers) > 0 && &once.Spec.Containers[0] == &pod.Spec.Containers[0]) {
				t.Fatal("Mutate returned (part of) its input instead of a copy")
			}
			twice, err := Mutate(once, in.ServiceAccount, in.config())
			if err != nil {
				t.Fatalf("second Mutate: %v", err)
			}
			if d := cmp.Diff(mustJSON(t, once), mustJSON(t, twice)); d != "" {
				t.Errorf("Mutate is not idempotent (-once +twice):\n%s", d)
			}
			ops, err := patchOps(viewOf(t, once), twice)
			if err != nil || len(ops) != 0 {
				t.Errorf("second pass patch = %v, %v; want none", ops, err)
			}
		})
	}
}

// TestMutateContract spells out the contract on a small pod, independently
// of the golden files (which -update could silently bless).
func TestMutateContract(t *testing.T) {
	cfg := Config{TenantID: "tenant-default", AuthorityHost: "https://wif.example/"}
	sa := &corev1.ServiceAccount{}
	sa.Annotations = map[string]string{AnnotationClientID: "client-1"}
	envOf := func(c corev1.Container) map[string]string {
		m := make(map[string]string)
		for _, e := range c.Env {
			m[e.Name] = e.Value
		}
		return m
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}, {Name: "skipped-init"}},
		Containers:     []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: EnvAuthorityHost, Value: "https://mine/"}}}, {Name: "skipped"}},
	}}
	pod.Annotations = map[string]string{AnnotationSkipContainers: " skipped ;skipped-init"}
	got, err := Mutate(pod, sa, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		EnvClientID: "client-1", EnvTenantID: "tenant-default",
		EnvFederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token", EnvAuthorityHost: "https://wif.example/",
	}
	if d := cmp.Diff(wantEnv, envOf(got.Spec.InitContainers[0])); d != "" {
		t.Errorf("init container env (-want +got):\n%s", d)
	}
	wantEnv[EnvAuthorityHost] = "https://mine/"
	if d := cmp.Diff(wantEnv, envOf(got.Spec.Containers[0])); d != "" {
		t.Errorf("container env (-want +got):\n%s", d)
	}
	for _, c := range []corev1.Container{got.Spec.InitContainers[1], got.Spec.Containers[1]} {
		if len(c.Env) != 0 || len(c.VolumeMounts) != 0 {
			t.Errorf("skipped container %q was mutated: %+v", c.Name, c)
		}
	}
	wantMount := []corev1.VolumeMount{{Name: "azure-identity-token", MountPath: "/var/run/secrets/azure/tokens", ReadOnly: true}}
	if d := cmp.Diff(wantMount, got.Spec.Containers[0].VolumeMounts); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
	if len(got.Spec.Volumes) != 1 {
		t.Fatalf("volumes = %d, want 1", len(got.Spec.Volumes))
	}
	tok := got.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken
	if tok.Path != "azure-identity-token" || *tok.ExpirationSeconds != 3600 || tok.Audience != "api://AzureADTokenExchange" {
		t.Errorf("token projection = %+v", tok)
	}
}

func TestMutateExpiration(t *testing.T) {
	cfg := Config{TenantID: "t", AuthorityHost: "https://wif.example/"}
	tests := []struct {
		name        string
		pod, sa     string // annotation values; "-" means absent
		want        int64
		wantErr     error
		wantMessage string
	}{
		{name: "default", pod: "-", sa: "-", want: 3600},
		{name: "sa", pod: "-", sa: "4000", want: 4000},
		{name: "pod wins", pod: "86400", sa: "4000", want: 86400},
		{name: "lower bound", pod: "3600", sa: "-", want: 3600},
		{name: "below", pod: "3599", sa: "-", wantErr: ErrInvalidTokenExpiration, wantMessage: "token expiration 3599 not valid. Expected value to be between 3600 and 86400"},
		{name: "above on sa", pod: "-", sa: "86401", wantErr: ErrInvalidTokenExpiration, wantMessage: "token expiration 86401 not valid. Expected value to be between 3600 and 86400"},
		{name: "pod invalid even if sa valid", pod: "abc", sa: "7200", wantErr: ErrInvalidTokenExpiration},
		{name: "pod present but empty", pod: "", sa: "7200", wantErr: ErrInvalidTokenExpiration},
		{name: "duration syntax", pod: "-", sa: "1h", wantErr: ErrInvalidTokenExpiration},
		{name: "overflow", pod: "99999999999999999999", sa: "-", wantErr: ErrInvalidTokenExpiration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
			sa := &corev1.ServiceAccount{}
			if tt.pod != "-" {
				pod.Annotations = map[string]string{AnnotationTokenExpiration: tt.pod}
			}
			if tt.sa != "-" {
				sa.Annotations = map[string]string{AnnotationTokenExpiration: tt.sa}
			}
			got, err := Mutate(pod, sa, cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if tt.wantMessage != "" && !strings.Contains(err.Error(), tt.wantMessage) {
					t.Errorf("message %q lacks upstream text %q", err, tt.wantMessage)
				}
				return
			}
			if e := *got.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds; e != tt.want {
				t.Errorf("expirationSeconds = %d, want %d", e, tt.want)
			}
		})
	}
}

func TestMutateProxySidecarAnnotation(t *testing.T) {
	cfg := Config{TenantID: "t", AuthorityHost: "https://wif.example/"}
	for _, tt := range []struct {
		value   string
		wantErr error
	}{
		{"false", nil}, {"False", nil}, {"0", nil},
		{"true", ErrProxySidecarUnsupported}, {"TRUE", ErrProxySidecarUnsupported}, {"1", ErrProxySidecarUnsupported},
		{"", ErrInvalidBool}, {"yes", ErrInvalidBool}, {" true", ErrInvalidBool},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
		pod.Annotations = map[string]string{AnnotationInjectProxySidecar: tt.value}
		got, err := Mutate(pod, nil, cfg)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%q: err = %v, want %v", tt.value, err, tt.wantErr)
			continue
		}
		if err == nil && len(got.Spec.Containers) != 1 {
			t.Errorf("%q: containers = %d; wif must not inject a proxy", tt.value, len(got.Spec.Containers))
		}
	}
}

func TestMutateNilPod(t *testing.T) {
	if _, err := Mutate(nil, nil, Config{}); err == nil {
		t.Fatal("Mutate(nil) succeeded")
	}
}

// FuzzMutate: arbitrary pod JSON and annotations never panic; Mutate is
// pure and idempotent; the handler's patch, applied to the pod's JSON,
// reproduces Mutate's result.
func FuzzMutate(f *testing.F) {
	for _, in := range loadGoldenInputs(f) {
		f.Add([]byte(in.Pod), "7200", "-", "app;x", "false", "client", "tenant", true)
	}
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","env":[{"name":"AZURE_CLIENT_ID"}]}],"volumes":[{"name":"azure-identity-token"}]}}`), "3600", "86400", ";", "-", "", "-", false)
	f.Fuzz(func(t *testing.T, podJSON []byte, podExp, saExp, skip, proxy, clientID, tenantID string, ca bool) {
		var pod corev1.Pod
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(podJSON, &pod); err != nil {
			return
		}
		for _, s := range []string{podExp, saExp, skip, proxy, clientID, tenantID} {
			if !utf8.ValidString(s) {
				return // the API server only ever sends valid UTF-8
			}
		}
		set := func(m *map[string]string, k, v string) {
			if v == "-" {
				return
			}
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[k] = v
		}
		set(&pod.Annotations, AnnotationTokenExpiration, podExp)
		set(&pod.Annotations, AnnotationSkipContainers, skip)
		set(&pod.Annotations, AnnotationInjectProxySidecar, proxy)
		sa := &corev1.ServiceAccount{}
		set(&sa.Annotations, AnnotationTokenExpiration, saExp)
		set(&sa.Annotations, AnnotationClientID, clientID)
		set(&sa.Annotations, AnnotationTenantID, tenantID)
		cfg := Config{TenantID: "t", AuthorityHost: "https://wif.example/"}
		if ca {
			cfg.CABundle = &CABundle{ConfigMapName: "wif-ca", Key: "ca.crt"}
		}

		raw, err := json.Marshal(&pod) // what the API server would send for this pod
		if err != nil {
			return // e.g. unrepresentable values; not Mutate's concern
		}
		once, err := Mutate(&pod, sa, cfg)
		after, _ := json.Marshal(&pod)
		if !bytes.Equal(raw, after) {
			t.Fatalf("Mutate modified its input")
		}
		if err != nil {
			if _, ok := errors.AsType[*AnnotationError](err); !ok {
				t.Fatalf("error %v is not an *AnnotationError", err)
			}
			return
		}
		twice, err := Mutate(once, sa, cfg)
		if err != nil {
			t.Fatalf("second Mutate: %v", err)
		}
		onceJSON, _ := json.Marshal(once)
		twiceJSON, _ := json.Marshal(twice)
		if !bytes.Equal(onceJSON, twiceJSON) {
			t.Fatalf("not idempotent:\n%s\n%s", onceJSON, twiceJSON)
		}
		ops, err := patchOps(viewOf(t, &pod), once)
		if err != nil {
			t.Fatalf("patchOps: %v", err)
		}
		for _, op := range ops {
			if op.Op != "add" {
				t.Fatalf("non-add op %+v", op)
			}
		}
		var patched corev1.Pod
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(applyPatch(t, raw, ops), &patched); err != nil {
			t.Fatal(err)
		}
		if patchedJSON, _ := json.Marshal(&patched); !bytes.Equal(onceJSON, patchedJSON) {
			t.Fatalf("patch does not reproduce Mutate:\nmutate %s\npatched %s", onceJSON, patchedJSON)
		}
	})
}
