package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	admissionv1 "k8s.io/api/admission/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// review is one pre-built AdmissionReview request and what its answer must hold.
type review struct {
	body     []byte
	uid      string
	clientID string // the service account's client-id, which the patch must inject
}

// buildReviews makes n AdmissionReview v1 bodies, each for a pod of a
// Deployment (as the ReplicaSet controller creates it, after the API
// server's defaulting and its ServiceAccount admission plugin, which run
// before mutating webhooks) whose service account is a random one of pop.
// Each has its own request uid. seed makes the choice repeatable.
func buildReviews(pop population, n int, seed uint64) ([]review, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]review, n)
	for k := range out {
		i := rng.IntN(pop.Count)
		uid := uuid.NewString()
		body, err := reviewBody(pop.namespace(i), pop.name(i), uid, k)
		if err != nil {
			return nil, err
		}
		out[k] = review{body: body, uid: uid, clientID: pop.clientID(i)}
	}
	return out, nil
}

// reviewBody is the JSON of one AdmissionReview for a labelled pod of
// Deployment "web-<k%50>" in namespace ns running as service account sa.
func reviewBody(ns, sa, uid string, k int) ([]byte, error) {
	app := fmt.Sprintf("web-%02d", k%50)
	hash := fmt.Sprintf("%010x", uint64(k%50)*0x9e3779b1)[:10]
	rsName := app + "-" + hash
	rsUID := fmt.Sprintf("5f0c3e2a-7b1d-4c6e-9a8f-%012x", k%50)
	token := fmt.Sprintf("kube-api-access-%05x", k%0xfffff)
	yes, no := true, false
	grace, expiry := int64(30), int64(3607)
	prio := int32(0)
	preempt := corev1.PreemptLowerPriority
	tolSecs := int64(300)
	probe := func(path string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			InitialDelaySeconds: delay, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	fields := `{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:azure.workload.identity/use":{},"f:pod-template-hash":{}},` +
		`"f:ownerReferences":{".":{},"k:{\"uid\":\"` + rsUID + `\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{},` +
		`"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{},` +
		`"f:securityContext":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},` +
		`"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:serviceAccount":{},"f:serviceAccountName":{},"f:terminationGracePeriodSeconds":{}}}`
	created := metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:      rsName + "-",
			Namespace:         ns,
			CreationTimestamp: created,
			Labels: map[string]string{
				"app":                         app,
				"pod-template-hash":           hash,
				"azure.workload.identity/use": "true",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName,
				UID: types.UID(rsUID), Controller: &yes, BlockOwnerDeletion: &yes,
			}},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: &created, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)},
			}},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{
				Name: token,
				VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiry, Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{
							LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
						}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
							Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
						}}}},
					},
					DefaultMode: ptr(int32(0o644)),
				}},
			}},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.example/" + app + ":1.4.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "LOG_LEVEL", Value: "info"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: token, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				LivenessProbe:            probe("/healthz", 10),
				ReadinessProbe:           probe("/readyz", 2),
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
				SecurityContext:          &corev1.SecurityContext{AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes},
			}},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            sa,
			DeprecatedServiceAccount:      sa,
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 "default-scheduler",
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolSecs},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolSecs},
			},
			Priority:           &prio,
			EnableServiceLinks: &yes,
			PreemptionPolicy:   &preempt,
		},
	}
	raw, err := json.Marshal(&pod)
	if err != nil {
		return nil, err
	}
	dry := false
	opts, err := json.Marshal(metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}})
	if err != nil {
		return nil, err
	}
	gvk := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvr := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: gvk, Resource: gvr, RequestKind: &gvk, RequestResource: &gvr,
			Namespace: ns, Operation: admissionv1.Create,
			UserInfo: authnv1.UserInfo{
				Username: "system:serviceaccount:kube-system:replicaset-controller",
				UID:      "3b2f1a7c-0c1e-4a57-9d7e-2f5f6c8b9a01",
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: raw},
			DryRun:  &dry,
			Options: runtime.RawExtension{Raw: opts},
		},
	})
}

func ptr[T any](v T) *T { return &v }

// answer is the part of an AdmissionReview response the generator checks.
type answer struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   *struct {
		UID       string  `json:"uid"`
		Allowed   bool    `json:"allowed"`
		PatchType *string `json:"patchType"`
		Patch     []byte  `json:"patch"` // base64 in JSON
		Status    *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

var errBadAnswer = errors.New("bad answer")

// check verifies that body answers rv: the same uid, allowed, a JSONPatch
// that is a JSON array injecting the service account's client id and the
// projected token volume.
func (rv review) check(body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("%w: decoding: %v", errBadAnswer, err)
	}
	r := a.Response
	switch {
	case a.APIVersion != "admission.k8s.io/v1" || a.Kind != "AdmissionReview" || r == nil:
		return fmt.Errorf("%w: not an AdmissionReview v1 response", errBadAnswer)
	case r.UID != rv.uid:
		return fmt.Errorf("%w: uid %q, want %q", errBadAnswer, r.UID, rv.uid)
	case !r.Allowed:
		msg := ""
		if r.Status != nil {
			msg = fmt.Sprintf("%d %s", r.Status.Code, r.Status.Message)
		}
		return fmt.Errorf("%w: denied: %s", errBadAnswer, msg)
	case r.PatchType == nil || *r.PatchType != "JSONPatch":
		return fmt.Errorf("%w: patchType %v, want JSONPatch", errBadAnswer, r.PatchType)
	case len(r.Patch) < 2 || r.Patch[0] != '[' || !json.Valid(r.Patch):
		return fmt.Errorf("%w: patch is not a JSON array: %.80q", errBadAnswer, r.Patch)
	case !bytes.Contains(r.Patch, []byte(`"AZURE_CLIENT_ID","value":"`+rv.clientID+`"`)):
		return fmt.Errorf("%w: patch lacks AZURE_CLIENT_ID=%s: %.300s", errBadAnswer, rv.clientID, r.Patch)
	case !bytes.Contains(r.Patch, []byte(`"azure-identity-token"`)):
		return fmt.Errorf("%w: patch lacks the azure-identity-token volume: %.300s", errBadAnswer, r.Patch)
	}
	return nil
}
