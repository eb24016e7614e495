package webhook

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Keys honoured, as in azure-workload-identity's pkg/webhook/consts.go.
const (
	// LabelUse selects pods through the MutatingWebhookConfiguration's
	// objectSelector; Mutate itself does not read it.
	LabelUse = "azure.workload.identity/use"

	AnnotationClientID           = "azure.workload.identity/client-id"                        // SA
	AnnotationTenantID           = "azure.workload.identity/tenant-id"                        // SA
	AnnotationTokenExpiration    = "azure.workload.identity/service-account-token-expiration" // pod, else SA
	AnnotationSkipContainers     = "azure.workload.identity/skip-containers"                  // pod
	AnnotationInjectProxySidecar = "azure.workload.identity/inject-proxy-sidecar"             // pod
)

// Injected environment variables.
const (
	EnvClientID           = "AZURE_CLIENT_ID"
	EnvTenantID           = "AZURE_TENANT_ID"
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	EnvAuthorityHost      = "AZURE_AUTHORITY_HOST"
	EnvSSLCertDir         = "SSL_CERT_DIR"
	EnvNodeExtraCACerts   = "NODE_EXTRA_CA_CERTS"
)

// Projected token volume (the stable ≤v1.5.x layout every doc hard-codes).
const (
	TokenVolumeName = "azure-identity-token"
	TokenMountPath  = "/var/run/secrets/azure/tokens"
	TokenPath       = "azure-identity-token"
	TokenFile       = TokenMountPath + "/" + TokenPath // AZURE_FEDERATED_TOKEN_FILE
)

// CA bundle volume (opt-in via Config.CABundle).
const (
	CAVolumeName = "wif-ca-bundle"
	CAMountPath  = "/var/run/secrets/wif/ca"
	CAFileName   = "ca.crt"
	CAFile       = CAMountPath + "/" + CAFileName // NODE_EXTRA_CA_CERTS
	// CACertDirs is injected as SSL_CERT_DIR: the usual system certificate
	// directories (Debian/Alpine, RHEL/Fedora, Android) followed by the bundle's.
	CACertDirs = "/etc/ssl/certs:/etc/pki/tls/certs:/system/etc/security/cacerts:" + CAMountPath
)

// Token lifetime bounds in seconds, as upstream.
const (
	DefaultTokenExpiration = 3600
	MinTokenExpiration     = 3600
	MaxTokenExpiration     = 86400
)

var (
	// ErrInvalidTokenExpiration: the expiration annotation is not an integer or out of range.
	ErrInvalidTokenExpiration = errors.New("invalid token expiration")
	// ErrInvalidBool: a boolean annotation is not accepted by strconv.ParseBool.
	ErrInvalidBool = errors.New("invalid boolean")
	// ErrProxySidecarUnsupported: the pod asks for the IMDS proxy sidecar, which wif does not provide.
	ErrProxySidecarUnsupported = errors.New("the azure-workload-identity IMDS proxy sidecar is not supported by wif: " +
		"remove the annotation and use WorkloadIdentityCredential (or DefaultAzureCredential), " +
		"which reads the injected AZURE_FEDERATED_TOKEN_FILE")
)

// AnnotationError is returned by Mutate when an annotation on the pod or its
// service account has a value the contract rejects. It is the pod author's
// mistake: the handler denies the admission with Error() as the message.
type AnnotationError struct {
	Object string // "pod" or "service account"
	Key    string
	Value  string
	Err    error // wraps ErrInvalidTokenExpiration, ErrInvalidBool or ErrProxySidecarUnsupported
}

func (e *AnnotationError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("webhook: %s annotation %s=%q: %v", e.Object, e.Key, v, e.Err)
}

func (e *AnnotationError) Unwrap() error { return e.Err }

// expirationRangeError keeps upstream's exact message and matches ErrInvalidTokenExpiration.
type expirationRangeError struct{ seconds int64 }

func (e expirationRangeError) Error() string {
	return fmt.Sprintf("token expiration %d not valid. Expected value to be between %d and %d",
		e.seconds, MinTokenExpiration, MaxTokenExpiration)
}

func (e expirationRangeError) Is(target error) bool { return target == ErrInvalidTokenExpiration }

