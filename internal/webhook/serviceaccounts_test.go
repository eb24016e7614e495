package webhook

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// TestSAStore: the store keeps exactly the annotations Mutate reads, tells
// an empty value from an absent one, and follows adds, updates, deletes
// (tombstones included) and relists.
func TestSAStore(t *testing.T) {
	s := &saStore{items: map[saKey]saEntry{}}
	get := func(ns, name string) map[string]string {
		t.Helper()
		e, ok := s.get(saKey{ns, name})
		if !ok {
			return nil
		}
		sa := e.serviceAccount(ns, name)
		if sa.Namespace != ns || sa.Name != name {
			t.Errorf("serviceAccount(%s, %s) = %s/%s", ns, name, sa.Namespace, sa.Name)
		}
		if sa.Annotations == nil {
			return map[string]string{}
		}
		return sa.Annotations
	}
	if err := s.Replace([]any{
		testSA("a", "full", map[string]string{AnnotationClientID: "c", AnnotationTenantID: "", AnnotationTokenExpiration: "3600", "other": "x", AnnotationSkipContainers: "y"}),
		testSA("a", "plain", nil),
	}, "1"); err != nil {
		t.Fatal(err)
	}
	if !s.synced.Load() || s.len() != 2 {
		t.Fatalf("after Replace: synced %v, len %d", s.synced.Load(), s.len())
	}
	if diff := cmp.Diff(map[string]string{AnnotationClientID: "c", AnnotationTenantID: "", AnnotationTokenExpiration: "3600"}, get("a", "full")); diff != "" {
		t.Errorf("full (-want +got):\n%s", diff)
	}
	if got := get("a", "plain"); got == nil || len(got) != 0 {
		t.Errorf("plain = %v, want cached without annotations", got)
	}
	if err := s.Update(testSA("a", "plain", map[string]string{AnnotationClientID: "d"})); err != nil {
		t.Fatal(err)
	}
	if got := get("a", "plain")[AnnotationClientID]; got != "d" {
		t.Errorf("after Update: client id %q", got)
	}
	if err := s.Add(testSA("b", "new", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(cache.DeletedFinalStateUnknown{Key: "a/full", Obj: testSA("a", "full", nil)}); err != nil {
		t.Fatal(err)
	}
	if get("a", "full") != nil || get("b", "new") == nil || s.len() != 2 {
		t.Errorf("after Add and tombstone Delete: full %v, new %v, len %d", get("a", "full"), get("b", "new"), s.len())
	}
	if err := s.Add(&corev1.Pod{}); err == nil {
		t.Error("Add of a pod accepted")
	}
	if err := s.Replace(nil, "2"); err != nil || s.len() != 0 {
		t.Errorf("relist to nothing: len %d, %v", s.len(), err)
	}
}

// TestInformerServiceAccountsWatch: creations, changes and deletions made
// after the initial list reach the cache through the watch.
func TestInformerServiceAccountsWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	client := fake.NewClientset(testSA("apps", "first", map[string]string{AnnotationClientID: "1"}))
	sas := NewInformerServiceAccounts(client, 0)
	sas.Start(ctx)
	defer func() { cancel(); sas.Shutdown() }()
	if !sas.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	core := client.CoreV1().ServiceAccounts("apps")
	if _, err := core.Create(ctx, testSA("apps", "second", map[string]string{AnnotationClientID: "2"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Update(ctx, testSA("apps", "first", map[string]string{AnnotationClientID: "1b"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := core.Delete(ctx, "second", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Create(ctx, testSA("apps", "third", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cached := func(name string) (saEntry, bool) { return sas.store.get(saKey{"apps", name}) }
	deadline := time.Now().Add(10 * time.Second)
	for {
		first, _ := cached("first")
		_, second := cached("second")
		_, third := cached("third")
		if first.values[0] == "1b" && !second && third {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache did not follow the watch: first %+v, second cached %v, third cached %v", first, second, third)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sas.Len() != 2 {
		t.Errorf("Len = %d, want 2", sas.Len())
	}
}

// TestListSlim: an any-version or latest list is fetched in pages of the
// latest version and comes back whole, every item slimmed to its key,
// resource version and the annotations Mutate reads; a list at a given
// version is one request as asked.
func TestListSlim(t *testing.T) {
	client := fake.NewClientset()
	const n = 2*listPageSize + 7
	var all []corev1.ServiceAccount
	for i := range n {
		sa := testSA("ns", fmt.Sprintf("sa-%04d", i), map[string]string{AnnotationClientID: fmt.Sprint(i), "other": "x"})
		sa.ResourceVersion, sa.UID = fmt.Sprint(100+i), types.UID(fmt.Sprint("uid-", i))
		sa.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
		sa.Secrets = []corev1.ObjectReference{{Name: "token"}}
		all = append(all, *sa)
	}
	var asked []metav1.ListOptions
	client.PrependReactor("list", "serviceaccounts", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		opts := a.(k8stesting.ListActionImpl).ListOptions
		asked = append(asked, opts)
		from := 0
		if opts.Continue != "" {
			from, _ = strconv.Atoi(opts.Continue)
		}
		to := n
		if opts.Limit > 0 {
			to = min(from+int(opts.Limit), n)
		}
		page := &corev1.ServiceAccountList{ListMeta: metav1.ListMeta{ResourceVersion: "999"}, Items: all[from:to]}
		if to < n {
			page.Continue = strconv.Itoa(to)
		}
		return true, page, nil
	})
	sas := client.CoreV1().ServiceAccounts("")

	for _, rv := range []string{"0", ""} {
		asked = nil
		list, err := listSlim(t.Context(), sas, metav1.ListOptions{ResourceVersion: rv, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(asked) != 3 {
			t.Fatalf("resourceVersion %q: %d requests, want 3 pages", rv, len(asked))
		}
		for i, o := range asked {
			if o.ResourceVersion != "" || o.Limit != listPageSize || (i > 0) != (o.Continue != "") {
				t.Errorf("resourceVersion %q: request %d: %+v", rv, i, o)
			}
		}
		if list.ResourceVersion != "999" || list.Continue != "" || len(list.Items) != n {
			t.Fatalf("resourceVersion %q: list version %q, continue %q, %d items", rv, list.ResourceVersion, list.Continue, len(list.Items))
		}
		want := corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sa-0513", ResourceVersion: "613",
			Annotations: map[string]string{AnnotationClientID: "513"}}}
		if diff := cmp.Diff(want, list.Items[513]); diff != "" {
			t.Errorf("resourceVersion %q: item 513 (-want +got):\n%s", rv, diff)
		}
	}

	// A relist at a version: pages of that version or newer, the
	// continuation alone naming the version after the first.
	asked = nil
	list, err := listSlim(t.Context(), sas, metav1.ListOptions{ResourceVersion: "42"})
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 3 || len(list.Items) != n || list.Items[0].ManagedFields != nil {
		t.Fatalf("at a version: %d requests, %d items", len(asked), len(list.Items))
	}
	if o := asked[0]; o.ResourceVersion != "42" || o.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan || o.Limit != listPageSize {
		t.Errorf("at a version: first request %+v", o)
	}
	if o := asked[1]; o.ResourceVersion != "" || o.ResourceVersionMatch != "" || o.Continue == "" {
		t.Errorf("at a version: second request %+v", o)
	}

	// An API server that refuses the paged list gets the list as asked.
	refusing := fake.NewClientset()
	var refused []metav1.ListOptions
	refusing.PrependReactor("list", "serviceaccounts", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		opts := a.(k8stesting.ListActionImpl).ListOptions
		refused = append(refused, opts)
		if opts.Limit > 0 {
			return true, nil, apierrors.NewBadRequest("no paging here")
		}
		return true, &corev1.ServiceAccountList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: all}, nil
	})
	list, err = listSlim(t.Context(), refusing.CoreV1().ServiceAccounts(""), metav1.ListOptions{ResourceVersion: "42"})
	if err != nil || len(list.Items) != n || list.ResourceVersion != "7" || list.Items[1].ManagedFields != nil {
		t.Fatalf("refused paging: %v, %d items", err, len(list.Items))
	}
	if len(refused) != 2 || refused[1] != (metav1.ListOptions{ResourceVersion: "42"}) {
		t.Errorf("refused paging: requests %+v, want the paged one then the one asked", refused)
	}

	pod := &corev1.Pod{}
	if got, err := slimObject(pod); got != pod || err != nil {
		t.Errorf("slimObject(pod) = %v, %v; want it unchanged", got, err)
	}

	client.PrependReactor("list", "serviceaccounts", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		return true, nil, errors.New("boom")
	})
	if _, err := listSlim(t.Context(), sas, metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("list error: %v", err)
	}
}

// BenchmarkServiceAccountCacheFootprint reports the live heap per cached
// service account, each shaped as the API server sends it (uid,
// resourceVersion, creationTimestamp, a label and a client-id annotation).
// test/load/whload's BenchmarkCacheFootprint* measure the shared informer's
// indexer with whole and trimmed objects, for comparison.
func BenchmarkServiceAccountCacheFootprint(b *testing.B) {
	const n = 10000
	list := make([]any, n)
	for i := range list {
		list[i] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Namespace: fmt.Sprintf("whload-%03d", i%100), Name: fmt.Sprintf("workload-%05d", i),
			UID:               types.UID(fmt.Sprintf("%08x-1b2c-4d3e-8f40-%012x", i, i)),
			ResourceVersion:   fmt.Sprint(100000 + i),
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
			Labels:            map[string]string{"app.kubernetes.io/part-of": "whload"},
			Annotations:       map[string]string{AnnotationClientID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)},
		}}
	}
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		before := live()
		s := &saStore{items: map[saKey]saEntry{}}
		if err := s.Replace(list, "1"); err != nil {
			b.Fatal(err)
		}
		after := live()
		b.ReportMetric(float64(after-before)/n, "heapB/SA")
		runtime.KeepAlive(s)
	}
}
