package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// annotationClientID is the service account annotation the webhook reads
// (webhook.AnnotationClientID; spelled out so the tool checks the contract).
const annotationClientID = "azure.workload.identity/client-id"

// population is the set of service accounts the benchmark creates:
// Count accounts spread round-robin over Namespaces namespaces.
type population struct {
	Prefix     string // namespace prefix
	Namespaces int
	Count      int
}

func (p population) namespace(i int) string { return fmt.Sprintf("%s-%03d", p.Prefix, i%p.Namespaces) }
func (p population) name(i int) string      { return fmt.Sprintf("workload-%05d", i) }

// clientID is service account i's client-id annotation (a UUID-shaped
// value the patch must carry back).
func (p population) clientID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// kubeClient returns a client-go clientset for the kubeconfig, without
// client-side rate limiting (setup creates thousands of objects).
func kubeClient(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 10000, 10000
	cfg.UserAgent = "whload"
	return kubernetes.NewForConfig(cfg)
}

// create makes the namespaces and service accounts with conc concurrent
// requests. Objects that already exist are kept (a given cluster may have
// them from an earlier run), so it can be re-run.
func (p population) create(ctx context.Context, kc kubernetes.Interface, conc int, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	for i := range min(p.Namespaces, p.Count) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.namespace(i)}}
		if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= p.Count {
					return
				}
				sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
					Namespace:   p.namespace(i),
					Name:        p.name(i),
					Labels:      map[string]string{"app.kubernetes.io/part-of": "whload"},
					Annotations: map[string]string{annotationClientID: p.clientID(i)},
				}}
				_, err := kc.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					errs[w] = fmt.Errorf("creating service account %s/%s: %w", sa.Namespace, sa.Name, err)
					cancel()
					return
				}
				if n := done.Add(1); n%2000 == 0 {
					fmt.Fprintf(progress, "  %d service accounts (%.0f/s)\n", n, float64(n)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}
