package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPlanRevisionNodes(t *testing.T) {
	lifecycle := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	gpu := corev1.Taint{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	committed := func(labels map[string]string, unschedulable bool, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: labels},
			Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}}
	}
	// registeredNode is n1 as the agent stores it: status, pod CIDR, an
	// agent-set label and the lifecycle controller's taint.
	registeredNode := func() *corev1.Node {
		n := readyNode("n1", "2")
		n.ResourceVersion = "9"
		n.Labels = map[string]string{"kubernetes.io/hostname": "n1"}
		n.Spec.PodCIDR = "10.42.0.0/24"
		n.Spec.Taints = []corev1.Taint{lifecycle}
		return n
	}
	// applied is the stored node after each commit of the sequence so far.
	type step struct {
		name                   string
		desired                []manifest.Object
		added, changed, remove int
		deleted                bool
		want                   func() *corev1.Node // nil: no write
	}
	// Commits applied in order to one store holding the registered node.
	steps := []step{
		{name: "taint, label and cordon merged, status and other fields kept",
			desired: []manifest.Object{committed(map[string]string{"zone": "a"}, true, gpu)}, changed: 1,
			want: func() *corev1.Node {
				n := registeredNode()
				n.Labels["zone"] = "a"
				n.Spec.Unschedulable = true
				n.Spec.Taints = []corev1.Taint{lifecycle, gpu}
				n.Annotations = map[string]string{manifest.AnnotationGitNode: `{"labels":{"zone":"a"},"taints":[{"key":"gpu","value":"true","effect":"NoSchedule"}],"unschedulable":true}`}
				return n
			}},
		{name: "same commit writes nothing",
			desired: []manifest.Object{committed(map[string]string{"zone": "a"}, true, gpu)}},
		{name: "uncordon and untaint, label changed",
			desired: []manifest.Object{committed(map[string]string{"zone": "b"}, false)}, changed: 1,
			want: func() *corev1.Node {
				n := registeredNode()
				n.Labels["zone"] = "b"
				n.Annotations = map[string]string{manifest.AnnotationGitNode: `{"labels":{"zone":"b"}}`}
				return n
			}},
		{name: "removed from git removes only what git set", remove: 1,
			want: registeredNode},
		{name: "a node git never named is left alone"},
	}
	var stored manifest.Object = registeredNode()
	for _, s := range steps {
		p := PlanRevision("sha", s.desired, []manifest.Object{stored})
		if diff := cmp.Diff([]int{s.added, s.changed, s.remove}, []int{p.Added, p.Changed, p.Removed}); diff != "" {
			t.Fatalf("%s: added/changed/removed (-want +got):\n%s", s.name, diff)
		}
		if s.want == nil {
			if len(p.Puts)+len(p.Deletes) != 0 {
				t.Fatalf("%s: wrote %d puts %d deletes, want none", s.name, len(p.Puts), len(p.Deletes))
			}
			continue
		}
		if len(p.Puts) != 1 || len(p.Deletes) != 0 {
			t.Fatalf("%s: got %d puts %d deletes, want 1 put", s.name, len(p.Puts), len(p.Deletes))
		}
		if diff := cmp.Diff(s.want(), p.Puts[0], cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s: node (-want +got):\n%s", s.name, diff)
		}
		stored = p.Puts[0]
	}
}

func TestPlanRevisionNodeNotRegistered(t *testing.T) {
	c := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "later", Labels: map[string]string{"zone": "a"}},
		Spec: corev1.NodeSpec{Unschedulable: true}}
	p := PlanRevision("sha", []manifest.Object{c}, nil)
	if p.Added != 1 || len(p.Puts) != 1 {
		t.Fatalf("got %+v, want the node added", p)
	}
	n := p.Puts[0].(*corev1.Node)
	if n.Labels["zone"] != "a" || !n.Spec.Unschedulable || registered(n) || n.Kind != manifest.KindNode {
		t.Errorf("stored node %+v", n)
	}
	// The agent registering later keeps what Git set (nodeagent's Mutate
	// copies the stored node); removing it from Git before that deletes it.
	p = PlanRevision("sha2", nil, []manifest.Object{n})
	if p.Removed != 1 || len(p.Deletes) != 1 || len(p.Puts) != 0 {
		t.Errorf("removal: got %d puts %d deletes, want the node deleted", len(p.Puts), len(p.Deletes))
	}
}

// TestGitTaintKeepsPodsOff: a committed taint and a cordon keep new pods
// off the node; uncordoning lets them on again.
func TestGitTaintKeepsPodsOff(t *testing.T) {
	gpu := corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}
	for _, tt := range []struct {
		name          string
		unschedulable bool
		taints        []corev1.Taint
		bound         bool
	}{
		{name: "tainted", taints: []corev1.Taint{gpu}},
		{name: "cordoned", unschedulable: true},
		{name: "uncordoned", bound: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			commit := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: tt.unschedulable, Taints: tt.taints}}
			p := PlanRevision("sha", []manifest.Object{commit}, []manifest.Object{readyNode("n1", "4")})
			node := p.Puts[0].(*corev1.Node)
			s := Snapshot{Nodes: []*corev1.Node{node}, Deployments: nil}
			s.Pods = []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "p"}}}
			w := Plan(s, t0, &seqIDs{}, FitScheduler{})
			bound := false
			for _, o := range w.Puts {
				if pod, ok := o.(*corev1.Pod); ok && pod.Spec.NodeName == "n1" {
					bound = true
				}
			}
			if bound != tt.bound {
				t.Errorf("pod bound = %v, want %v", bound, tt.bound)
			}
		})
	}
}
