package reconciler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkPlanSteady1000Pods measures one control-loop pass over a steady
// cluster of 10 nodes, 100 deployments × 10 replicas (1,000 pods), each
// with a Service and its Endpoints, where nothing needs doing: the cost
// every wake-up pays.
func BenchmarkPlanSteady1000Pods(b *testing.B) {
	ids := &seqIDs{}
	var nodes []*corev1.Node
	for i := 0; i < 10; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("n%d", i), "100"))
	}
	s := Snapshot{Nodes: nodes}
	for i := 0; i < 100; i++ {
		d := deployment(fmt.Sprintf("app-%d", i), 10, "img:1")
		d.UID = types.UID(fmt.Sprintf("d-%d", i))
		s.Deployments = append(s.Deployments, d)
		svc := service(d.Name, fmt.Sprintf("10.43.1.%d", i+1))
		svc.Spec.Selector = map[string]string{"app": d.Name}
		s.Services = append(s.Services, svc)
	}
	s.ConfigMaps = append(s.ConfigMaps, configMap("x"))
	s = converge(b, s, ids)
	if len(s.Endpoints) != 100 {
		b.Fatalf("%d endpoints after converging; want 100", len(s.Endpoints))
	}
	b.ResetTimer()
	for b.Loop() {
		if w := Plan(s, t0, ids, FitScheduler{}); !w.Empty() {
			b.Fatalf("steady state planned %d writes", len(w.Puts)+len(w.Deletes))
		}
	}
}
