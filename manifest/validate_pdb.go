package manifest

import (
	"strconv"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podDisruptionBudget checks a policy/v1 PodDisruptionBudget as the API
// server does, and that it says how many pods it keeps: exactly one of
// minAvailable and maxUnavailable (a budget with neither protects nothing).
func (c *checker) podDisruptionBudget(pdb *policyv1.PodDisruptionBudget) {
	spec := &pdb.Spec
	switch {
	case spec.MinAvailable != nil && spec.MaxUnavailable != nil:
		c.add("spec", "minAvailable and maxUnavailable cannot be both set")
	case spec.MinAvailable == nil && spec.MaxUnavailable == nil:
		c.add("spec", "set one of minAvailable or maxUnavailable (a number of pods or a percentage)")
	}
	c.intOrPercent("spec.minAvailable", spec.MinAvailable)
	c.intOrPercent("spec.maxUnavailable", spec.MaxUnavailable)
	c.affinitySelector("spec.selector", spec.Selector)
	if spec.Selector == nil {
		c.add("spec.selector", "selector is required: a budget without one selects no pods")
	}
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.IfHealthyBudget && *p != policyv1.AlwaysAllow {
		c.add("spec.unhealthyPodEvictionPolicy", "must be IfHealthyBudget or AlwaysAllow")
	}
}

// intOrPercent checks a non-negative count or a percentage from 0% to 100%.
func (c *checker) intOrPercent(f string, v *intstr.IntOrString) {
	if v == nil {
		return
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			c.add(f, "must be greater than or equal to 0")
		}
		return
	}
	s, ok := strings.CutSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(s)
	if !ok || err != nil {
		c.add(f, "%q must be an integer or a percentage (\"50%%\")", v.StrVal)
		return
	}
	if n < 0 || n > 100 {
		c.add(f, "must be a percentage from 0%% to 100%%, got %s", v.StrVal)
	}
}
