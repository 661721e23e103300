package remote_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// timeIt runs fn n times and returns the mean duration.
func timeIt(b *testing.B, n int, fn func(i int)) time.Duration {
	b.Helper()
	start := time.Now()
	for i := range n {
		fn(i)
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkStatusWrite measures a pod status write from a remote node
// (read from the cache, PUT over mutual TLS, server transaction) beside the
// same write by an in-process agent on the server's store (the anchor),
// measured in the same run.
func BenchmarkStatusWrite(b *testing.B) {
	e := newEnv(b, pod("a", "n2"))
	key := manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "a"}
	write := func(m interface {
		Mutate(manifest.Key, func(manifest.Object) (manifest.Object, error)) error
	}, i int) {
		if err := m.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
			p := cur.(*corev1.Pod).DeepCopy()
			p.Status.Message = fmt.Sprint(i)
			return p, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	local := timeIt(b, max(b.N, 20), func(i int) { write(e.server, i) })
	b.ResetTimer()
	remoteMean := timeIt(b, b.N, func(i int) { write(e.rs, i) })
	b.StopTimer()
	b.ReportMetric(float64(remoteMean.Microseconds()), "remote_us/write")
	b.ReportMetric(float64(local.Microseconds()), "local_us/write")
	b.ReportMetric(float64(remoteMean)/float64(local), "remote/local")
	b.Logf("pod status write: remote node %v, in-process %v (anchor), ratio %.1f", remoteMean, local, float64(remoteMean)/float64(local))
}

// BenchmarkWatchPropagation measures how long a change committed on the
// server takes to reach a remote node's cache (Notify fired, Get sees it)
// beside an in-process Notify on the server's store (the anchor), in the
// same run. Goal: well under the node agent's 1 s pass cadence.
func BenchmarkWatchPropagation(b *testing.B) {
	e := newEnv(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remoteCh := e.rs.Notify(ctx, manifest.KindConfigMap)
	localCh := e.server.Notify(ctx, manifest.KindConfigMap)
	put := func(i int) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "cm"}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := e.server.Apply([]manifest.Object{cm}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	drain := func() {
		for {
			select {
			case <-remoteCh:
			case <-localCh:
			case <-time.After(20 * time.Millisecond):
				return
			}
		}
	}
	drain()
	local := timeIt(b, max(b.N, 20), func(i int) {
		put(i)
		<-localCh
	})
	drain()
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		start := time.Now()
		put(i)
		for {
			<-remoteCh
			obj, err := e.rs.Get(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "x", Name: "cm"})
			if err == nil && obj.(*corev1.ConfigMap).Data["i"] == fmt.Sprint(i) {
				break
			}
		}
		total += time.Since(start)
	}
	b.StopTimer()
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds()), "remote_us/change")
	b.ReportMetric(float64(local.Microseconds()), "local_us/change")
	b.ReportMetric(float64(mean)/float64(local), "remote/local")
	b.Logf("change → remote cache %v, in-process notify %v (anchor), ratio %.1f",
		mean, local, float64(mean)/float64(local))
}
