package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrServiceAccountNotFound is returned (wrapped) by a ServiceAccountGetter
// when the service account does not exist.
var ErrServiceAccountNotFound = errors.New("service account not found")

// ServiceAccountGetter looks up a service account. Implementations return an
// error wrapping ErrServiceAccountNotFound when it does not exist; any other
// error is treated as transient.
type ServiceAccountGetter interface {
	Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// maxBodyBytes bounds an AdmissionReview (the API server itself caps requests at 3 MiB).
const maxBodyBytes = 8 << 20

const (
	reviewV1      = "admission.k8s.io/v1"
	reviewV1beta1 = "admission.k8s.io/v1beta1"
)

// Handler serves POST /mutate-v1-pod. It decodes the AdmissionReview (v1 or
// v1beta1, answered in the same version), fetches the pod's service account,
// calls Mutate and answers with add-only JSON patch operations built against
// the raw object, so fields unknown to our k8s.io/api version are never removed.
//
// Answers: malformed body → HTTP 400; service account missing → denied, 403;
// bad annotation → denied, 400; service account lookup failure → denied, 500
// (so callers know to retry); otherwise allowed, with a patch if anything was
// injected. Non-CREATE operations and non-Pod objects are allowed untouched.
//
// Each review runs on its request's own goroutine, as net/http serves it.
type Handler struct {
	cfg     Config
	sas     ServiceAccountGetter
	log     *slog.Logger
	metrics *Metrics
}

// NewHandler returns a Handler. cfg must have passed Validate. log and
// metrics may be nil.
func NewHandler(cfg Config, sa ServiceAccountGetter, log *slog.Logger, metrics *Metrics) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, sas: sa, log: log, metrics: metrics}
}

// Outcomes, the values of the requests metric's "outcome" label.
const (
	outcomePatched = "patched" // allowed with a patch
	outcomeAllowed = "allowed" // allowed, nothing to inject (already injected or nothing to do)
	outcomeSkipped = "skipped" // not a pod CREATE
	outcomeDenied  = "denied"  // the pod or its service account is at fault
	outcomeError   = "error"   // transient failure (code 500)
	outcomeInvalid = "invalid" // malformed HTTP request
)

// result is what one admission produced, for the response, the log and the metrics.
type result struct {
	outcome string
	resp    admissionv1.AdmissionResponse
	ops     int
	err     error
	// log context
	namespace, pod, serviceAccount string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, start, http.StatusMethodNotAllowed, errors.New("method not allowed"))
		return
	}
	var review reviewEnvelope
	if err := jsonv2.UnmarshalRead(http.MaxBytesReader(w, r.Body, maxBodyBytes), &review, decodeOptions); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.fail(w, r, start, status, fmt.Errorf("decoding AdmissionReview: %w", err))
		return
	}
	if review.Kind != "AdmissionReview" || (review.APIVersion != reviewV1 && review.APIVersion != reviewV1beta1) {
		h.fail(w, r, start, http.StatusBadRequest, fmt.Errorf("unsupported %s %s, want AdmissionReview %s or %s", review.APIVersion, review.Kind, reviewV1, reviewV1beta1))
		return
	}
	if review.Request == nil || review.Request.UID == "" {
		h.fail(w, r, start, http.StatusBadRequest, errors.New("AdmissionReview has no request or no request uid"))
		return
	}
	res := h.admit(r.Context(), review.Request, queryTimeout(r.URL.RawQuery))
	res.resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: review.APIVersion, Kind: "AdmissionReview"},
		Response: &res.resp,
	})
	if err != nil { // cannot happen with these types; do not answer garbage
		h.fail(w, r, start, http.StatusInternalServerError, fmt.Errorf("encoding AdmissionReview: %w", err))
		return
	}
	h.record(r.Context(), start, review.Request, res)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// queryTimeout is the API server's ?timeout= (how long it waits for the
// answer), or 0 when absent or unusable.
func queryTimeout(rawQuery string) time.Duration {
	q, _ := url.ParseQuery(rawQuery) // as r.URL.Query(): what parses is used
	if d, err := time.ParseDuration(q.Get("timeout")); err == nil && d > 0 {
		return d
	}
	return 0
}

// record counts and logs a decided review.
func (h *Handler) record(ctx context.Context, start time.Time, req *requestView, res result) {
	elapsed := time.Since(start)
	h.metrics.observe(res.outcome, elapsed)
	level := slog.LevelInfo
	if res.outcome == outcomeError {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("uid", string(req.UID)),
		slog.String("operation", string(req.Operation)),
		slog.String("namespace", res.namespace),
		slog.String("pod", res.pod),
		slog.String("serviceAccount", res.serviceAccount),
		slog.String("outcome", res.outcome),
		slog.Int("patchOps", res.ops),
		slog.Duration("duration", elapsed),
	}
	if res.resp.Result != nil {
		attrs = append(attrs, slog.Int("code", int(res.resp.Result.Code)))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	h.log.LogAttrs(ctx, level, "admission", attrs...)
}

// fail answers a request that is not a usable AdmissionReview with a plain HTTP error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, start time.Time, status int, err error) {
	http.Error(w, "webhook: "+err.Error(), status)
	outcome := outcomeInvalid
	if status >= 500 {
		outcome = outcomeError
	}
	h.metrics.observe(outcome, time.Since(start))
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "admission request rejected",
		slog.Int("status", status), slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
}

