package reconciler

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// gitNode is what a repository sets on a Node, recorded on the stored Node
// in manifest.AnnotationGitNode so a later commit removes only that.
type gitNode struct {
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Taints        []corev1.Taint    `json:"taints,omitempty"`
	Unschedulable bool              `json:"unschedulable,omitempty"`
}

func gitNodeOf(n *corev1.Node) gitNode {
	g := gitNode{Labels: maps.Clone(n.Labels), Annotations: maps.Clone(n.Annotations), Unschedulable: n.Spec.Unschedulable}
	for _, t := range n.Spec.Taints {
		g.Taints = append(g.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	delete(g.Annotations, manifest.AnnotationGitNode)
	return g
}

// appliedGitNode returns what Git last set on the stored node n (zero when
// nothing) and whether anything was recorded.
func appliedGitNode(n *corev1.Node) (gitNode, bool) {
	raw, ok := n.Annotations[manifest.AnnotationGitNode]
	if !ok {
		return gitNode{}, false
	}
	var g gitNode
	_ = json.Unmarshal([]byte(raw), &g) // a damaged record counts as empty
	return g, true
}

// planGitNodes merges the committed Nodes into the stored ones. Unlike
// other kinds a Node is shared: the node agent owns its status (and pod
// CIDR), the lifecycle controller its not-ready/unreachable taints, and Git
// only the labels, annotations, taints and unschedulable flag it commits. A
// committed Node whose node has not registered is stored without status, to
// be completed by the agent when it registers (its Mutate keeps labels and
// spec). A stored Node no longer committed loses what Git had set, and is
// deleted if its node never registered; Nodes Git never named are left
// alone.
func planGitNodes(desired, stored []*corev1.Node, p *RevisionPlan) {
	cur := make(map[string]*corev1.Node, len(stored))
	for _, n := range stored {
		cur[n.Name] = n
	}
	want := make(map[string]bool, len(desired))
	for _, d := range desired {
		want[d.Name] = true
		g := gitNodeOf(d)
		old, ok := cur[d.Name]
		if !ok {
			n := &corev1.Node{}
			n.Name = d.Name
			manifest.SetTypeMeta(n)
			n.SetGeneration(1)
			mergeGitNode(n, gitNode{}, g, true)
			p.Puts = append(p.Puts, n)
			p.Added++
			continue
		}
		prev, _ := appliedGitNode(old)
		n := old.DeepCopy()
		mergeGitNode(n, prev, g, true)
		if equality.Semantic.DeepEqual(n, old) {
			continue
		}
		p.Puts = append(p.Puts, n)
		p.Changed++
	}
	for _, old := range stored {
		prev, ok := appliedGitNode(old)
		if want[old.Name] || !ok {
			continue
		}
		p.Removed++
		if registered(old) {
			n := old.DeepCopy()
			mergeGitNode(n, prev, gitNode{}, false)
			p.Puts = append(p.Puts, n)
		} else {
			p.Deletes = append(p.Deletes, old)
		}
	}
}

// registered reports whether a node agent has ever written n's status.
func registered(n *corev1.Node) bool {
	return len(n.Status.Conditions) > 0 || len(n.Status.Capacity) > 0
}

// mergeGitNode replaces on n what Git set before (prev) by what it sets
// now (next), keeping everything else, and records next when keep.
func mergeGitNode(n *corev1.Node, prev, next gitNode, keep bool) {
	n.Labels = mergeStrings(n.Labels, prev.Labels, next.Labels)
	n.Annotations = mergeStrings(n.Annotations, prev.Annotations, next.Annotations)
	n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return slices.ContainsFunc(prev.Taints, sameTaint(t)) || slices.ContainsFunc(next.Taints, sameTaint(t))
	})
	n.Spec.Taints = append(n.Spec.Taints, next.Taints...)
	if len(n.Spec.Taints) == 0 {
		n.Spec.Taints = nil
	}
	if prev.Unschedulable || next.Unschedulable {
		n.Spec.Unschedulable = next.Unschedulable
	}
	if keep {
		data, _ := json.Marshal(next)
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[manifest.AnnotationGitNode] = string(data)
	} else {
		delete(n.Annotations, manifest.AnnotationGitNode)
		if len(n.Annotations) == 0 {
			n.Annotations = nil
		}
	}
}

func sameTaint(t corev1.Taint) func(corev1.Taint) bool {
	return func(o corev1.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect }
}

// mergeStrings removes from m the keys of prev and sets those of next.
func mergeStrings(m, prev, next map[string]string) map[string]string {
	m = maps.Clone(m)
	for k := range prev {
		delete(m, k)
	}
	if len(next) > 0 && m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, next)
	if len(m) == 0 {
		return nil
	}
	return m
}

// splitNodes separates Nodes from the other objects.
func splitNodes(objs []manifest.Object) (nodes []*corev1.Node, rest []manifest.Object) {
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok {
			nodes = append(nodes, n)
		} else {
			rest = append(rest, o)
		}
	}
	return nodes, rest
}
