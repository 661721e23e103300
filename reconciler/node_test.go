package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
		pods    []*corev1.Pod
		now     time.Time
		node2   nodeView
		pods2   map[string]podView
		requeue time.Duration
	}{{
		name:    "fresh heartbeat",
		node:    heartbeatNode("n1", t0),
		pods:    []*corev1.Pod{withDefaults(boundPod("a", "n1"))},
		now:     t0.Add(5 * time.Second),
		node2:   nodeView{Ready: "True"},
		pods2:   map[string]podView{"a": {Ready: true}},
		requeue: 16 * time.Second,
	}, {
		name:  "just within: heartbeat period + 1 s + grace",
		node:  heartbeatNode("n1", t0),
		now:   t0.Add(21*time.Second - time.Millisecond),
		node2: nodeView{Ready: "True"}, requeue: time.Millisecond,
	}, {
		name:    "silent: unreachable, pods not ready, eviction in 30 s",
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
