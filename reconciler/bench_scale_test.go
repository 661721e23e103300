package reconciler

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Anchors and goals of issue 4's benchmarks.
const (
	kubeSchedulerFloorPodsPerSec = 680 // scheduler_perf, 5,000 nodes: 680–810 pods/s
	schedulerGoalPodsPerSec      = 5000
	commitGoal                   = 2 * time.Second
)

func openBenchStore(b *testing.B) *state.Store {
	b.Helper()
	st, err := state.Open(filepath.Join(b.TempDir(), "state.db"), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchNodes(n int, cpu string) []manifest.Object {
	out := make([]manifest.Object, n)
	for i := range out {
		node := readyNode(fmt.Sprintf("node-%05d", i), cpu)
		node.Labels = map[string]string{"kubernetes.io/hostname": node.Name, "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)}
		out[i] = node
	}
	return out
}

// BenchmarkScheduler5000Nodes binds 10,000 pending pods onto 5,000
// simulated nodes: one control-loop pass reads them from bbolt, plans the
// bindings and commits them to bbolt. Reported beside kube-scheduler's
// scheduler_perf floor at 5,000 nodes (680–810 pods/s) and the goal of
// 5,000 pods/s.
func BenchmarkScheduler5000Nodes(b *testing.B) {
	const nodes, pods = 5000, 10000
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		st := openBenchStore(b)
		objs := benchNodes(nodes, "4")
		for i := 0; i < pods; i++ {
			objs = append(objs, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img:1", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				}}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending},
			})
		}
		if _, err := st.Apply(objs, nil, nil); err != nil {
			b.Fatal(err)
		}
		r := New(Config{Store: st})
		b.StartTimer()
		start := time.Now()
		if _, err := r.pass(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		bound, _ := st.List(manifest.KindPod, "")
		for _, o := range bound {
			if o.(*corev1.Pod).Spec.NodeName == "" {
				b.Fatalf("pod %s not bound", o.GetName())
			}
		}
		b.StartTimer()
	}
	perSec := float64(pods) * float64(b.N) / total.Seconds()
	b.ReportMetric(perSec, "pods/s")
	b.ReportMetric(perSec/kubeSchedulerFloorPodsPerSec, "x_kube-scheduler_floor")
	b.ReportMetric(perSec/schedulerGoalPodsPerSec, "x_goal")
	b.Logf("scheduler: %d pods onto %d nodes, bindings in bbolt: %.0f pods/s = %.1f× kube-scheduler's scheduler_perf floor (680–810 pods/s), %.2f× the goal (%d pods/s)",
		pods, nodes, perSec, perSec/kubeSchedulerFloorPodsPerSec, perSec/schedulerGoalPodsPerSec, schedulerGoalPodsPerSec)
}

// BenchmarkCommit1000Deployments applies one commit holding 1,000
// Deployments of 10 replicas and runs control-loop passes against bbolt
// until every intent is written: 1,000 ReplicaSets and 10,000 pods, each
// bound to one of 100 nodes. Goal ≤ 2 s.
func BenchmarkCommit1000Deployments(b *testing.B) {
	const deployments, replicas = 1000, 10
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		st := openBenchStore(b)
		if _, err := st.Apply(benchNodes(100, "200"), nil, nil); err != nil {
			b.Fatal(err)
		}
		rev := &manifest.Revision{SHA: "c0ffee"}
		for i := 0; i < deployments; i++ {
			d := deployment(fmt.Sprintf("app-%04d", i), replicas, "img:1")
			d.UID = ""
			d.Spec.Template.Spec.Containers[0].Env = nil
			rev.Objects = append(rev.Objects, d)
		}
		r := New(Config{Store: st})
		ctx := context.Background()
		b.StartTimer()
		start := time.Now()
		if err := r.Apply(ctx, rev, manifest.SyncRecord{SHA: rev.SHA}); err != nil {
			b.Fatal(err)
		}
		// Passes until every pod has been committed bound to a node.
		bound := map[string]bool{}
		for passes := 0; len(bound) < deployments*replicas; passes++ {
			if passes > 5 {
				b.Fatalf("%d of %d pods bound after %d passes", len(bound), deployments*replicas, passes)
			}
			w, err := r.passWrites()
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range w.Puts {
				if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName != "" {
					bound[p.Namespace+"/"+p.Name] = true
				}
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		pods, err := st.List(manifest.KindPod, "")
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range pods {
			if o.(*corev1.Pod).Spec.NodeName == "" {
				b.Fatalf("pod %s stored unbound", o.GetName())
			}
		}
		if len(pods) != deployments*replicas {
			b.Fatalf("%d pods stored, want %d", len(pods), deployments*replicas)
		}
		b.StartTimer()
		total += elapsed
	}
	per := total / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/commit")
	b.ReportMetric(per.Seconds()/commitGoal.Seconds(), "x_goal")
	b.Logf("one commit of %d Deployments (%d pods) until every pod is written and bound: %v = %.2f× the goal (≤ %v)",
		deployments, deployments*replicas, per.Round(time.Millisecond), per.Seconds()/commitGoal.Seconds(), commitGoal)
}
