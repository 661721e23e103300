package reconciler

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkScheduler5000NodesAffinity is BenchmarkScheduler5000Nodes
// (10,000 pending pods onto 5,000 nodes in one pass, bindings committed to
// bbolt) with, in the "10pct" case, 10% of the pods constrained: 100 groups
// of 10 pods, half of them with required pod anti-affinity by hostname
// against their own group, half with a DoNotSchedule
// topologySpreadConstraint (maxSkew 1) across the 3 zones; every other pod
// is checked against the placed pods' anti-affinity too. The "0pct" case
// has no constraints. Besides wall-clock pods/s it reports pods per
// CPU-second of the process, which a machine shared with other work does
// not distort. Same anchors and goal.
func BenchmarkScheduler5000NodesAffinity(b *testing.B) {
	b.Run("0pct", func(b *testing.B) { benchSchedulerConstrained(b, false) })
	b.Run("10pct", func(b *testing.B) { benchSchedulerConstrained(b, true) })
}

func benchSchedulerConstrained(b *testing.B, constrained bool) {
	const nodes, pods = 5000, 10000
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		st := openBenchStore(b)
		objs := benchNodes(nodes, "4")
		for i := 0; i < pods; i++ {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default", Labels: map[string]string{"app": fmt.Sprintf("plain-%d", i%100)}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img:1", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				}}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending},
			}
			if constrained && i%10 == 0 { // 10%: groups of 10
				group := fmt.Sprintf("group-%d", (i/10)%100)
				p.Labels = map[string]string{"app": group}
				sel := &metav1.LabelSelector{MatchLabels: p.Labels}
				if (i/10)%2 == 0 {
					p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
						{LabelSelector: sel, TopologyKey: "kubernetes.io/hostname"}}}}
				} else {
					p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
						WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel}}
				}
			}
			objs = append(objs, p)
		}
		if _, err := st.Apply(objs, nil, nil); err != nil {
			b.Fatal(err)
		}
		r := New(Config{Store: st})
		b.StartTimer()
		start, cpuStart := time.Now(), cpuTime()
		if _, err := r.pass(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		cpu += cpuTime() - cpuStart
		b.StopTimer()
		bound, _ := st.List(manifest.KindPod, "")
		perZone := map[string]map[string]int{}
		perNode := map[string]map[string]int{}
		for _, o := range bound {
			p := o.(*corev1.Pod)
			if p.Spec.NodeName == "" {
				b.Fatalf("pod %s not bound", p.Name)
			}
			app := p.Labels["app"]
			if perZone[app] == nil {
				perZone[app], perNode[app] = map[string]int{}, map[string]int{}
			}
			var idx int
			fmt.Sscanf(p.Spec.NodeName, "node-%d", &idx)
			perZone[app][fmt.Sprintf("zone-%d", idx%3)]++
			perNode[app][p.Spec.NodeName]++
		}
		for g := 0; g < 100; g++ {
			app := fmt.Sprintf("group-%d", g)
			if g%2 == 0 {
				for n, c := range perNode[app] {
					if c > 1 {
						b.Fatalf("%s: %d pods on %s despite anti-affinity", app, c, n)
					}
				}
				continue
			}
			lo, hi := 1<<30, 0
			for z := 0; z < 3; z++ {
				c := perZone[app][fmt.Sprintf("zone-%d", z)]
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > 1 {
				b.Fatalf("%s: zone skew %d > 1: %v", app, hi-lo, perZone[app])
			}
		}
		r.FlushEvents()
		b.StartTimer()
	}
	perSec := float64(pods) * float64(b.N) / total.Seconds()
	b.ReportMetric(perSec, "pods/s")
	b.ReportMetric(perSec/kubeSchedulerFloorPodsPerSec, "x_kube-scheduler_floor")
	b.ReportMetric(perSec/schedulerGoalPodsPerSec, "x_goal")
	perCPUSec := float64(pods) * float64(b.N) / cpu.Seconds()
	b.ReportMetric(perCPUSec, "pods/cpu-s")
	share := "no pods"
	if constrained {
		share = "10% of pods"
	}
	b.Logf("scheduler, %s with pod anti-affinity or topology spread: %d pods onto %d nodes, bindings in bbolt: %.0f pods/s = %.1f× kube-scheduler's scheduler_perf floor (680–810 pods/s), %.2f× the goal (%d pods/s); %.0f pods per CPU-second (%.2f× the goal), the figure a loaded machine does not distort",
		share, pods, nodes, perSec, perSec/kubeSchedulerFloorPodsPerSec, perSec/schedulerGoalPodsPerSec, schedulerGoalPodsPerSec, perCPUSec, perCPUSec/schedulerGoalPodsPerSec)
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
