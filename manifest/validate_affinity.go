package manifest

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// affinityAndSpread checks preferred node affinity, pod affinity and
// anti-affinity and topologySpreadConstraints as the Kubernetes API server
// does.
func (c *checker) affinityAndSpread(f string, spec *corev1.PodSpec) {
	if a := spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			for i, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
				pf := f + ".affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[" + strconv.Itoa(i) + "]"
				c.weight(pf+".weight", p.Weight)
				for j, e := range p.Preference.MatchExpressions {
					ef := pf + ".preference.matchExpressions[" + strconv.Itoa(j) + "]"
					c.addAll(ef+".key", prefixMsgs("key", content.IsLabelKey(e.Key)))
					c.nodeSelectorRequirement(ef, e)
				}
				for j, e := range p.Preference.MatchFields {
					ef := pf + ".preference.matchFields[" + strconv.Itoa(j) + "]"
					if e.Key != "metadata.name" {
						c.add(ef+".key", "only metadata.name is supported")
					}
					if e.Operator != corev1.NodeSelectorOpIn && e.Operator != corev1.NodeSelectorOpNotIn || len(e.Values) != 1 {
						c.add(ef+".operator", "must be In or NotIn with exactly one value")
					}
				}
			}
		}
		if pa := a.PodAffinity; pa != nil {
			c.podAffinityTerms(f+".affinity.podAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			c.podAffinityTerms(f+".affinity.podAntiAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	c.topologySpread(f, spec.TopologySpreadConstraints)
}

func (c *checker) weight(f string, w int32) {
	if w < 1 || w > 100 {
		c.add(f, "must be in the range 1-100, got %d", w)
	}
}

func (c *checker) podAffinityTerms(f string, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
	for i := range required {
		c.podAffinityTerm(f+".requiredDuringSchedulingIgnoredDuringExecution["+strconv.Itoa(i)+"]", &required[i])
	}
	for i := range preferred {
		pf := f + ".preferredDuringSchedulingIgnoredDuringExecution[" + strconv.Itoa(i) + "]"
		c.weight(pf+".weight", preferred[i].Weight)
		c.podAffinityTerm(pf+".podAffinityTerm", &preferred[i].PodAffinityTerm)
	}
}

func (c *checker) podAffinityTerm(f string, t *corev1.PodAffinityTerm) {
	if t.TopologyKey == "" {
		c.add(f+".topologyKey", "can not be empty: name the node label that defines a topology domain (kubernetes.io/hostname, topology.kubernetes.io/zone)")
	} else {
		c.addAll(f+".topologyKey", prefixMsgs("topologyKey", content.IsLabelKey(t.TopologyKey)))
	}
	c.affinitySelector(f+".labelSelector", t.LabelSelector)
	c.affinitySelector(f+".namespaceSelector", t.NamespaceSelector)
	for i, ns := range t.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			c.add(f+".namespaces["+strconv.Itoa(i)+"]", "%q: %s", ns, msg)
		}
	}
}

// affinitySelector checks a selector that may be absent or empty.
func (c *checker) affinitySelector(f string, sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	c.labels(f+".matchLabels", sel.MatchLabels)
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		c.add(f, "invalid selector: %v", err)
	}
}

func (c *checker) topologySpread(f string, cs []corev1.TopologySpreadConstraint) {
	type pair struct {
		key  string
		when corev1.UnsatisfiableConstraintAction
	}
	seen := map[pair]bool{}
	for i := range cs {
		tc := &cs[i]
		cf := f + ".topologySpreadConstraints[" + strconv.Itoa(i) + "]"
		if tc.MaxSkew < 1 {
			c.add(cf+".maxSkew", "must be greater than zero, got %d", tc.MaxSkew)
		}
		if tc.TopologyKey == "" {
			c.add(cf+".topologyKey", "can not be empty: name the node label that defines a topology domain (kubernetes.io/hostname, topology.kubernetes.io/zone)")
		} else {
			c.addAll(cf+".topologyKey", prefixMsgs("topologyKey", content.IsLabelKey(tc.TopologyKey)))
		}
		switch tc.WhenUnsatisfiable {
		case corev1.DoNotSchedule, corev1.ScheduleAnyway:
		default:
			c.add(cf+".whenUnsatisfiable", "must be DoNotSchedule or ScheduleAnyway")
		}
		if tc.MinDomains != nil {
			switch {
			case *tc.MinDomains < 1:
				c.add(cf+".minDomains", "must be greater than zero, got %d", *tc.MinDomains)
			case tc.WhenUnsatisfiable != corev1.DoNotSchedule:
				c.add(cf+".minDomains", "can only be set when whenUnsatisfiable is DoNotSchedule")
			}
		}
		for _, p := range []struct {
			name string
			v    *corev1.NodeInclusionPolicy
		}{{"nodeAffinityPolicy", tc.NodeAffinityPolicy}, {"nodeTaintsPolicy", tc.NodeTaintsPolicy}} {
			if p.v != nil && *p.v != corev1.NodeInclusionPolicyHonor && *p.v != corev1.NodeInclusionPolicyIgnore {
				c.add(cf+"."+p.name, "must be Honor or Ignore")
			}
		}
		c.affinitySelector(cf+".labelSelector", tc.LabelSelector)
		for j, k := range tc.MatchLabelKeys {
			kf := cf + ".matchLabelKeys[" + strconv.Itoa(j) + "]"
			c.addAll(kf, prefixMsgs("key", content.IsLabelKey(k)))
			if tc.LabelSelector != nil {
				if _, ok := tc.LabelSelector.MatchLabels[k]; ok {
					c.add(kf, "%q is also in labelSelector.matchLabels", k)
				}
			}
		}
		p := pair{tc.TopologyKey, tc.WhenUnsatisfiable}
		if seen[p] {
			c.add(cf, "duplicate constraint for topologyKey %q and whenUnsatisfiable %s", tc.TopologyKey, tc.WhenUnsatisfiable)
		}
		seen[p] = true
	}
}
