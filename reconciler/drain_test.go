package reconciler

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func pdb(name string, minAvailable, maxUnavailable *intstr.IntOrString, app string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pdb-" + name), Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable, Selector: appSel(app)},
	}
}

// applyWritesPDB is applyWrites carrying PodDisruptionBudgets too.
func applyWritesPDB(s Snapshot, w Writes) Snapshot {
	out := applyWrites(s, w)
	out.PodDisruptionBudgets = nil
	for _, b := range s.PodDisruptionBudgets {
		for _, o := range w.Puts {
			if u, ok := o.(*policyv1.PodDisruptionBudget); ok && u.UID == b.UID {
				b = u
			}
		}
		out.PodDisruptionBudgets = append(out.PodDisruptionBudgets, b)
	}
	return out
}

func eventsOf(w Writes, reason string) []string {
	var out []string
	for _, ev := range w.Events {
		if ev.Reason == reason {
			out = append(out, ev.InvolvedObject.Name+": "+ev.Message)
		}
	}
	sort.Strings(out)
	return out
}

// agentStep does what node agents do between passes: pods bound to a node
// start and become ready, and terminating pods go away.
func agentStep(s Snapshot) Snapshot {
	var kept []*corev1.Pod
	for _, p := range s.Pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName != "" && !podReady(p) {
			p = p.DeepCopy()
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
		}
		kept = append(kept, p)
	}
	s.Pods = kept
	return s
}

// TestDrainRespectsPodDisruptionBudget: 3 replicas on node a, a budget of
// minAvailable 2; cordoning a (and opening b) evicts the pods one by one,
// each eviction waiting until the previous pod's replacement is ready on
// b, so never fewer than 2 pods are ready.
func TestDrainRespectsPodDisruptionBudget(t *testing.T) {
	ids := &seqIDs{}
	d := deployment("web", 3, "img:1")
	d.Spec.Template.Spec.Containers[0].Env = nil
	two := intstr.FromInt32(2)
	s := Snapshot{
		Deployments:          []*appsv1.Deployment{d},
		Nodes:                []*corev1.Node{readyNode("a", "8")},
		PodDisruptionBudgets: []*policyv1.PodDisruptionBudget{pdb("web", &two, nil, "web")},
	}
	for i := 0; i < 10; i++ {
		w := Plan(s, t0, ids, FitScheduler{})
		if w.Empty() && len(agentStep(s).Pods) == len(s.Pods) && allReady(s) {
			break
		}
		s = agentStep(applyWritesPDB(s, w))
	}
	if got := s.PodDisruptionBudgets[0].Status; got.CurrentHealthy != 3 || got.DisruptionsAllowed != 1 || got.ExpectedPods != 3 || got.DesiredHealthy != 2 {
		t.Fatalf("budget before the drain: %+v; want 3 healthy, 1 allowed", got)
	}
	cordoned := readyNode("a", "8")
	cordoned.Spec.Unschedulable = true
	s.Nodes = []*corev1.Node{cordoned, readyNode("b", "8")}

	var trace []string
	for step := 0; step < 12; step++ {
		w := Plan(s, t0, ids, FitScheduler{})
		s = applyWritesPDB(s, w)
		ready, onA := 0, 0
		for _, p := range s.Pods {
			if p.DeletionTimestamp == nil && podReady(p) {
				ready++
			}
			if p.Spec.NodeName == "a" && p.DeletionTimestamp == nil {
				onA++
			}
		}
		if ready < 2 {
			t.Fatalf("step %d: %d ready pods; the budget wants 2", step, ready)
		}
		st := s.PodDisruptionBudgets[0].Status
		trace = append(trace, fmt.Sprintf("evicted=%d blocked=%d onA=%d healthy=%d allowed=%d",
			len(eventsOf(w, ReasonEvicted)), len(eventsOf(w, ReasonEvictionBlocked)), onA, st.CurrentHealthy, st.DisruptionsAllowed))
		if onA == 0 && ready == 3 {
			break
		}
		s = agentStep(s)
	}
	want := []string{
		"evicted=1 blocked=2 onA=2 healthy=2 allowed=0",
		"evicted=1 blocked=1 onA=1 healthy=2 allowed=0",
		"evicted=1 blocked=0 onA=0 healthy=2 allowed=0",
		"evicted=0 blocked=0 onA=0 healthy=3 allowed=1",
	}
	if diff := cmp.Diff(want, trace); diff != "" {
		t.Errorf("drain (-want +got):\n%s", diff)
	}
	for _, p := range s.Pods {
		if p.Spec.NodeName != "b" {
			t.Errorf("pod %s on %q after the drain; want b", p.Name, p.Spec.NodeName)
		}
	}
}

