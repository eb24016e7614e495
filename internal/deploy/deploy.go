// Package deploy builds the Kubernetes objects that run wif's admission
// webhook in a cluster: namespace, RBAC, a two-replica Deployment with a
// PodDisruptionBudget, a Service, the serving certificate, and the
// MutatingWebhookConfiguration. It renders them as YAML and applies them.
package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Names of the objects.
const (
	Name        = "wif-webhook"
	WebhookName = "mutation.azure-workload-identity.io"
	PathMutate  = "/mutate-v1-pod"
	UseLabel    = "azure.workload.identity/use"
)

// Options says what to deploy.
type Options struct {
	Namespace     string // default wif-system
	Image         string // wif image, for in-cluster deployment
	TenantID      string
	AuthorityHost string // wif's URL as the workloads must reach it
	// CABundleConfigMap, if set, turns on CA distribution: the webhook
	// projects this ConfigMap's "ca.crt" into mutated containers.
	CABundleConfigMap string
	// URL, if set, registers a webhook running outside the cluster (e.g.
	// "https://127.0.0.1:9443/mutate-v1-pod") instead of the in-cluster
	// Deployment and Service.
	URL string
	// CACert is the PEM CA that signed the webhook's serving certificate.
	CACert []byte
	// ServingCert and ServingKey are PEM; in-cluster they go into a Secret.
	ServingCert, ServingKey []byte
}

func (o Options) namespace() string {
	if o.Namespace == "" {
		return "wif-system"
	}
	return o.Namespace
}

// ServiceHost is the DNS name the API server uses to reach the webhook.
func (o Options) ServiceHost() string { return Name + "." + o.namespace() + ".svc" }

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.TenantID == "" {
		errs = append(errs, errors.New("tenant id is required"))
	}
	if err := httpsURL("authority host", o.AuthorityHost); err != nil {
		errs = append(errs, err)
	}
	if o.URL == "" && o.Image == "" {
		errs = append(errs, errors.New("an image (in-cluster) or a webhook URL (out of cluster) is required"))
	}
	if o.URL != "" {
		if u, err := url.Parse(o.URL); err != nil || u.Scheme != "https" {
			errs = append(errs, fmt.Errorf("webhook URL %q must be https", o.URL))
		}
	}

	return errors.Join(errs...)
}

// httpsURL checks that s, called what in the error, is an https URL with a
// host.
func httpsURL(what, s string) error {
	if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s %q must be an https URL", what, s)
	}
	return nil
}

// Certificates generates a CA and a serving certificate for hosts.
func Certificates(hosts []string, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wif-webhook-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// Objects returns the objects to apply, in order.
func Objects(o Options) []runtime.Object {
	ns := o.namespace()
	labels := map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/part-of": "wif"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	fail := admissionregistrationv1.Fail
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(10)
	path := PathMutate
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: o.CACert}
	if o.URL != "" {
		u := o.URL
		cc.URL = &u
	} else {
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: ns, Name: Name, Path: &path}
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    WebhookName,
			ClientConfig:            cc,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			ReinvocationPolicy:      &ifNeeded,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{UseLabel: "true"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
	if o.URL != "" {
		return []runtime.Object{mwc}
	}

	config := map[string]string{"AZURE_TENANT_ID": o.TenantID, "AZURE_AUTHORITY_HOST": o.AuthorityHost}
	args := []string{"webhook", "--listen=:9443", "--tls-cert-file=/certs/tls.crt", "--tls-private-key-file=/certs/tls.key"}
	if o.CABundleConfigMap != "" {
		args = append(args, "--ca-bundle-configmap="+o.CABundleConfigMap)
	}
	var objs []runtime.Object
	replicas := int32(2)
	minAvailable := intstr.FromInt32(1)
	nonRoot, readOnly, noEscalation := true, true, false
	uid := int64(65532)
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(9443), Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 5}
	}
	objs = append(objs,
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(Name)},
		&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch"}}}},
		&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: Name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: ns}}},
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta(Name + "-config"), Data: config},
		&appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta(Name),
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						ServiceAccountName: Name,
						PriorityClassName:  "system-cluster-critical",
						SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, RunAsUser: &uid},
						Containers: []corev1.Container{{
							Name: "webhook", Image: o.Image, Args: args,
							EnvFrom:        []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: Name + "-config"}}}},
							Ports:          []corev1.ContainerPort{{Name: "webhook", ContainerPort: 9443}, {Name: "health", ContainerPort: 9440}},
							ReadinessProbe: probe("/readyz"), LivenessProbe: probe("/healthz"),
							Resources: corev1.ResourceRequirements{
								Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
								Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
							},
							SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &readOnly, AllowPrivilegeEscalation: &noEscalation,
								Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
							VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/certs", ReadOnly: true}},
						}},
						Volumes: []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: Name + "-tls"}}}},
					},
				},
			}},
		&policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}, ObjectMeta: meta(Name),
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: &metav1.LabelSelector{MatchLabels: labels}}},
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta(Name),
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(9443)}}}},
	)
	// Without a generated key pair (the checked-in manifests), the Secret
	// is left to the operator, e.g. cert-manager with CA injection.
	if len(o.ServingCert) > 0 {
		objs = append(objs, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(Name + "-tls"),
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": o.ServingCert, "tls.key": o.ServingKey, "ca.crt": o.CACert}})
	}
	return append(objs, mwc)
}

