package reconciler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkPlanAdmission1000Pods measures the pass that creates 1,000 pods
// (100 Deployments × 10 replicas on 10 nodes) with a ResourceQuota and a
// LimitRange in each Deployment's namespace, beside the same pass with
// neither (its pods already carrying the resources the LimitRange fills
// in), measured in the same run: admission's share of pod creation.
// Goal: ≤ 1.25× the pass without admission.
func BenchmarkPlanAdmission1000Pods(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 10 {
		nodes = append(nodes, readyNode(fmt.Sprintf("n%d", i), "1000"))
	}
	plain := Snapshot{Nodes: nodes, ConfigMaps: []*corev1.ConfigMap{configMap("x")}}
	for i := range 100 {
		d := deployment(fmt.Sprintf("app-%d", i), 10, "img:1")
		d.UID = types.UID(fmt.Sprintf("d-%d", i))
		plain.Deployments = append(plain.Deployments, d)
	}
	// The plain pass's pods carry what the LimitRange fills in for the
	// admitted ones, so both schedule the same requests.
	admitted := plain
	admitted.Deployments = nil
	for _, d := range plain.Deployments {
		admitted.Deployments = append(admitted.Deployments, d.DeepCopy())
		c := &d.Spec.Template.Spec.Containers[0]
		c.Resources.Requests = rl("cpu", "100m", "memory", "16Mi")
		c.Resources.Limits = rl("cpu", "2", "memory", "16Mi")
	}
	admitted.ResourceQuotas = []*corev1.ResourceQuota{quota("compute", rl("pods", "2000", "requests.cpu", "1000", "limits.memory", "1000Gi"))}
	admitted.LimitRanges = []*corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Default: rl("memory", "16Mi"), Max: rl("cpu", "2", "memory", "1Gi")}}}}}
	pods := func(w Writes) int {
		n := 0
		for _, o := range w.Puts {
			if _, ok := o.(*corev1.Pod); ok {
				n++
			}
		}
		return n
	}
	var tPlain, tAdmit time.Duration
	odd := false
	for b.Loop() {
		// Alternate which pass goes first, so garbage one leaves behind is
		// collected during the other as often.
		var w, wa Writes
		planPlain := func() {
			start := time.Now()
			w = Plan(plain, t0, &seqIDs{}, FitScheduler{})
			tPlain += time.Since(start)
		}
		planAdmitted := func() {
			start := time.Now()
			wa = Plan(admitted, t0, &seqIDs{}, FitScheduler{})
			tAdmit += time.Since(start)
		}
		if odd = !odd; odd {
			planPlain()
			planAdmitted()
		} else {
			planAdmitted()
			planPlain()
		}
		if pods(w) != 1000 || pods(wa) != 1000 {
			b.Fatalf("created %d and %d pods; want 1000 each", pods(w), pods(wa))
		}
	}
	n := float64(b.N)
	ratio := float64(tAdmit) / float64(tPlain)
	b.ReportMetric(float64(tAdmit.Microseconds())/n/1000, "ms/pass-admission")
	b.ReportMetric(float64(tPlain.Microseconds())/n/1000, "ms/pass-plain")
	b.ReportMetric(ratio, "x-plain")
	b.Logf("1,000 pods through quota + LimitRange admission: %.1f ms a pass vs %.1f ms without (%.2f×; goal ≤ 1.25×)",
		float64(tAdmit.Microseconds())/n/1000, float64(tPlain.Microseconds())/n/1000, ratio)
}
