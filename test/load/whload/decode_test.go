package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// The benchmarks below compare the webhook's decoding (a typed
// AdmissionReview, then a typed corev1.Pod from request.object) with a
// decode of only the fields Handler and Mutate read, to size that fix; see
// docs/benchmarks.md ("Webhook").

// slimReview is the part of an AdmissionReview the handler reads, with
// the pod decoded in the same pass.
type slimReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID         string                       `json:"uid"`
		Kind        struct{ Group, Kind string } `json:"kind"`
		Namespace   string                       `json:"namespace"`
		Name        string                       `json:"name"`
		Operation   string                       `json:"operation"`
		SubResource string                       `json:"subResource"`
		Object      slimPod                      `json:"object"`
	} `json:"request"`
}

// slimPod is what Handler and Mutate read of a pod.
type slimPod struct {
	Metadata struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string          `json:"serviceAccountName"`
		ServiceAccount     string          `json:"serviceAccount"`
		InitContainers     []slimContainer `json:"initContainers"`
		Containers         []slimContainer `json:"containers"`
		Volumes            []struct {
			Name string `json:"name"`
		} `json:"volumes"`
	} `json:"spec"`
}

type slimContainer struct {
	Name string `json:"name"`
	Env  []struct {
		Name string `json:"name"`
	} `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

// pod turns the slim view into the corev1.Pod that Mutate takes.
func (s *slimPod) pod(namespace string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Namespace, p.Name, p.GenerateName, p.Annotations = namespace, s.Metadata.Name, s.Metadata.GenerateName, s.Metadata.Annotations
	p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount = s.Spec.ServiceAccountName, s.Spec.ServiceAccount
	conv := func(cs []slimContainer) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i].Name = c.Name
			for _, e := range c.Env {
				out[i].Env = append(out[i].Env, corev1.EnvVar{Name: e.Name})
			}
			for _, m := range c.VolumeMounts {
				out[i].VolumeMounts = append(out[i].VolumeMounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath})
			}
		}
		return out
	}
	p.Spec.InitContainers, p.Spec.Containers = conv(s.Spec.InitContainers), conv(s.Spec.Containers)
	for _, v := range s.Spec.Volumes {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v.Name})
	}
	return p
}

// decodeTyped is what Handler does today.
func decodeTyped(body []byte) (*corev1.Pod, error) {
	var review admissionv1.AdmissionReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(review.Request.Object.Raw, &pod); err != nil {
		return nil, err
	}
	pod.Namespace = review.Request.Namespace
	return &pod, nil
}

func decodeSlim(body []byte) (*corev1.Pod, error) {
	var review slimReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		return nil, err
	}
	return review.Request.Object.pod(review.Request.Namespace), nil
}

// TestSlimDecodeAgrees checks the slim decode keeps every field the
// webhook reads, so the benchmark compares like with like.
func TestSlimDecodeAgrees(t *testing.T) {
	rvs, err := buildReviews(population{Prefix: "t", Namespaces: 3, Count: 9}, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, rv := range rvs {
		full, err := decodeTyped(rv.body)
		if err != nil {
			t.Fatal(err)
		}
		slim, err := decodeSlim(rv.body)
		if err != nil {
			t.Fatal(err)
		}
		type view struct {
			NS, Name, Gen, SA string
			Ann               map[string]string
			Containers        [][2][]string
			Volumes           []string
		}
		see := func(p *corev1.Pod) view {
			v := view{NS: p.Namespace, Name: p.Name, Gen: p.GenerateName, SA: p.Spec.ServiceAccountName, Ann: p.Annotations}
			for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
				var env, mounts []string
				for _, e := range c.Env {
					env = append(env, e.Name)
				}
				for _, m := range c.VolumeMounts {
					mounts = append(mounts, m.Name+"@"+m.MountPath)
				}
				v.Containers = append(v.Containers, [2][]string{env, mounts})
			}
			for _, vol := range p.Spec.Volumes {
				v.Volumes = append(v.Volumes, vol.Name)
			}
			return v
		}
		if d := cmp.Diff(see(full), see(slim)); d != "" {
			t.Fatalf("slim decode differs (-typed +slim):\n%s", d)
		}
	}
}

func benchDecode(b *testing.B, decode func([]byte) (*corev1.Pod, error), deepCopy bool) {
	rvs, err := buildReviews(benchPop, 256, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p, err := decode(rvs[n%len(rvs)].body)
		if err != nil {
			b.Fatal(err)
		}
		if deepCopy {
			_ = p.DeepCopy() // Mutate's copy
		}
		n++
	}
}

func BenchmarkDecodeTyped(b *testing.B)         { benchDecode(b, decodeTyped, false) }
func BenchmarkDecodeTypedDeepCopy(b *testing.B) { benchDecode(b, decodeTyped, true) }
func BenchmarkDecodeSlim(b *testing.B)          { benchDecode(b, decodeSlim, false) }
func BenchmarkDecodeSlimDeepCopy(b *testing.B)  { benchDecode(b, decodeSlim, true) }
