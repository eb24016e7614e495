package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
)

// InformerServiceAccounts is a ServiceAccountGetter backed by an informer
// cache over every namespace, with an uncached GET on a cache miss (a
// service account created a moment before its pod may not have reached the
// cache yet), as upstream falls back to controller-runtime's API reader.
//
// The cache is client-go's Reflector (the list-and-watch engine inside every
// informer: paging, watch resumption, relists, backoff) feeding a compact
// store that keeps, per service account, only the annotations Mutate reads,
// a fraction of the heap a shared informer's *corev1.ServiceAccount takes
// (BenchmarkServiceAccountCacheFootprint; figures in docs/benchmarks.md).
type InformerServiceAccounts struct {
	client    kubernetes.Interface
	reflector *cache.Reflector
	store     *saStore
	done      chan struct{}
	started   atomic.Bool
}

// NewInformerServiceAccounts builds the cache; call Start to run it.
// resync 0 disables periodic resyncs (the webhook needs none).
func NewInformerServiceAccounts(client kubernetes.Interface, resync time.Duration) *InformerServiceAccounts {
	sas := client.CoreV1().ServiceAccounts(metav1.NamespaceAll)
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return listSlim(ctx, sas, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return sas.Watch(ctx, opts)
		},
	}, client)
	store := &saStore{items: map[saKey]saEntry{}}
	return &InformerServiceAccounts{
		client:    client,
		reflector: cache.NewReflectorWithOptions(lw, &corev1.ServiceAccount{}, store, cache.ReflectorOptions{Name: "wif webhook service accounts", ResyncPeriod: resync}),
		store:     store,
		done:      make(chan struct{}),
	}
}

// Start runs the cache until ctx is done; it does not block.
func (s *InformerServiceAccounts) Start(ctx context.Context) {
	if s.started.Swap(true) {
		return
	}
	go func() {
		defer close(s.done)
		s.reflector.RunWithContext(ctx)
	}()
}

// Shutdown waits for the cache's goroutine; Start's ctx must be done first,
// or Shutdown blocks forever. Without Start it returns at once.
func (s *InformerServiceAccounts) Shutdown() {
	if s.started.Load() {
		<-s.done
	}
}

// HasSynced reports whether the initial list has been loaded.
func (s *InformerServiceAccounts) HasSynced() bool { return s.store.synced.Load() }

// WaitForCacheSync blocks until the cache has synced or ctx is done.
func (s *InformerServiceAccounts) WaitForCacheSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), s.HasSynced)
}

// Len is the number of cached service accounts.
func (s *InformerServiceAccounts) Len() int { return s.store.len() }

// Cached returns the service account from the cache, once it has synced.
// A cached one carries its name, namespace and the annotations Mutate reads.
func (s *InformerServiceAccounts) Cached(namespace, name string) (*corev1.ServiceAccount, bool) {
	if !s.HasSynced() {
		return nil, false
	}
	e, ok := s.store.get(saKey{namespace, name})
	if !ok {
		return nil, false
	}
	return e.serviceAccount(namespace, name), true
}

// Get returns the service account from the cache, else from the API server.
// A cached one carries its name, namespace and the annotations Mutate reads.
// A missing service account yields an error wrapping ErrServiceAccountNotFound.
func (s *InformerServiceAccounts) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := s.Cached(namespace, name); ok {
		return sa, nil
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

// saAnnotations are the service account annotations Mutate reads, and all
// that the cache keeps of a service account besides its name.
var saAnnotations = [...]string{AnnotationClientID, AnnotationTenantID, AnnotationTokenExpiration}

type saKey struct{ namespace, name string }

// saEntry holds the values of saAnnotations; bit i of present says whether
// annotation i is set (an empty value is not the same as none).
type saEntry struct {
	values  [len(saAnnotations)]string
	present uint8
}

func entryOf(sa *corev1.ServiceAccount) saEntry {
	var e saEntry
	for i, k := range saAnnotations {
		if v, ok := sa.Annotations[k]; ok {
			e.values[i] = strings.Clone(v) // not a slice of a larger decode buffer
			e.present |= 1 << i
		}
	}
	return e
}

func (e saEntry) serviceAccount(namespace, name string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if e.present != 0 {
		sa.Annotations = make(map[string]string, len(saAnnotations))
		for i, k := range saAnnotations {
			if e.present&(1<<i) != 0 {
				sa.Annotations[k] = e.values[i]
			}
		}
	}
	return sa
}

// saStore is the Reflector's store.
type saStore struct {
	mu     sync.RWMutex
	items  map[saKey]saEntry
	synced atomic.Bool
}

var _ cache.TransformingStore = (*saStore)(nil)

func (s *saStore) get(k saKey) (saEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.items[k]
	return e, ok
}

func (s *saStore) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

// keyOf accepts what a Reflector hands a store: service accounts, and on
// delete possibly a tombstone.
func keyOf(obj any) (saKey, *corev1.ServiceAccount, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return saKey{}, nil, fmt.Errorf("webhook: service account cache: unexpected %T", obj)
	}
	return saKey{strings.Clone(sa.Namespace), strings.Clone(sa.Name)}, sa, nil
}

