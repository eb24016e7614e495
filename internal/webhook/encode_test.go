package webhook

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEncodeReviewMatchesEncodingJSON: the hand-written fast path says the
// same as encoding/json.
func TestEncodeReviewMatchesEncodingJSON(t *testing.T) {
	pt := admissionv1.PatchTypeJSONPatch
	for _, resp := range []admissionv1.AdmissionResponse{
		{UID: "a-b\"c", Allowed: true},
		{UID: "<\u2028\x01é\\>", Allowed: true},
		{UID: "u1", Allowed: true, Patch: []byte(`[{"op":"add","path":"/x","value":1}]`), PatchType: &pt},
		{UID: "u2", Allowed: false, Result: &metav1.Status{Code: 403, Message: "no"}},
	} {
		for _, v := range []string{reviewV1, reviewV1beta1} {
			const before = "kept:"
			got, err := encodeReview([]byte(before), v, &resp)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := bytes.CutPrefix(got, []byte(before))
			if !ok {
				t.Fatalf("encodeReview did not append to its buffer: %s", got)
			}
			want, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: v, Kind: "AdmissionReview"}, Response: &resp})
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("fast path is not JSON: %s", got)
			}
			json.Unmarshal(want, &w)
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("encodeReview(%s) (-encoding/json +fast):\n%s", v, diff)
			}
		}
	}
}
