package reconciler

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// heartbeatNode is a ready node whose last heartbeat was at hb.
func heartbeatNode(name string, hb time.Time) *corev1.Node {
	n := readyNode(name, "4")
	n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(hb)
	return n
}

// nodeLease is a node's Lease in kube-node-lease, renewed at renewed.
func nodeLease(node string, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](10),
			RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
	}
}

func unreachableTaints(added time.Time) []corev1.Taint {
	return []corev1.Taint{
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: ptr.To(metav1.NewTime(added))},
	}
}

func boundPod(name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("p-" + name), ResourceVersion: "1"},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tolerations, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestPlanNodes(t *testing.T) {
	withDefaults := func(p *corev1.Pod) *corev1.Pod { admitPod(p, DefaultTolerationSeconds); return p }
	forever := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	quick := forever
	quick.TolerationSeconds = ptr.To[int64](0)
	type nodeView struct {
		Ready  corev1.ConditionStatus
		Taints []string
	}
	type podView struct {
		Ready   bool
		Evicted bool
	}
	tests := []struct {
		name    string
		node    *corev1.Node
		lease   *coordinationv1.Lease
		pods    []*corev1.Pod
		now     time.Time
		node2   nodeView
		pods2   map[string]podView
		requeue time.Duration
	}{{
		name:    "lease renewed: ready although the heartbeat is 20 s old",
		node:    heartbeatNode("n1", t0),
		lease:   nodeLease("n1", t0.Add(15*time.Second)),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:     t0.Add(20 * time.Second),
		node2:   nodeView{Ready: "True"},
		pods2:   map[string]podView{"a": {Ready: true}},
		requeue: 5 * time.Second,
	}, {
		name:  "just within: grace after the lease renewal",
		node:  heartbeatNode("n1", t0),
		lease: nodeLease("n1", t0.Add(2500*time.Millisecond)),
		now:   t0.Add(12500*time.Millisecond - time.Millisecond),
		node2: nodeView{Ready: "True"}, requeue: time.Millisecond,
	}, {
		name:    "lease silent for the grace period: unreachable before the next heartbeat was due",
		node:    heartbeatNode("n1", t0),
		lease:   nodeLease("n1", t0.Add(2500*time.Millisecond)),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:     t0.Add(12500 * time.Millisecond),
		node2:   nodeView{Ready: "Unknown", Taints: []string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
		pods2:   map[string]podView{"a": {}},
		requeue: 30 * time.Second,
	}, {
		name:    "heartbeat newer than the lease counts",
		node:    heartbeatNode("n1", t0.Add(10*time.Second)),
		lease:   nodeLease("n1", t0.Add(7500*time.Millisecond)),
		now:     t0.Add(19 * time.Second),
		node2:   nodeView{Ready: "True"},
		requeue: time.Second,
	}, {
		name: "a lease outside kube-node-lease is not the node's: heartbeat rule",
		node: heartbeatNode("n1", t0),
		lease: func() *coordinationv1.Lease {
			l := nodeLease("n1", t0.Add(19*time.Second))
			l.Namespace = "default"
			return l
		}(),
		now:   t0.Add(21 * time.Second),
		node2: nodeView{Ready: "Unknown", Taints: []string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
	}, {
		name:    "no lease, fresh heartbeat",
		node:    heartbeatNode("n1", t0),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:     t0.Add(5 * time.Second),
		node2:   nodeView{Ready: "True"},
		pods2:   map[string]podView{"a": {Ready: true}},
		requeue: 16 * time.Second,
	}, {
		name:  "no lease, just within: heartbeat period + 1 s + grace",
		node:  heartbeatNode("n1", t0),
		now:   t0.Add(21*time.Second - time.Millisecond),
		node2: nodeView{Ready: "True"}, requeue: time.Millisecond,
	}, {
		name:    "no lease, silent: unreachable, pods not ready, eviction in 30 s",
		node:    heartbeatNode("n1", t0),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:     t0.Add(21 * time.Second),
		node2:   nodeView{Ready: "Unknown", Taints: []string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
		pods2:   map[string]podView{"a": {}},
		requeue: 30 * time.Second,
	}, {
		name: "toleration runs out: evicted; per-pod tolerations",
		node: func() *corev1.Node {
			n := heartbeatNode("n1", t0)
			n.Status.Conditions[0].Status = corev1.ConditionUnknown
			n.Spec.Taints = unreachableTaints(t0.Add(21 * time.Second))
			return n
		}(),
		pods: []*corev1.Pod{withDefaults(boundPod("a", "n1")), boundPod("daemon", "n1", forever), boundPod("quick", "n1", quick),
			withDefaults(boundPod("elsewhere", "n2"))},
		now:   t0.Add(51 * time.Second),
		node2: nodeView{Ready: "Unknown", Taints: []string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
		pods2: map[string]podView{"a": {Evicted: true}, "daemon": {}, "quick": {Evicted: true}, "elsewhere": {Ready: true}},
	}, {
		name: "not yet: only the pod tolerating 0 s goes",
		node: func() *corev1.Node {
			n := heartbeatNode("n1", t0)
			n.Status.Conditions[0].Status = corev1.ConditionUnknown
			n.Spec.Taints = unreachableTaints(t0.Add(21 * time.Second))
			return n
		}(),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1")), boundPod("quick", "n1", quick)},
		now:     t0.Add(41 * time.Second),
		node2:   nodeView{Ready: "Unknown", Taints: []string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
		pods2:   map[string]podView{"a": {}, "quick": {Evicted: true}},
		requeue: 10 * time.Second,
	}, {
		name: "heartbeat back: taints removed, user taints kept",
		node: func() *corev1.Node {
			n := heartbeatNode("n1", t0.Add(60*time.Second))
			n.Spec.Taints = append(unreachableTaints(t0), corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoSchedule})
			return n
		}(),
		now:     t0.Add(61 * time.Second),
		node2:   nodeView{Ready: "True", Taints: []string{"gpu:NoSchedule"}},
		requeue: 20 * time.Second,
	}, {
		name: "node agent reports NotReady: not-ready taints",
		node: func() *corev1.Node {
			n := heartbeatNode("n1", t0)
			n.Status.Conditions[0].Status = corev1.ConditionFalse
			return n
		}(),
		now:   t0.Add(time.Second),
		node2: nodeView{Ready: "False", Taints: []string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}},
	}, {
		name:  "never heartbeated: left alone",
		node:  readyNode("n1", "4"),
		pods:  []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:   t0.Add(time.Hour),
		node2: nodeView{Ready: "True"},
		pods2: map[string]podView{"a": {Ready: true}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Nodes: []*corev1.Node{tt.node}, Pods: tt.pods}
			if tt.lease != nil {
				s.Leases = []*coordinationv1.Lease{tt.lease}
			}
			w := PlanOptions(s, tt.now, &seqIDs{}, FitScheduler{}, Options{})
			s = applyWrites(s, w)
			for _, n := range w.Puts {
				if n, ok := n.(*corev1.Node); ok {
					s.Nodes = []*corev1.Node{n}
				}
			}
			gotNode := nodeView{Ready: readyCondition(s.Nodes[0]).Status}
			for _, taint := range s.Nodes[0].Spec.Taints {
				gotNode.Taints = append(gotNode.Taints, fmt.Sprintf("%s:%s", taint.Key, taint.Effect))
			}
			if diff := cmp.Diff(tt.node2, gotNode); diff != "" {
				t.Errorf("node (-want +got):\n%s", diff)
			}
			gotPods := map[string]podView{}
			for _, p := range s.Pods {
				gotPods[p.Name] = podView{Ready: podReady(p), Evicted: p.DeletionTimestamp != nil}
			}
			if diff := cmp.Diff(tt.pods2, gotPods, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pods (-want +got):\n%s", diff)
			}
			if tt.requeue != 0 && w.RequeueAfter != tt.requeue {
				t.Errorf("requeue after %v, want %v", w.RequeueAfter, tt.requeue)
			}
		})
	}
}

// TestLeaseLoop drives a pass against the real store: the snapshot holds
// the node Leases, the pass requeues itself for when the Lease would
// expire (Lease writes do not wake the loop), and one pass after the
// expiry marks the node unreachable.
func TestLeaseLoop(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := t0.Add(15 * time.Second)
	r := New(Config{Store: st, Clock: func() time.Time { return now }})
	n := heartbeatNode("n1", t0)
	n.UID = ""
	lease := nodeLease("n1", t0.Add(12500*time.Millisecond))
	manifest.SetTypeMeta(n)
	manifest.SetTypeMeta(lease)
	if _, err := st.Apply([]manifest.Object{n, lease}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(watchedKinds(), manifest.KindLease) || slices.Contains(watchedKinds(), manifest.KindEvent) {
		t.Errorf("watchedKinds() = %v: Leases and Events must not wake the loop", watchedKinds())
	}
	if err := r.ensureBuiltins(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(manifest.Key{Kind: manifest.KindNamespace, Name: corev1.NamespaceNodeLease}); err != nil {
		t.Errorf("built-in namespace kube-node-lease: %v", err)
	}
	requeue, err := r.pass()
	if err != nil {
		t.Fatal(err)
	}
	if want := 7500 * time.Millisecond; requeue != want {
		t.Errorf("requeue after %v, want %v (the lease expires at renewal + 10 s)", requeue, want)
	}
	now = now.Add(requeue)
	if _, err := r.pass(); err != nil {
		t.Fatal(err)
	}
	o, err := st.Get(manifest.Key{Kind: manifest.KindNode, Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readyCondition(o.(*corev1.Node)).Status; got != corev1.ConditionUnknown {
		t.Errorf("node Ready = %s after the lease expired, want Unknown", got)
	}
}

func TestDeleteOrphanLeases(t *testing.T) {
	other := nodeLease("gone", t0)
	other.Namespace = "default"
	s := Snapshot{Nodes: []*corev1.Node{heartbeatNode("n1", t0)},
		Leases: []*coordinationv1.Lease{nodeLease("n1", t0), nodeLease("gone", t0), other}}
	w := Plan(s, t0.Add(time.Second), &seqIDs{}, FitScheduler{})
	var got []string
	for _, d := range w.Deletes {
		got = append(got, d.GetNamespace()+"/"+d.GetName())
	}
	if diff := cmp.Diff([]string{"kube-node-lease/gone"}, got); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
}

func TestAdmitPodDefaultTolerations(t *testing.T) {
	p := boundPod("a", "")
	admitPod(p, 30)
	want := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)},
	}
	if diff := cmp.Diff(want, p.Spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	own := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)}
	p = boundPod("b", "", own)
	admitPod(p, 30)
	if len(p.Spec.Tolerations) != 2 || *p.Spec.Tolerations[0].TolerationSeconds != 5 || p.Spec.Tolerations[1].Key != corev1.TaintNodeNotReady {
		t.Errorf("a pod's own toleration was not kept: %+v", p.Spec.Tolerations)
	}
}
