package webhook

import (
	"encoding/json"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// TestViewDecodeGivesSamePatch: the handler decodes only the fields Mutate
// reads (podView); for every golden pod
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
// the API machinery) and as the handler's podView (decode) and
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
	// Mutate on the whole pod, against the handler's path: Mutate on the
	// view's pod.
	m, err := Mutate(&full, sa, cfg)
	fullPatch, fullErr := patchOf(viewOf(t, &full), m, err)
	m, err = Mutate(view.pod(full.Namespace), sa, cfg)
	slimPatch, slimErr := patchOf(&view, m, err)
	if diff := cmp.Diff(fullErr, slimErr); diff != "" {
		t.Errorf("errors differ (-full +view):\n%s", diff)
	}
	if diff := cmp.Diff(fullPatch, slimPatch); diff != "" {
		t.Errorf("patches differ (-full +view):\n%s", diff)
	}
}

// FuzzViewDecode: whenever both decodes accept a pod, the view gives the
// same patch as the whole pod.
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

// FuzzPodObject: decoding request.object in the review's pass gives what
// decoding the object alone gives (the same view, or an error then), and
// the review's members after a failed object are still read.
func FuzzPodObject(f *testing.F) {
	for _, in := range loadGoldenInputs(f) {
		f.Add([]byte(in.Pod))
	}
	for _, s := range []string{`null`, `"x"`, `{"spec":{"containers":"nope"}}`, `{"metadata":{"annotations":{"a":1}},"spec":{"containers":[{"env":[{"name":{"x":[1,{}]}}]}]}}`, `[{}]`, `{"spec":{"volumes":[{"name":"a"},7]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !jsontext.Value(raw).IsValid(decodeOptions) {
			return // not one JSON value: spliced in, it could make a valid review of another shape
		}
		body := append(append([]byte(`{"request":{"object":`), raw...), `,"uid":"after"}}`...)
		var review reviewEnvelope
		if err := jsonv2.Unmarshal(body, &review, decodeOptions); err != nil {
			t.Fatalf("review with the valid object %q: %v", raw, err)
		}
		if review.Request.UID != "after" {
			t.Fatalf("uid after the object %q not read: %q", raw, review.Request.UID)
		}
		got := review.Request.Object
		if jsontext.Value(raw).Kind() == 'n' {
			if got.view != nil || got.err != nil {
				t.Fatalf("null object decoded as %+v, %v", got.view, got.err)
			}
			return
		}
		var want podView
		wantErr := jsonv2.Unmarshal(raw, &want, decodeOptions)
		if (wantErr == nil) != (got.err == nil) {
			t.Fatalf("object %q: in the review: %v; alone: %v", raw, got.err, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(&want, got.view); diff != "" {
				t.Fatalf("object %q (-alone +in the review):\n%s", raw, diff)
			}
		}
	})
}
