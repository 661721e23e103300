package manifest

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// scheduling checks the pod spec fields the scheduler reads: tolerations,
// node and pod affinity and topology spread constraints.
func (c *checker) scheduling(f string, spec *corev1.PodSpec) {
	for i, t := range spec.Tolerations {
		tf := f + ".tolerations[" + strconv.Itoa(i) + "]"
		if t.Key != "" {
			c.addAll(tf+".key", prefixMsgs("key", content.IsLabelKey(t.Key)))
		}
		switch t.Operator {
		case "", corev1.TolerationOpEqual:
			if t.Key == "" {
				c.add(tf+".operator", "operator must be Exists when key is empty")
			}
			c.addAll(tf+".value", prefixMsgs("value", content.IsLabelValue(t.Value)))
		case corev1.TolerationOpExists:
			if t.Value != "" {
				c.add(tf+".value", "value must be empty when operator is Exists")
			}
		default:
			c.add(tf+".operator", "must be Equal or Exists")
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			c.add(tf+".effect", "must be NoSchedule, PreferNoSchedule or NoExecute (or left out for all)")
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			c.add(tf+".tolerationSeconds", "effect must be NoExecute when tolerationSeconds is set")
		}
	}
	c.affinityAndSpread(f, spec) // see validate_affinity.go
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return
	}
	rf := f + ".affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		c.add(rf+".nodeSelectorTerms", "at least one term is required")
	}
	for i, term := range terms {
		tf := rf + ".nodeSelectorTerms[" + strconv.Itoa(i) + "]"
		for j, e := range term.MatchExpressions {
			ef := tf + ".matchExpressions[" + strconv.Itoa(j) + "]"
			c.addAll(ef+".key", prefixMsgs("key", content.IsLabelKey(e.Key)))
			c.nodeSelectorRequirement(ef, e)
		}
		for j, e := range term.MatchFields {
			ef := tf + ".matchFields[" + strconv.Itoa(j) + "]"
			if e.Key != "metadata.name" {
				c.add(ef+".key", "only metadata.name is supported")
			}
			if e.Operator != corev1.NodeSelectorOpIn && e.Operator != corev1.NodeSelectorOpNotIn || len(e.Values) != 1 {
				c.add(ef+".operator", "must be In or NotIn with exactly one value")
			}
		}
	}
}

func (c *checker) nodeSelectorRequirement(ef string, e corev1.NodeSelectorRequirement) {
	switch e.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(e.Values) == 0 {
			c.add(ef+".values", "at least one value is required for %s", e.Operator)
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(e.Values) > 0 {
			c.add(ef+".values", "values must be empty for %s", e.Operator)
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(e.Values) != 1 {
			c.add(ef+".values", "exactly one integer value is required for %s", e.Operator)
		} else if _, err := strconv.ParseInt(e.Values[0], 10, 64); err != nil {
			c.add(ef+".values", "%q is not an integer", e.Values[0])
		}
	default:
		c.add(ef+".operator", "must be In, NotIn, Exists, DoesNotExist, Gt or Lt")
	}
}
