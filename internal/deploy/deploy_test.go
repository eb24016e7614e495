package deploy

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
)

var update = flag.Bool("update", false, "rewrite deploy/wif-webhook.yaml")

// example is what the checked-in deploy/wif-webhook.yaml is rendered from.
var example = Options{Image: "ghcr.io/wifproject/wif:latest", TenantID: "REPLACE-WITH-TENANT-ID", AuthorityHost: "https://wif.example.com/"}

// TestCheckedInManifests keeps deploy/wif-webhook.yaml equal to what
// "wif webhook install" renders.
func TestCheckedInManifests(t *testing.T) {
	got, err := Render(Objects(example))
	if err != nil {
		t.Fatal(err)
	}
	const path = "../../deploy/wif-webhook.yaml"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale; run go test ./internal/deploy -update", path)
	}
}

func TestObjectsContract(t *testing.T) {
	ca, cert, key, err := Certificates([]string{"wif-webhook.wif-system.svc"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := example
	o.CACert, o.ServingCert, o.ServingKey = ca, cert, key
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var mwc *admissionregistrationv1.MutatingWebhookConfiguration
	var dep *appsv1.Deployment
	var pdb *policyv1.PodDisruptionBudget
	for _, obj := range Objects(o) {
		switch v := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			mwc = v
		case *appsv1.Deployment:
			dep = v
		case *policyv1.PodDisruptionBudget:
			pdb = v
		}
	}
	if mwc == nil || dep == nil || pdb == nil {
		t.Fatal("missing objects")
	}
	w := mwc.Webhooks[0]
	switch {
	case *w.FailurePolicy != admissionregistrationv1.Fail:
		t.Error("failurePolicy is not Fail")
	case *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy:
		t.Error("reinvocationPolicy is not IfNeeded")
	case w.ObjectSelector.MatchLabels[UseLabel] != "true":
		t.Error("objectSelector does not select the use label")
	case string(w.ClientConfig.CABundle) != string(ca):
		t.Error("caBundle is not the generated CA")
	case *dep.Spec.Replicas != 2:
		t.Error("replicas != 2")
	case pdb.Spec.MinAvailable.IntValue() != 1:
		t.Error("PDB minAvailable != 1")
	}
	// Out of cluster: only the webhook configuration, with the URL.
	o.URL = "https://127.0.0.1:9443/mutate-v1-pod"
	objs := Objects(o)
	if len(objs) != 1 || *objs[0].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.URL != o.URL {
		t.Errorf("url mode objects = %v", objs)
	}
	if err := (Options{AuthorityHost: "http://x"}).Validate(); err == nil || !strings.Contains(err.Error(), "tenant") || !strings.Contains(err.Error(), "https") {
		t.Errorf("Validate should report every problem: %v", err)
	}
}