func denied(code int32, reason metav1.StatusReason, msg string) admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{
		Allowed: false,
		Result:  &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg},
	}
}

// admit decides one request. It never returns a response without outcome.
// timeout (if not 0) bounds a service account lookup that misses the cache.
func (h *Handler) admit(ctx context.Context, req *requestView, timeout time.Duration) result {
	res := result{namespace: req.Namespace, pod: req.Name}
	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		res.outcome, res.resp = outcomeSkipped, admissionv1.AdmissionResponse{Allowed: true}
		return res
	}
	if err := req.Object.err; err != nil {
		res.err = err
		res.outcome, res.resp = outcomeDenied, denied(http.StatusBadRequest, metav1.StatusReasonBadRequest, "webhook: decoding pod: "+err.Error())
		return res
	}
	view := req.Object.view
	if view == nil {
		res.outcome, res.resp = outcomeDenied, denied(http.StatusBadRequest, metav1.StatusReasonBadRequest, "webhook: admission request carries no pod")
		return res
	}
	// Template pods (from controllers) carry no namespace; the request does.
	pod := view.pod(req.Namespace)
	if res.pod == "" {
		res.pod = pod.Name
	}
	if res.pod == "" && pod.GenerateName != "" {
		res.pod = pod.GenerateName + "(generated)"
	}
	if len(pod.Spec.Containers)+len(pod.Spec.InitContainers) == 0 {
		// Nothing to inject into; the API server rejects such a pod on its own.
		res.outcome, res.resp = outcomeAllowed, admissionv1.AdmissionResponse{Allowed: true}
		return res
	}
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = pod.Spec.DeprecatedServiceAccount
	}
	if saName == "" {
		saName = "default"
	}
	res.serviceAccount = saName

	sa, err := h.serviceAccount(ctx, timeout, pod.Namespace, saName)
	switch {
	case errors.Is(err, ErrServiceAccountNotFound):
		res.err = err
		res.outcome, res.resp = outcomeDenied, denied(http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("service account %q not found in namespace %q", saName, pod.Namespace))
		return res
	case err != nil:
		res.err = err
		res.outcome, res.resp = outcomeError, denied(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			fmt.Sprintf("webhook: looking up service account %q in namespace %q: %v", saName, pod.Namespace, err))
		return res
	}

	mutated, err := Mutate(pod, sa, h.cfg)
	if err != nil {
		res.err = err
		if _, ok := errors.AsType[*AnnotationError](err); ok {
			res.outcome, res.resp = outcomeDenied, denied(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return res
		}
		res.outcome, res.resp = outcomeError, denied(http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return res
	}
	ops, err := patchOps(view, mutated)
	var patch []byte
	if err == nil && len(ops) > 0 {
		patch, err = json.Marshal(ops)
	}
	switch {
	case err != nil:
		res.err = err
		res.outcome, res.resp = outcomeError, denied(http.StatusInternalServerError, metav1.StatusReasonInternalError, "webhook: building patch: "+err.Error())
	case len(ops) > 0:
		pt := admissionv1.PatchTypeJSONPatch
		res.ops = len(ops)
		res.outcome, res.resp = outcomePatched, admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
	default:
		res.outcome, res.resp = outcomeAllowed, admissionv1.AdmissionResponse{Allowed: true}
	}
	return res
}

// serviceAccount looks the pod's service account up: in the cache when
// the getter has one, else (or on a miss) through Get, bounded by timeout.
func (h *Handler) serviceAccount(ctx context.Context, timeout time.Duration, namespace, name string) (*corev1.ServiceAccount, error) {
	if c, ok := h.sas.(cachedServiceAccounts); ok {
		if sa, ok := c.Cached(namespace, name); ok {
			return sa, nil
		}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return h.sas.Get(ctx, namespace, name)
}

// cachedServiceAccounts is a ServiceAccountGetter with a cache, which the
// handler reads first, so that only a miss runs under the lookup deadline.
type cachedServiceAccounts interface {
	Cached(namespace, name string) (*corev1.ServiceAccount, bool)
}

// patchOps turns what Mutate appended to the pod decoded as orig into JSON
// patch "add" operations against the raw object the API server sent.
// Mutate only appends to env, volumeMounts and volumes, so nothing else is
// touched: fields unknown to our k8s.io/api version survive, and there is
// never a "remove".
func patchOps(orig *podView, mutated *corev1.Pod) ([]patchOp, error) {
	if len(orig.Spec.InitContainers) != len(mutated.Spec.InitContainers) || len(orig.Spec.Containers) != len(mutated.Spec.Containers) {
		return nil, errors.New("webhook: patch: container count changed")
	}
	var ops []patchOp
	var err error
	for _, list := range []struct {
		path string
		orig []containerView
		mut  []corev1.Container
	}{
		{"/spec/initContainers/", orig.Spec.InitContainers, mutated.Spec.InitContainers},
		{"/spec/containers/", orig.Spec.Containers, mutated.Spec.Containers},
	} {
		for i := range list.orig {
			base := list.path + strconv.Itoa(i)
			o := &list.orig[i]
			if ops, err = appendOps(ops, base+"/env", len(o.Env), func(j int) string { return o.Env[j].Name }, list.mut[i].Env, envName); err != nil {
				return nil, err
			}
			if ops, err = appendOps(ops, base+"/volumeMounts", len(o.VolumeMounts), func(j int) string { return o.VolumeMounts[j].Name }, list.mut[i].VolumeMounts, mountName); err != nil {
				return nil, err
			}
		}
	}
	return appendOps(ops, "/spec/volumes", len(orig.Spec.Volumes), func(j int) string { return orig.Spec.Volumes[j].Name }, mutated.Spec.Volumes, volumeName)
}

// patchOp is a JSON patch operation; only "add" is ever produced.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// reviewEnvelope is the part of an AdmissionReview the handler reads.
type reviewEnvelope struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Request    *requestView `json:"request"`
}

type requestView struct {
	UID         types.UID               `json:"uid"`
	Kind        metav1.GroupVersionKind `json:"kind"`
	Namespace   string                  `json:"namespace"`
	Name        string                  `json:"name"`
	Operation   admissionv1.Operation   `json:"operation"`
	SubResource string                  `json:"subResource"`
	Object      podObject               `json:"object"`
}

// podObject is request.object, decoded as a podView in the same pass as
// the review. A decoding error is kept, not returned (the rest of the
// object is read past): an object of another shape is no error in a
// request the handler skips.
type podObject struct {
	view *podView // nil when absent or null
	err  error
}

func (o *podObject) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	depth := dec.StackDepth()
	o.view = new(podView)
	err := jsonv2.UnmarshalDecode(dec, o.view, decodeOptions)
	if _, syntactic := errors.AsType[*jsontext.SyntacticError](err); err == nil || syntactic {
		return err
	}
	o.err = err
	for dec.StackDepth() > depth {
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
	}
	return nil
}

