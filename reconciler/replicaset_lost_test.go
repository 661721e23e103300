package reconciler

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestReplaceLostPods: a ReplicaSet replaces its pods on an unreachable
// node as soon as the node is marked so, without deleting them before
// their toleration runs out; a node reporting NotReady (it still talks)
// and a StatefulSet's pods wait for the eviction; a node that comes back
// makes the surplus go, its not-ready pods first.
func TestReplaceLostPods(t *testing.T) {
	now := t0.Add(time.Minute)
	silent := now.Add(-15 * time.Second) // past the 10 s grace period
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "rs-web", ResourceVersion: "1"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
		},
	}
	owned := func(p *corev1.Pod, owner metav1.Object, kind string) *corev1.Pod {
		p.Labels = map[string]string{"app": "web"}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
		admitPod(p, DefaultTolerationSeconds)
		return p
	}
	rsPod := func(name, node string, ready bool) *corev1.Pod {
		p := owned(boundPod(name, node), rs, "ReplicaSet")
		if !ready {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
		}
		return p
	}
	n1Unreachable := func() (*corev1.Node, *coordinationv1.Lease) {
		return heartbeatNode("n1", silent), nodeLease("n1", silent)
	}
	n1NotReady := func() (*corev1.Node, *coordinationv1.Lease) {
		n := heartbeatNode("n1", now)
		n.Status.Conditions[0].Status = corev1.ConditionFalse
		n.Status.Conditions[0].Reason = "ContainerRuntimeNotReady"
		return n, nodeLease("n1", now)
	}
	n1Back := func() (*corev1.Node, *coordinationv1.Lease) {
		return heartbeatNode("n1", now), nodeLease("n1", now)
	}
	sts := statefulSet(2, nil)
	stsPod := func(name, node string) *corev1.Pod {
		p := owned(boundPod(name, node), sts, "StatefulSet")
		p.Labels = map[string]string{"app": "db"}
		return p
	}

	for _, tc := range []struct {
		name        string
		n1          func() (*corev1.Node, *coordinationv1.Lease)
		rs          *appsv1.ReplicaSet
		sts         *appsv1.StatefulSet
		pods        []*corev1.Pod
		wantNew     int      // pods created
		wantDeleted []string // pods given a deletion timestamp
	}{
		{name: "unreachable: replaced at once, not evicted yet", n1: n1Unreachable, rs: rs,
			pods:    []*corev1.Pod{rsPod("a", "n1", true), rsPod("b", "n1", true), rsPod("c", "n2", true)},
			wantNew: 2},
		{name: "reports NotReady: waits for the eviction", n1: n1NotReady, rs: rs,
			pods:    []*corev1.Pod{rsPod("a", "n1", true), rsPod("b", "n1", true), rsPod("c", "n2", true)},
			wantNew: 0},
		{name: "back before the eviction: surplus deleted, its not-ready pods first", n1: n1Back, rs: rs,
			pods: []*corev1.Pod{rsPod("a", "n1", false), rsPod("b", "n1", false), rsPod("c", "n2", true),
				rsPod("d", "n2", true), rsPod("e", "n2", true)},
			wantDeleted: []string{"a", "b"}},
		{name: "StatefulSet pod on an unreachable node: not replaced", n1: n1Unreachable, sts: sts,
			pods:    []*corev1.Pod{stsPod("db-0", "n1"), stsPod("db-1", "n2")},
			wantNew: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n1, l1 := tc.n1()
			s := Snapshot{
				Nodes:  []*corev1.Node{n1, heartbeatNode("n2", now)},
				Leases: []*coordinationv1.Lease{l1, nodeLease("n2", now)},
				Pods:   tc.pods,
			}
			if tc.rs != nil {
				s.ReplicaSets = []*appsv1.ReplicaSet{tc.rs}
			}
			if tc.sts != nil {
				s.StatefulSets = []*appsv1.StatefulSet{tc.sts}
			}
			w := Plan(s, now, &seqIDs{}, FitScheduler{})
			var created int
			var deleted []string
			for _, o := range w.Puts {
				p, ok := o.(*corev1.Pod)
				if !ok {
					continue
				}
				switch {
				case p.ResourceVersion == "":
					created++
					if p.Spec.NodeName == "n1" {
						t.Errorf("replacement %s scheduled onto n1", p.Name)
					}
				case p.DeletionTimestamp != nil:
					deleted = append(deleted, p.Name)
				}
			}
			slices.Sort(deleted)
			if created != tc.wantNew || !slices.Equal(deleted, tc.wantDeleted) {
				t.Errorf("created %d pods, deleted %v; want %d created, %v deleted", created, deleted, tc.wantNew, tc.wantDeleted)
			}
		})
	}
}
