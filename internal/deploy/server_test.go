package deploy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

func TestServerObjectsContract(t *testing.T) {
	o := ServerOptions{Image: "wif:v1", PublicURL: "https://wif.example.com/", DSN: "postgres://u:p@db/wif",
		Shared: map[string][]byte{"ca.pem": []byte("c"), "ca-key.pem": []byte("k"), "kek.bin": []byte("e")}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var pdb *policyv1.PodDisruptionBudget
	secrets := map[string]*corev1.Secret{}
	for _, obj := range ServerObjects(o) {
		switch v := obj.(type) {
		case *appsv1.Deployment:
			dep = v
		case *policyv1.PodDisruptionBudget:
			pdb = v
		case *corev1.Secret:
			secrets[v.Name] = v
		}
	}
	if dep == nil || *dep.Spec.Replicas != 3 {
		t.Fatalf("deployment: %+v", dep)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--public-url=https://wif.example.com ", "--store=$(WIF_STORE)", "--data-dir=/var/lib/wif"} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if c.Env[0].ValueFrom.SecretKeyRef.Name != StoreSecret {
		t.Errorf("the DSN does not come from the %s Secret: %+v", StoreSecret, c.Env)
	}
	if pdb == nil || pdb.Spec.MaxUnavailable.IntVal != 1 {
		t.Errorf("pod disruption budget: %+v", pdb)
	}
	if secrets[SharedSecret] == nil || len(secrets[SharedSecret].Data) != len(SharedFiles) || secrets[StoreSecret] == nil {
		t.Errorf("secrets: %v", secrets)
	}
	if err := (ServerOptions{Image: "x", PublicURL: "http://x", DSN: "sqlite:///x"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "https") || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("Validate of a bad URL and DSN: %v", err)
	}
}