// Mutate returns a deep copy of pod carrying the workload identity contract;
// pod and sa are never modified (sa may be nil: no annotations). cfg must have
// passed Validate. Mutate only ever appends env vars, volume mounts and
// volumes, never adds containers, and skips whatever is already present, so
// Mutate(Mutate(p)) equals Mutate(p) and a reinvocation after another webhook
// added a container mutates only that container.
//
// Every non-skipped init container and container gets, unless a variable of
// the same name already exists (a user's value or valueFrom is never
// clobbered) and only when the value is non-empty: AZURE_CLIENT_ID (SA
// annotation), AZURE_TENANT_ID (SA annotation, present-but-empty disables,
// else cfg.TenantID), AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST;
// plus a read-only mount of the projected token volume at TokenMountPath.
//
// With cfg.CABundle set, the ConfigMap key is projected as CAFile and mounted
// the same way, and SSL_CERT_DIR=CACertDirs and NODE_EXTRA_CA_CERTS=CAFile are
// injected: that covers Go and Node.js, not Python or Java (docs/webhook.md,
// "CA distribution", says what they need).
//
// The azure.workload.identity/inject-proxy-sidecar annotation is parsed with
// strconv.ParseBool ("false" means false); true is rejected with
// ErrProxySidecarUnsupported because wif injects no IMDS proxy.
func Mutate(pod *corev1.Pod, sa *corev1.ServiceAccount, cfg Config) (*corev1.Pod, error) {
	if pod == nil {
		return nil, errors.New("webhook: mutate: nil pod")
	}
	if sa == nil {
		sa = &corev1.ServiceAccount{}
	}
	if v, ok := pod.Annotations[AnnotationInjectProxySidecar]; ok {
		inject, err := strconv.ParseBool(v)
		if err != nil {
			return nil, &AnnotationError{Object: "pod", Key: AnnotationInjectProxySidecar, Value: v, Err: fmt.Errorf("%w: %w", ErrInvalidBool, err)}
		}
		if inject {
			return nil, &AnnotationError{Object: "pod", Key: AnnotationInjectProxySidecar, Value: v, Err: ErrProxySidecarUnsupported}
		}
	}
	expiration, err := tokenExpiration(pod, sa)
	if err != nil {
		return nil, err
	}

	tenantID := cfg.TenantID
	if v, ok := sa.Annotations[AnnotationTenantID]; ok {
		tenantID = v // present-but-empty: not injected, as upstream
	}
	env := []corev1.EnvVar{
		{Name: EnvClientID, Value: sa.Annotations[AnnotationClientID]},
		{Name: EnvTenantID, Value: tenantID},
		{Name: EnvFederatedTokenFile, Value: TokenFile},
		{Name: EnvAuthorityHost, Value: cfg.AuthorityHost},
	}
	mounts := []corev1.VolumeMount{{Name: TokenVolumeName, MountPath: TokenMountPath, ReadOnly: true}}
	volumes := []corev1.Volume{tokenVolume(expiration, cfg.audience())}
	if cfg.CABundle != nil {
		env = append(env,
			corev1.EnvVar{Name: EnvSSLCertDir, Value: CACertDirs},
			corev1.EnvVar{Name: EnvNodeExtraCACerts, Value: CAFile},
		)
		mounts = append(mounts, corev1.VolumeMount{Name: CAVolumeName, MountPath: CAMountPath, ReadOnly: true})
		volumes = append(volumes, caVolume(*cfg.CABundle))
	}

	out := pod.DeepCopy()
	skip := skipContainers(pod.Annotations[AnnotationSkipContainers])
	for i := range out.Spec.InitContainers {
		mutateContainer(&out.Spec.InitContainers[i], skip, env, mounts)
	}
	for i := range out.Spec.Containers {
		mutateContainer(&out.Spec.Containers[i], skip, env, mounts)
	}
	for _, v := range volumes {
		if !hasVolume(out.Spec.Volumes, v.Name) {
			out.Spec.Volumes = append(out.Spec.Volumes, v)
		}
	}
	return out, nil
}

// tokenExpiration reads the expiration annotation from the pod, else the SA.
func tokenExpiration(pod *corev1.Pod, sa *corev1.ServiceAccount) (int64, error) {
	object := "pod"
	v, ok := pod.Annotations[AnnotationTokenExpiration]
	if !ok {
		object = "service account"
		if v, ok = sa.Annotations[AnnotationTokenExpiration]; !ok {
			return DefaultTokenExpiration, nil
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &AnnotationError{Object: object, Key: AnnotationTokenExpiration, Value: v, Err: fmt.Errorf("%w: %w", ErrInvalidTokenExpiration, err)}
	}
	if n < MinTokenExpiration || n > MaxTokenExpiration {
		return 0, &AnnotationError{Object: object, Key: AnnotationTokenExpiration, Value: v, Err: expirationRangeError{n}}
	}
	return n, nil
}

func skipContainers(v string) map[string]bool {
	if v == "" {
		return nil
	}
	skip := make(map[string]bool)
	for name := range strings.SplitSeq(v, ";") {
		if name = strings.TrimSpace(name); name != "" {
			skip[name] = true
		}
	}
	return skip
}

func mutateContainer(c *corev1.Container, skip map[string]bool, env []corev1.EnvVar, mounts []corev1.VolumeMount) {
	if skip[c.Name] {
		return
	}
	for _, e := range env {
		if e.Value != "" && !hasEnv(c.Env, e.Name) {
			c.Env = append(c.Env, e)
		}
	}
	for _, m := range mounts {
		if !hasMount(c.VolumeMounts, m) {
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
	}
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// hasMount reports a mount of the same name, or one already occupying the
// path (a second mount there would make the pod invalid).
func hasMount(mounts []corev1.VolumeMount, m corev1.VolumeMount) bool {
	for _, x := range mounts {
		if x.Name == m.Name || x.MountPath == m.MountPath {
			return true
		}
	}
	return false
}

func hasVolume(volumes []corev1.Volume, name string) bool {
	for _, v := range volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func tokenVolume(expiration int64, audience string) corev1.Volume {
	return corev1.Volume{
		Name: TokenVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path:              TokenPath,
				ExpirationSeconds: &expiration,
				Audience:          audience,
			}}},
		}},
	}
}

func caVolume(b CABundle) corev1.Volume {
	return corev1.Volume{
		Name: CAVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: b.ConfigMapName},
				Items:                []corev1.KeyToPath{{Key: b.Key, Path: CAFileName}},
			}}},
		}},
	}
}
