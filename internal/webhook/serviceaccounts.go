package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// InformerServiceAccounts is a ServiceAccountGetter backed by a shared
// informer over every namespace, with an uncached GET on a cache miss (a
// service account created a moment before its pod may not have reached the
// cache yet), as upstream falls back to controller-runtime's API reader.
type InformerServiceAccounts struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   corelisters.ServiceAccountLister
}

// NewInformerServiceAccounts builds the informer; call Start to run it.
// resync 0 disables periodic resyncs (the webhook needs none).
func NewInformerServiceAccounts(client kubernetes.Interface, resync time.Duration) *InformerServiceAccounts {
	factory := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(slimServiceAccount))
	sas := factory.Core().V1().ServiceAccounts()
	return &InformerServiceAccounts{
		client:   client,
		factory:  factory,
		informer: sas.Informer(),
		lister:   sas.Lister(),
	}
}

// slimServiceAccount drops what the webhook never reads (managed fields,
// secret references) to keep a cluster-wide cache small.
func slimServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	// Keep only what Mutate reads (the workload identity annotations) and
	// what the cache needs (name, namespace, uid, resource version): with
	// 10k service accounts every byte counts.
	var ann map[string]string
	for k, v := range sa.Annotations {
		if strings.HasPrefix(k, annotationPrefix) {
			if ann == nil {
				ann = map[string]string{}
			}
			ann[k] = v
		}
	}
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: sa.Name, Namespace: sa.Namespace, UID: sa.UID, ResourceVersion: sa.ResourceVersion, Annotations: ann,
	}}, nil
}

// annotationPrefix is the prefix of every annotation Mutate reads.
const annotationPrefix = "azure.workload.identity/"

// Start runs the informer until ctx is done; it does not block.
func (s *InformerServiceAccounts) Start(ctx context.Context) { s.factory.Start(ctx.Done()) }

// Shutdown waits for the informer goroutines; Start's ctx must be done
// first, or Shutdown blocks forever.
func (s *InformerServiceAccounts) Shutdown() { s.factory.Shutdown() }

// HasSynced reports whether the initial list has been loaded.
func (s *InformerServiceAccounts) HasSynced() bool { return s.informer.HasSynced() }

// WaitForCacheSync blocks until the cache has synced or ctx is done.
func (s *InformerServiceAccounts) WaitForCacheSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), s.informer.HasSynced)
}

// Len is the number of cached service accounts.
func (s *InformerServiceAccounts) Len() int { return len(s.informer.GetIndexer().ListKeys()) }

// Get returns the service account from the cache, else from the API server.
// The result is shared with the cache and must not be modified. A missing
// service account yields an error wrapping ErrServiceAccountNotFound.
func (s *InformerServiceAccounts) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if s.informer.HasSynced() {
		sa, err := s.lister.ServiceAccounts(namespace).Get(name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("webhook: service account cache: %w", err)
		}
	}
	sa, err := s.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("webhook: service account %s/%s: %w", namespace, name, ErrServiceAccountNotFound)
	case err != nil:
		return nil, fmt.Errorf("webhook: getting service account %s/%s: %w", namespace, name, err)
	}
	return sa, nil
}
