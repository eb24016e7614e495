package webhook

import (
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
)

// walkAgrees fails t if walkReview decodes body differently from
// jsonv2.Unmarshal, and reports whether the walk took it.
func walkAgrees(t *testing.T, body []byte) bool {
	t.Helper()
	got, err := walkReview(body)
	if err != nil {
		return false
	}
	var want reviewEnvelope
	if err := jsonv2.Unmarshal(body, &want, decodeOptions); err != nil {
		t.Fatalf("walkReview accepted what jsonv2 rejects (%v): %q", err, body)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(requestView{})); diff != "" {
		t.Fatalf("walkReview differs from jsonv2 (-jsonv2 +walk) on %q:\n%s", body, diff)
	}
	return true
}

// walkSeeds are reviews in and around the shape the walk handles.
func walkSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		reviewJSON(t, reviewV1, admissionv1.Create, "apps", labelledPod),
		reviewJSON(t, reviewV1beta1, admissionv1.Update, "", `{"metadata":{"annotations":{"a":"x\"y\u003c","b":null,"a":"z"}},"spec":{"containers":[null,{"name":"c","env":[{"name":"E","value":"v"}],"volumeMounts":[{"name":"m","mountPath":"/p","readOnly":true}]}],"initContainers":[],"volumes":null}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"object":null}}`),
		[]byte(`{"request":null}`),
		[]byte(`null`),
		[]byte(`{"kind":"AdmissionReview","kind":"x"}`),
		[]byte(`{"k\u0069nd":"AdmissionReview"}`),
		[]byte(`{"request":{"object":{"spec":{"containers":{}}}}}`),
		[]byte(`{"request":{"uid":5}}`),
		[]byte(`{} {}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1"`),
	}
	for _, in := range loadGoldenInputs(t) {
		seeds = append(seeds, reviewJSON(t, reviewV1, admissionv1.Create, "ns", string(in.Pod)))
	}
	return seeds
}

// TestWalkReview: the walk takes the API server's usual reviews (every
// golden pod among them) and agrees with jsonv2.Unmarshal on each; it
// leaves repeated or escaped names and wrongly typed values to jsonv2.
func TestWalkReview(t *testing.T) {
	for _, body := range walkSeeds(t) {
		took := walkAgrees(t, body)
		offPath := strings.Contains(string(body), `"kind":"x"`) || strings.Contains(string(body), `\u0069`) ||
			strings.Contains(string(body), `"containers":{}`) || strings.Contains(string(body), `"uid":5`) ||
			strings.HasSuffix(string(body), "{}") || !strings.HasSuffix(string(body), "}") && string(body) != "null"
		if took == offPath {
			t.Errorf("walkReview took %v, want %v: %.200s", took, !offPath, body)
		}
	}
}

// FuzzWalkReview: whenever walkReview succeeds, jsonv2.Unmarshal gives
// the same review.
func FuzzWalkReview(f *testing.F) {
	for _, body := range walkSeeds(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		walkAgrees(t, body)
	})
}

// BenchmarkDecodeReview: the walk against jsonv2.Unmarshal.
func BenchmarkDecodeReview(b *testing.B) {
	body := reviewJSON(b, reviewV1, admissionv1.Create, "apps", benchPod)
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := walkReview(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonv2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r reviewEnvelope
			if err := jsonv2.Unmarshal(body, &r, decodeOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
}
