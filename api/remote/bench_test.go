package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	// n2 reads only the ConfigMaps its pods use: one of them mounts x/cm.
	user := pod("user", "n2")
	user.Namespace = "x"
	user.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}}}
	e := newEnv(b, user)
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

// BenchmarkNodeGraphList measures a node's list of Secrets on the agent
// listener, filtered to those its pods reference (Kubernetes' Node
// authorizer: the node's pods are read to build the graph), with 1,000
// pods (half on n2, each using its own Secret) and 1,000 Secrets, beside
// the plain list of the same 1,000 pods (the anchor), in the same run.
func BenchmarkNodeGraphList(b *testing.B) {
	const n = 1000
	var objs []manifest.Object
	for i := range n {
		node := "n1"
		if i%2 == 0 {
			node = "n2"
		}
		p := pod(fmt.Sprintf("p%04d", i), node)
		p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: fmt.Sprintf("s%04d", i)}}}}
		objs = append(objs, p, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("s%04d", i)},
			Data: map[string][]byte{"k": []byte("v")}})
	}
	e := newEnv(b, objs...)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.tls}}
	list := func(path string, want int) {
		resp, err := hc.Get(e.srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || len(l.Items) != want {
			b.Fatalf("GET %s: %d items (%v), want %d", path, len(l.Items), err, want)
		}
	}
	anchor := timeIt(b, max(b.N, 5), func(int) { list("/api/v1/pods", n) })
	b.ResetTimer()
	filtered := timeIt(b, b.N, func(int) { list("/api/v1/secrets", n/2) })
	b.StopTimer()
	b.ReportMetric(float64(filtered.Microseconds()), "graph_us/list")
	b.ReportMetric(float64(anchor.Microseconds()), "pods_us/list")
	b.ReportMetric(float64(filtered)/float64(anchor), "graph/pods")
	b.Logf("n2 lists its 500 of 1,000 Secrets (node graph) %v, plain list of the 1,000 pods %v (anchor), ratio %.2f",
		filtered, anchor, float64(filtered)/float64(anchor))
}
