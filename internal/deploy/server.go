package deploy

import (
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the server's objects.
const (
	ServerName   = "wif"
	SharedSecret = "wif-shared" // ca.pem, ca-key.pem, kek.bin
	StoreSecret  = "wif-store"  // dsn
	serverPort   = 8443
	dataDir      = "/var/lib/wif"
)

// SharedFiles are the data-directory files every replica must share.
var SharedFiles = []string{"ca.pem", "ca-key.pem", "kek.bin"}

// ServerOptions says how to run wif serve in a cluster.
type ServerOptions struct {
	Namespace string // default wif-system
	Image     string
	Replicas  int32  // default 3
	PublicURL string // the load balancer's (or Service's) URL clients use
	// Shared holds the shared files' contents by name (SharedFiles); when
	// empty the Secret is left to the operator.
	Shared map[string][]byte
	// DSN, if set, is rendered into the store Secret; when empty that
	// Secret is left to the operator.
	DSN string
}

// Validate reports every problem at once.
func (o ServerOptions) Validate() error {
	var errs []error
	if o.Image == "" {
		errs = append(errs, errors.New("an image is required"))
	}
	if err := httpsURL("public URL", o.PublicURL); err != nil {
		errs = append(errs, err)
	}
	if o.DSN != "" && !strings.HasPrefix(o.DSN, "postgres://") && !strings.HasPrefix(o.DSN, "postgresql://") {
		errs = append(errs, errors.New("replicas need a postgres:// store"))
	}
	if len(o.Shared) > 0 {
		for _, f := range SharedFiles {
			if len(o.Shared[f]) == 0 {
				errs = append(errs, fmt.Errorf("shared file %s is missing", f))
			}
		}
	}
	return errors.Join(errs...)
}

// ServerObjects are the objects that run wif serve as replicas on one
// PostgreSQL: the namespace, a Deployment (3 replicas by default, probes
// on /readyz and /healthz), a PodDisruptionBudget keeping all but one, a
// Service, and, when given, the Secrets of the shared files and the DSN.
func ServerObjects(o ServerOptions) []runtime.Object {
	ns := Options{Namespace: o.Namespace}.namespace()
	replicas := o.Replicas
	if replicas == 0 {
		replicas = 3
	}
	labels := map[string]string{"app.kubernetes.io/name": ServerName, "app.kubernetes.io/part-of": "wif"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(serverPort), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds: 2, FailureThreshold: 2}
	}
	maxUnavailable := intstr.FromInt32(1)
	nonRoot, readOnly, noEscalation := true, true, false
	uid := int64(65532)
	mounts := []corev1.VolumeMount{{Name: "data", MountPath: dataDir}}
	for _, f := range SharedFiles {
		mounts = append(mounts, corev1.VolumeMount{Name: "shared", MountPath: dataDir + "/" + f, SubPath: f, ReadOnly: true})
	}
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta(ServerName),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, RunAsUser: &uid, FSGroup: &uid},
					Containers: []corev1.Container{{
						Name: "wif", Image: o.Image,
						Args: []string{"serve", "--data-dir=" + dataDir, fmt.Sprintf("--listen=:%d", serverPort),
							"--public-url=" + strings.TrimSuffix(o.PublicURL, "/"), "--store=$(WIF_STORE)"},
						Env: []corev1.EnvVar{{Name: "WIF_STORE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: StoreSecret}, Key: "dsn"}}}},
						Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: serverPort}},
						ReadinessProbe: probe("/readyz"), LivenessProbe: probe("/healthz"),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
						},
						SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &readOnly, AllowPrivilegeEscalation: &noEscalation,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						VolumeMounts: mounts,
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "shared", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: SharedSecret}}},
					},
				},
			},
		}}
	objs := []runtime.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
		dep,
		&policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}, ObjectMeta: meta(ServerName),
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &maxUnavailable, Selector: &metav1.LabelSelector{MatchLabels: labels}}},
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta(ServerName),
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(serverPort)}}}},
	}
	if len(o.Shared) > 0 {
		objs = append(objs, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(SharedSecret),
			Type: corev1.SecretTypeOpaque, Data: o.Shared})
	}
	if o.DSN != "" {
		objs = append(objs, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(StoreSecret),
			Type: corev1.SecretTypeOpaque, StringData: map[string]string{"dsn": o.DSN}})
	}
	return objs
}
