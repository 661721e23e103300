package manifest

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AnnotationGitNode is the annotation in which the reconciler records what
// the repository set on a Node (so removing it from Git removes only that);
// a committed Node may not set it.
const AnnotationGitNode = "tug.dev/git-node"

// node checks a committed Node: its name is the node's, and its taints
// carry a key and an effect, one taint per key and effect, as Kubernetes
// requires.
func (c *checker) node(n *corev1.Node) {
	if _, ok := n.Annotations[AnnotationGitNode]; ok {
		c.add(joinPath("metadata.annotations", AnnotationGitNode), "this annotation is written by tug and cannot be committed")
	}
	seen := map[string]int{}
	for i, t := range n.Spec.Taints {
		f := "spec.taints[" + strconv.Itoa(i) + "]"
		if t.Key == "" {
			c.add(f+".key", "key is required")
		} else {
			c.addAll(f+".key", prefixMsgs("key", validation.IsQualifiedName(t.Key)))
		}
		if t.Value != "" {
			c.addAll(f+".value", prefixMsgs("value", validation.IsValidLabelValue(t.Value)))
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
			c.add(f+".effect", "effect is required: NoSchedule, PreferNoSchedule or NoExecute")
		default:
			c.add(f+".effect", "must be NoSchedule, PreferNoSchedule or NoExecute")
		}
		id := t.Key + ":" + string(t.Effect)
		if j, ok := seen[id]; ok {
			c.add(f, "taint %s duplicates spec.taints[%d]: one taint per key and effect", id, j)
		}
		seen[id] = i
	}
}