func allReady(s Snapshot) bool {
	for _, p := range s.Pods {
		if !podReady(p) {
			return false
		}
	}
	return true
}

// TestDrainRules covers the eviction API's rules one pass at a time.
func TestDrainRules(t *testing.T) {
	rsRef := func(p *corev1.Pod, kind, uid string) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: uid, UID: types.UID(uid), Controller: ptr.To(true)}}
	}
	running := func(name, app string, ready bool, fns ...func(*corev1.Pod)) *corev1.Pod {
		p := schedPod(name, app, on("a"), func(p *corev1.Pod) {
			p.UID = types.UID("uid-" + name)
			p.Status.Phase = corev1.PodRunning
			st := corev1.ConditionFalse
			if ready {
				st = corev1.ConditionTrue
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		})
		for _, fn := range fns {
			fn(p)
		}
		return p
	}
	cordoned := readyNode("a", "8")
	cordoned.Spec.Unschedulable = true
	one, zero, half := intstr.FromInt32(1), intstr.FromInt32(0), intstr.FromString("50%")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default", UID: "rs"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}
	tests := []struct {
		name        string
		pods        []*corev1.Pod
		pdbs        []*policyv1.PodDisruptionBudget
		wantEvicted []string
		wantBlocked []string
	}{
		{name: "no budget: every pod at once", pods: []*corev1.Pod{running("x", "x", true), running("y", "y", true)},
			wantEvicted: []string{"x: Evicted from cordoned node a", "y: Evicted from cordoned node a"}},
		{name: "DaemonSet pods stay", pods: []*corev1.Pod{running("ds", "ds", true, func(p *corev1.Pod) { rsRef(p, "DaemonSet", "ds") })}},
		{name: "maxUnavailable 0 blocks", pods: []*corev1.Pod{running("x", "web", true, func(p *corev1.Pod) { rsRef(p, "ReplicaSet", "rs") })},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("web", nil, &zero, "web")},
			wantBlocked: []string{"x: Cannot evict pod as it would violate the pod's disruption budget default/web: it allows 0 disruptions (1 healthy pods, 2 desired); the drain of node a waits"}},
		{name: "maxUnavailable 50% of the ReplicaSet's 2: one at a time", pods: []*corev1.Pod{
			running("x", "web", true, func(p *corev1.Pod) { rsRef(p, "ReplicaSet", "rs") }),
			running("y", "web", true, func(p *corev1.Pod) { rsRef(p, "ReplicaSet", "rs") })},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("web", nil, &half, "web")},
			wantEvicted: []string{"x: Evicted from cordoned node a; disruption budget default/web allowed it"},
			wantBlocked: []string{"y: Cannot evict pod as it would violate the pod's disruption budget default/web: it allows 0 disruptions (1 healthy pods, 1 desired); the drain of node a waits"}},
		{name: "a percentage needs a controller with a scale", pods: []*corev1.Pod{running("x", "web", true)},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("web", &half, nil, "web")},
			wantBlocked: []string{`x: Cannot evict pod as it would violate the pod's disruption budget default/web: found no controller ref for pod "x"; the drain of node a waits`}},
		{name: "unready pod of a healthy budget goes", pods: []*corev1.Pod{running("x", "web", true), running("y", "web", true), running("sick", "web", false)},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("web", &one, nil, "web")},
			wantEvicted: []string{"sick: Evicted unhealthy pod from cordoned node a (disruption budget default/web is healthy: 1 of 1)", "x: Evicted from cordoned node a; disruption budget default/web allowed it"},
			wantBlocked: []string{"y: Cannot evict pod as it would violate the pod's disruption budget default/web: it allows 0 disruptions (1 healthy pods, 1 desired); the drain of node a waits"}},
		{name: "AlwaysAllow evicts unready pods of an unhealthy budget", pods: []*corev1.Pod{running("sick", "web", false)},
			pdbs: []*policyv1.PodDisruptionBudget{func() *policyv1.PodDisruptionBudget {
				b := pdb("web", &one, nil, "web")
				b.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
				return b
			}()},
			wantEvicted: []string{"sick: Evicted unhealthy pod from cordoned node a (disruption budget default/web: unhealthyPodEvictionPolicy AlwaysAllow)"}},
		{name: "pending pods ignore budgets", pods: []*corev1.Pod{running("x", "web", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending })},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("web", &one, nil, "web")},
			wantEvicted: []string{"x: Evicted from cordoned node a (pending: disruption budget default/web does not apply)"}},
		{name: "two budgets refuse", pods: []*corev1.Pod{running("x", "web", true)},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("one", &zero, nil, "web"), pdb("two", &zero, nil, "web")},
			wantBlocked: []string{"x: Cannot evict pod from cordoned node a: it has more than one PodDisruptionBudget (default/one, default/two), which the eviction subresource does not support"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Nodes: []*corev1.Node{cordoned}, Pods: tt.pods, PodDisruptionBudgets: tt.pdbs, ReplicaSets: []*appsv1.ReplicaSet{rs}}
			ix := newIndex(s)
			var w Writes
			drainNodes(&w, ix, t0)
			if diff := cmp.Diff(tt.wantEvicted, eventsOf(w, ReasonEvicted), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("evicted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBlocked, eventsOf(w, ReasonEvictionBlocked), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("blocked (-want +got):\n%s", diff)
			}
			for _, o := range w.Puts {
				p := o.(*corev1.Pod)
				if p.DeletionTimestamp == nil || !strings.Contains(fmt.Sprint(p.Status.Conditions), "EvictionByEvictionAPI") {
					t.Errorf("evicted pod %s: deletion %v, conditions %v", p.Name, p.DeletionTimestamp, p.Status.Conditions)
				}
			}
		})
	}
}