// Render writes objects as a multi-document YAML stream.
func Render(objs []runtime.Object) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(stripStatus(y))
	}
	return b.Bytes(), nil
}

// stripStatus drops the empty status and creationTimestamp that typed
// objects marshal.
func stripStatus(y []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(y, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if bytes.Equal(t, []byte("creationTimestamp: null")) || bytes.Equal(line, []byte("status: {}")) {
			continue
		}
		out = append(out, line)
	}
	return bytes.Join(out, []byte("\n"))
}

// Apply creates the objects, or updates them when they exist.
func Apply(ctx context.Context, kc kubernetes.Interface, objs []runtime.Object) error {
	opts := metav1.CreateOptions{FieldManager: "wif"}
	for _, o := range objs {
		var err error
		switch v := o.(type) {
		case *corev1.Namespace:
			_, err = kc.CoreV1().Namespaces().Create(ctx, v, opts)
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		case *corev1.ServiceAccount:
			_, err = kc.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, opts)
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		case *rbacv1.ClusterRole:
			err = upsert(ctx, v, kc.RbacV1().ClusterRoles().Get, kc.RbacV1().ClusterRoles().Create, kc.RbacV1().ClusterRoles().Update)
		case *rbacv1.ClusterRoleBinding:
			err = upsert(ctx, v, kc.RbacV1().ClusterRoleBindings().Get, kc.RbacV1().ClusterRoleBindings().Create, kc.RbacV1().ClusterRoleBindings().Update)
		case *corev1.ConfigMap:
			c := kc.CoreV1().ConfigMaps(v.Namespace)
			err = upsert(ctx, v, c.Get, c.Create, c.Update)
		case *corev1.Secret:
			c := kc.CoreV1().Secrets(v.Namespace)
			err = upsert(ctx, v, c.Get, c.Create, c.Update)
		case *appsv1.Deployment:
			c := kc.AppsV1().Deployments(v.Namespace)
			err = upsert(ctx, v, c.Get, c.Create, c.Update)
		case *policyv1.PodDisruptionBudget:
			err = upsert(ctx, v, kc.PolicyV1().PodDisruptionBudgets(v.Namespace).Get, kc.PolicyV1().PodDisruptionBudgets(v.Namespace).Create, kc.PolicyV1().PodDisruptionBudgets(v.Namespace).Update)
		case *corev1.Service:
			err = upsert(ctx, v, kc.CoreV1().Services(v.Namespace).Get, kc.CoreV1().Services(v.Namespace).Create, kc.CoreV1().Services(v.Namespace).Update)
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			err = upsert(ctx, v, kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Get,
				kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Create, kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Update)
		default:
			err = fmt.Errorf("unsupported object %T", o)
		}
		if err != nil {
			return fmt.Errorf("deploy: apply %T: %w", o, err)
		}
	}
	return nil
}

// versioned objects need the stored resourceVersion to be replaced.
type versioned interface {
	runtime.Object
	GetName() string
	GetResourceVersion() string
	SetResourceVersion(string)
}

func upsert[T versioned](ctx context.Context, obj T, get func(context.Context, string, metav1.GetOptions) (T, error),
	create func(context.Context, T, metav1.CreateOptions) (T, error), update func(context.Context, T, metav1.UpdateOptions) (T, error)) error {
	name := obj.GetName()
	cur, err := get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = create(ctx, obj, metav1.CreateOptions{FieldManager: "wif"})
		return err
	}
	if err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	_, err = update(ctx, obj, metav1.UpdateOptions{FieldManager: "wif"})
	return err
}