// decodeOptions: reviews and pods are decoded with
// github.com/go-json-experiment/json, the encoding/json/v2 design without
// GOEXPERIMENT. As the API machinery's decoder, it matches member names
// case-sensitively and accepts a repeated one, the last winning (the API
// server, which serializes what it has decoded, never sends one). Unlike
// encoding/json, it validates and skips in one pass, and decoding is most
// of a review's CPU (docs/benchmarks.md, "Webhook").
var decodeOptions = jsontext.AllowDuplicateNames(true)

// podView is what Mutate and patchOps read of a pod: decoding only these
// fields, instead of a whole corev1.Pod, skips most of a review (managed
// fields, probes, resources). Patches are computed against the raw object.
type podView struct {
	Metadata struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string          `json:"serviceAccountName"`
		ServiceAccount     string          `json:"serviceAccount"`
		InitContainers     []containerView `json:"initContainers"`
		Containers         []containerView `json:"containers"`
		Volumes            []struct {
			Name string `json:"name"`
		} `json:"volumes"`
	} `json:"spec"`
}

type containerView struct {
	Name string `json:"name"`
	Env  []struct {
		Name string `json:"name"`
	} `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

// pod turns the view into the corev1.Pod that Mutate takes.
func (v *podView) pod(namespace string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Namespace, p.Name, p.GenerateName, p.Annotations = namespace, v.Metadata.Name, v.Metadata.GenerateName, v.Metadata.Annotations
	p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount = v.Spec.ServiceAccountName, v.Spec.ServiceAccount
	conv := func(cs []containerView) []corev1.Container {
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
	p.Spec.InitContainers, p.Spec.Containers = conv(v.Spec.InitContainers), conv(v.Spec.Containers)
	for _, vol := range v.Spec.Volumes {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: vol.Name})
	}
	return p
}

func envName(e corev1.EnvVar) string        { return e.Name }
func mountName(m corev1.VolumeMount) string { return m.Name }
func volumeName(v corev1.Volume) string     { return v.Name }

// appendOps adds the elements of want beyond the original list's have
// elements, named by haveName: the whole list when have is 0 (the member
// may be absent or null in the raw object), else one "/-" append per
// element. want must extend the original list.
func appendOps[T any](ops []patchOp, path string, have int, haveName func(int) string, want []T, name func(T) string) ([]patchOp, error) {
	if len(want) < have {
		return nil, fmt.Errorf("webhook: patch: %s shrank", path)
	}
	for i := range have {
		if haveName(i) != name(want[i]) {
			return nil, fmt.Errorf("webhook: patch: %s/%d changed", path, i)
		}
	}
	switch {
	case len(want) == have:
		return ops, nil
	case have == 0:
		return append(ops, patchOp{Op: "add", Path: path, Value: want}), nil
	}
	for _, v := range want[have:] {
		ops = append(ops, patchOp{Op: "add", Path: path + "/-", Value: v})
	}
	return ops, nil
}
