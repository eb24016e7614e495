package main

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// apiServiceAccount is service account i as a shared informer would store
// it with managed fields and secret references dropped: what the API server
// sets (uid, resourceVersion, creationTimestamp) plus the benchmark's label
// and client-id annotation. These benchmarks compare shared-informer shapes;
// the webhook's own compact store is measured by
// internal/webhook's BenchmarkServiceAccountCacheFootprint.
func apiServiceAccount(pop population, i int) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: pop.namespace(i), Name: pop.name(i),
		UID:               types.UID(fmt.Sprintf("%08x-1b2c-4d3e-8f40-%012x", i, i)),
		ResourceVersion:   fmt.Sprint(100000 + i),
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		Labels:            map[string]string{"app.kubernetes.io/part-of": "whload"},
		Annotations:       map[string]string{annotationClientID: pop.clientID(i)},
	}}
}

// minimalServiceAccount keeps only what the webhook reads: name, namespace,
// resourceVersion and the azure.workload.identity/* annotations.
func minimalServiceAccount(sa *corev1.ServiceAccount) *corev1.ServiceAccount {
	out := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.Namespace, Name: sa.Name, ResourceVersion: sa.ResourceVersion}}
	if v, ok := sa.Annotations[annotationClientID]; ok {
		out.Annotations = map[string]string{annotationClientID: v}
	}
	return out
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchFootprint reports the live heap per service account held in an
// indexer shaped like the shared informer's (namespace index).
func benchFootprint(b *testing.B, shape func(*corev1.ServiceAccount) *corev1.ServiceAccount) {
	pop := benchPop
	for b.Loop() {
		before := heapAlloc()
		idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		for i := range pop.Count {
			if err := idx.Add(shape(apiServiceAccount(pop, i))); err != nil {
				b.Fatal(err)
			}
		}
		after := heapAlloc()
		if len(idx.ListKeys()) != pop.Count {
			b.Fatalf("indexer holds %d, want %d", len(idx.ListKeys()), pop.Count)
		}
		b.ReportMetric(float64(after-before)/float64(pop.Count), "heapB/SA")
		runtime.KeepAlive(idx)
	}
}

// BenchmarkCacheFootprint: go test ./test/load/whload -run '^$' -bench Footprint -benchtime 3x
func BenchmarkCacheFootprintAsStored(b *testing.B) {
	benchFootprint(b, func(sa *corev1.ServiceAccount) *corev1.ServiceAccount { return sa })
}

func BenchmarkCacheFootprintMinimal(b *testing.B) { benchFootprint(b, minimalServiceAccount) }