// TestPodDisruptionBudgetStatus: the status fields as the disruption
// controller computes them.
func TestPodDisruptionBudgetStatus(t *testing.T) {
	ids := &seqIDs{}
	d := deployment("web", 4, "img:1")
	d.Spec.Template.Spec.Containers[0].Env = nil
	quarter, three := intstr.FromString("25%"), intstr.FromInt32(3)
	s := Snapshot{
		Deployments: []*appsv1.Deployment{d},
		Nodes:       []*corev1.Node{readyNode("a", "8")},
		PodDisruptionBudgets: []*policyv1.PodDisruptionBudget{pdb("max", nil, &quarter, "web"), pdb("min", &three, nil, "web"),
			pdb("none", &three, nil, "nothing")},
	}
	for i := 0; i < 6; i++ {
		s = agentStep(applyWritesPDB(s, Plan(s, t0, ids, FitScheduler{})))
	}
	type st struct {
		Expected, Desired, Healthy, Allowed int32
		Cond                                string
	}
	var got []st
	for _, b := range s.PodDisruptionBudgets {
		c := b.Status.Conditions[0]
		got = append(got, st{b.Status.ExpectedPods, b.Status.DesiredHealthy, b.Status.CurrentHealthy, b.Status.DisruptionsAllowed, string(c.Status) + "/" + c.Reason})
	}
	want := []st{
		{Expected: 4, Desired: 3, Healthy: 4, Allowed: 1, Cond: "True/SufficientPods"}, // 25% of 4 rounded up
		{Expected: 4, Desired: 3, Healthy: 4, Allowed: 1, Cond: "True/SufficientPods"},
		{Expected: 0, Desired: 3, Healthy: 0, Allowed: 0, Cond: "False/InsufficientPods"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("budgets (-want +got):\n%s", diff)
	}
	// A steady cluster writes no status again.
	if w := Plan(s, t0.Add(time60), ids, FitScheduler{}); !w.Empty() {
		t.Errorf("steady state wrote %d objects", len(w.Puts))
	}
}

const time60 = 60 * 1e9
