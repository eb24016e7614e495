package webhook

import (
	"encoding/json"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// TestViewDecodeGivesSamePatch: the handler decodes only the fields Mutate
// reads (podView, with encoding/json/v2's decoder); for every golden pod
// that must yield the same mutation result and patch as decoding a whole
// corev1.Pod the way the API machinery does.
func TestViewDecodeGivesSamePatch(t *testing.T) {
	for name, in := range loadGoldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			comparePatches(t, in.Pod, in.ServiceAccount, in.config(), true)
		})
	}
}

// comparePatches decodes raw as a whole corev1.Pod (sigs.k8s.io/json, as
// the API machinery) and as the handler's podView (encoding/json/v2) and
// fails if the two give different Mutate errors or patches. With strict
// false, input that either decoder rejects is skipped.
func comparePatches(t *testing.T, raw []byte, sa *corev1.ServiceAccount, cfg Config, strict bool) {
	t.Helper()
	var full corev1.Pod
	errFull := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &full)
	var view podView
	errView := jsonv2.Unmarshal(raw, &view, decodeOptions)
	if errFull != nil || errView != nil {
		if strict {
			t.Fatalf("decoding: full pod: %v; view: %v", errFull, errView)
		}
		return
	}
	patchOf := func(orig *podView, mutated *corev1.Pod, err error) (string, string) {
		if err != nil {
			return "", err.Error()
		}
		ops, err := patchOps(orig, mutated)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(ops)
		return string(j), ""
	}
	// The pure Mutate on the whole pod, against the handler's path: the
	// view's pod mutated in place.
	m, err := Mutate(&full, sa, cfg)
	fullPatch, fullErr := patchOf(viewOf(t, &full), m, err)
	p := view.pod(full.Namespace)
	slimPatch, slimErr := patchOf(&view, p, mutateInPlace(p, sa, cfg))
	if diff := cmp.Diff(fullErr, slimErr); diff != "" {
		t.Errorf("errors differ (-full +view):\n%s", diff)
	}
	if diff := cmp.Diff(fullPatch, slimPatch); diff != "" {
		t.Errorf("patches differ (-full +view):\n%s", diff)
	}
}

// FuzzViewDecode: whenever both decoders accept a pod, the view gives the
// same patch as the whole pod. (The v2 decoder is stricter: it rejects
// invalid UTF-8, which the API server never sends.)
func FuzzViewDecode(f *testing.F) {
	for _, in := range loadGoldenInputs(f) {
		f.Add([]byte(in.Pod))
	}
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","env":[{"name":"AZURE_CLIENT_ID"}]},null],"volumes":null}}`))
	sa := &corev1.ServiceAccount{}
	sa.Annotations = map[string]string{AnnotationClientID: "c"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		comparePatches(t, raw, sa, testConfig, false)
	})
}