func (s *saStore) Add(obj any) error { return s.Update(obj) }

func (s *saStore) Update(obj any) error {
	k, sa, err := keyOf(obj)
	if err != nil {
		return err
	}
	e := entryOf(sa)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[k] = e
	return nil
}

func (s *saStore) Delete(obj any) error {
	k, _, err := keyOf(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, k)
	return nil
}

// Replace swaps in a full list (the initial one, or a relist) and marks
// the cache synced.
func (s *saStore) Replace(list []any, _ string) error {
	items := make(map[saKey]saEntry, len(list))
	for _, obj := range list {
		k, sa, err := keyOf(obj)
		if err != nil {
			return err
		}
		items[k] = entryOf(sa)
	}
	s.mu.Lock()
	s.items = items
	s.mu.Unlock()
	s.synced.Store(true)
	return nil
}

// listPageSize is the page size of listSlim's lists.
const listPageSize = 500

// listSlim lists service accounts for the Reflector, in pages whose items
// are slimmed (slimServiceAccount) as each arrives, and returns them as one
// complete list. The Reflector's own first list asks for any version
// (resourceVersion "0"), which the API server answers from its watch cache
// in one piece, ignoring the page size, so that every full object would be
// held at once. Here that list is made a paged one of the latest version,
// and a relist at a version one of that version or newer (what the
// Reflector's unpaged list means), so at most a page of full objects is
// held at a time. Should the API server refuse such a paged list, the list
// is made as asked, and only slimmed.
func listSlim(ctx context.Context, sas typedcorev1.ServiceAccountInterface, asked metav1.ListOptions) (*corev1.ServiceAccountList, error) {
	opts := asked
	switch {
	case opts.ResourceVersion == "0":
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	case opts.ResourceVersion != "" && opts.ResourceVersionMatch == "":
		opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan // paged, a bare version would mean exactly it
	}
	opts.Limit, opts.Continue = listPageSize, ""
	var out corev1.ServiceAccountList
	for {
		page, err := sas.List(ctx, opts)
		if err != nil && opts.Continue == "" && opts != asked && apierrors.IsBadRequest(err) {
			opts = asked // the API server refused the paged list: make it as asked
			page, err = sas.List(ctx, opts)
		}
		if err != nil {
			return nil, err
		}
		if out.Items == nil {
			out.TypeMeta, out.ListMeta = page.TypeMeta, page.ListMeta
			n := len(page.Items)
			if page.RemainingItemCount != nil {
				n += int(*page.RemainingItemCount)
			}
			out.Items = make([]corev1.ServiceAccount, 0, n)
		}
		for i := range page.Items {
			out.Items = append(out.Items, *slimServiceAccount(&page.Items[i]))
		}
		if page.Continue == "" || opts.Limit == 0 {
			break
		}
		// Further pages name only the continuation, which carries the version.
		opts.ResourceVersion, opts.ResourceVersionMatch, opts.Continue = "", "", page.Continue
	}
	out.Continue, out.RemainingItemCount = "", nil
	return &out, nil
}

// Resync is a no-op: there are no handlers to replay events to.
func (s *saStore) Resync() error { return nil }

// Transformer makes saStore a cache.TransformingStore. Where the Reflector
// streams the initial list (watch-list, which client-go tries first,
// falling back to listSlim when the API server does not serve it), it then
// slims each service account it buffers before handing them all to Replace,
// instead of holding every full object until then.
func (s *saStore) Transformer() cache.TransformFunc { return slimObject }

// slimObject slims service accounts (slimServiceAccount) and passes
// anything else unchanged.
func slimObject(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	return slimServiceAccount(sa), nil
}

// slimServiceAccount copies of sa its key, resource version and the
// annotations Mutate reads.
func slimServiceAccount(sa *corev1.ServiceAccount) *corev1.ServiceAccount {
	slim := entryOf(sa).serviceAccount(strings.Clone(sa.Namespace), strings.Clone(sa.Name))
	slim.ResourceVersion = strings.Clone(sa.ResourceVersion)
	return slim
}
