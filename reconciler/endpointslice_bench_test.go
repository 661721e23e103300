package reconciler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BenchmarkEndpointSlices computes the EndpointSlices of 100 Services × 10
// pods (named target ports resolved per pod) beside their Endpoints, the
// anchor, measured in the same run: what keeping slices costs a pass.
// Goal: ≤ 1.5× the Endpoints computation.
func BenchmarkEndpointSlices(b *testing.B) {
	type svcPods struct {
		svc  *corev1.Service
		pods []*corev1.Pod
	}
	var all []svcPods
	for i := range 100 {
		name := fmt.Sprintf("app-%d", i)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}}}
		var pods []*corev1.Pod
		for j := range 10 {
			p := epPod(fmt.Sprintf("%s-%d", name, j), fmt.Sprintf("10.42.%d.%d", i, j+2), j%5 != 0,
				corev1.ContainerPort{Name: "http", ContainerPort: 8080})
			p.Labels = map[string]string{"app": name}
			pods = append(pods, p)
		}
		all = append(all, svcPods{svc, pods})
	}
	var tEP, tSlices time.Duration
	for b.Loop() {
		start := time.Now()
		for _, sp := range all {
			if len(EndpointSubsets(sp.svc, sp.pods)) != 1 {
				b.Fatal("want one subset")
			}
		}
		tEP += time.Since(start)
		start = time.Now()
		for _, sp := range all {
			if s := serviceSliceContents(sp.svc, sp.pods); len(s) != 1 || len(s[0].endpoints) != 10 {
				b.Fatal("want one slice of 10")
			}
		}
		tSlices += time.Since(start)
	}
	n := float64(b.N)
	ratio := float64(tSlices) / float64(tEP)
	b.ReportMetric(float64(tSlices.Microseconds())/n, "µs/slices")
	b.ReportMetric(float64(tEP.Microseconds())/n, "µs/endpoints")
	b.ReportMetric(ratio, "x-endpoints")
	b.Logf("slices of 100 services × 10 pods: %.0f µs vs Endpoints %.0f µs (%.2f×; goal ≤ 1.5×)",
		float64(tSlices.Microseconds())/n, float64(tEP.Microseconds())/n, ratio)
}
