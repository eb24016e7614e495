package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// TestViewDecodeGivesSamePatch: the handler decodes only the fields Mutate
// reads (podView); for every golden pod that must yield the same mutation
// result and patch as decoding a whole corev1.Pod.
func TestViewDecodeGivesSamePatch(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.input.json")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, path := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".input.json"), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var in goldenInput
			if err := json.Unmarshal(b, &in); err != nil {
				t.Fatal(err)
			}
			var full corev1.Pod
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(in.Pod, &full); err != nil {
				t.Fatal(err)
			}
			var view podView
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(in.Pod, &view); err != nil {
				t.Fatal(err)
			}
			slim := view.pod(full.Namespace)
			patchOf := func(p *corev1.Pod) (string, string) {
				m, err := Mutate(p, in.ServiceAccount, in.config())
				if err != nil {
					return "", err.Error()
				}
				ops, err := patchOps(p, m)
				if err != nil {
					t.Fatal(err)
				}
				j, _ := json.Marshal(ops)
				return string(j), ""
			}
			fullPatch, fullErr := patchOf(&full)
			slimPatch, slimErr := patchOf(slim)
			if diff := cmp.Diff(fullErr, slimErr); diff != "" {
				t.Errorf("errors differ (-full +view):\n%s", diff)
			}
			if diff := cmp.Diff(fullPatch, slimPatch); diff != "" {
				t.Errorf("patches differ (-full +view):\n%s", diff)
			}
		})
	}
}
