package reconciler

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// storageCluster converges 100 StatefulSets × 10 replicas on 10 nodes; with
// claims, each pod has a local-path claim (1,000 claims and volumes).
func storageCluster(b *testing.B, claims bool) Snapshot {
	ids := &seqIDs{}
	var s Snapshot
	for i := range 10 {
		s.Nodes = append(s.Nodes, readyNode(fmt.Sprintf("n%d", i), "100"))
	}
	for i := range 100 {
		sts := statefulSet(10, func(sts *appsv1.StatefulSet) {
			sts.Name, sts.UID = fmt.Sprintf("db-%d", i), types.UID(fmt.Sprintf("sts-%d", i))
			sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			if claims {
				sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources: corev1.VolumeResourceRequirements{Requests: gi("1Gi")}}}}
			}
		})
		s.StatefulSets = append(s.StatefulSets, sts)
	}
	for range 20 {
		w := Plan(s, t0, ids, FitScheduler{})
		s = applyStorage(s, w)
		ready := false
		for j, p := range s.Pods {
			if p.Spec.NodeName != "" && !podReady(p) {
				u := p.DeepCopy()
				u.Status.Phase = corev1.PodRunning
				u.Status.Conditions = append(u.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue,
					LastTransitionTime: metav1.NewTime(t0)})
				s.Pods[j] = u
				ready = true
			}
		}
		if w.Empty() && !ready {
			break
		}
	}
	if len(s.Pods) != 1000 || claims && (len(s.PersistentVolumeClaims) != 1000 || len(s.PersistentVolumes) != 1000) {
		b.Fatalf("converged to %d pods, %d claims, %d volumes", len(s.Pods), len(s.PersistentVolumeClaims), len(s.PersistentVolumes))
	}
	return s
}

// BenchmarkPlanVolumes measures a steady control-loop pass over 1,000
// StatefulSet pods with 1,000 bound local-path claims, beside the same
// pass without volumes measured in the same run (goal ≤ 1.5×: the volume
// controller and filter may not dominate a pass), and the pass that binds
// and provisions all 1,000 claims at once (goal ≤ 100 ms, a tenth of the
// 1 s the scheduler benchmark allows 5,000 pods).
func BenchmarkPlanVolumes(b *testing.B) {
	with := storageCluster(b, true)
	without := storageCluster(b, false)
	steady := func(s Snapshot, n int) time.Duration {
		start := time.Now()
		for range n {
			if w := Plan(s, t0, &seqIDs{n: 1 << 20}, FitScheduler{}); !w.Empty() {
				b.Fatalf("steady state planned %d writes, %d deletes", len(w.Puts), len(w.Deletes))
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	// The binding pass: the converged pods, their claims unbound.
	binding := with
	binding.PersistentVolumes = nil
	binding.PersistentVolumeClaims = nil
	for _, c := range with.PersistentVolumeClaims {
		u := c.DeepCopy()
		u.Spec.VolumeName = ""
		u.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		binding.PersistentVolumeClaims = append(binding.PersistentVolumeClaims, u)
	}
	var bindTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		steady(with, 1)
		start := time.Now()
		w := Plan(binding, t0, &seqIDs{n: 1 << 20}, FitScheduler{})
		bindTime += time.Since(start)
		if provisioned := countVolumes(w); provisioned != 1000 {
			b.Fatalf("binding pass provisioned %d volumes, want 1000", provisioned)
		}
	}
	b.StopTimer()
	perBind := bindTime / time.Duration(b.N)
	var withT, withoutT time.Duration // alternated, so load on the machine hits both alike
	for range 20 {
		withT += steady(with, 1)
		withoutT += steady(without, 1)
	}
	withT, withoutT = withT/20, withoutT/20
	ratio := float64(withT) / float64(withoutT)
	b.ReportMetric(float64(withT.Microseconds()), "µs/steady-pass")
	b.ReportMetric(ratio, "x_of_no_volumes")
	b.ReportMetric(float64(perBind.Milliseconds()), "ms/bind-1000")
	b.Logf("steady pass, 1,000 pods with claims: %v; without volumes: %v; ratio %.2f× (goal ≤ 1.5×)", withT, withoutT, ratio)
	b.Logf("binding + provisioning 1,000 claims in one pass: %v (goal ≤ 100ms: %.2f of it)", perBind, float64(perBind)/float64(100*time.Millisecond))
}

func countVolumes(w Writes) int {
	n := 0
	for _, o := range w.Puts {
		if _, ok := o.(*corev1.PersistentVolume); ok {
			n++
		}
	}
	return n
}
