package reconciler

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Reasons kube-scheduler's PodTopologySpread filter gives.
const (
	reasonSpread        = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissing = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// spreadConstraint is a compiled TopologySpreadConstraint.
type spreadConstraint struct {
	maxSkew       int32
	minDomains    int32
	key           string
	selector      labels.Selector
	selfMatch     int
	honorAffinity bool // nodeAffinityPolicy Honor (the default)
	honorTaints   bool // nodeTaintsPolicy Honor (default Ignore)
}

// spreadState is PodTopologySpread's state for one incoming pod: for each
// constraint, the matching pods per topology domain over the nodes the
// constraint counts. nil when the pod has no constraints.
type spreadState struct {
	pod     *corev1.Pod
	cl      *clusterInfo
	hard    []spreadConstraint
	hardCnt []map[string]int
	hardMin []int
	soft    []spreadConstraint
}

func compileSpread(pod *corev1.Pod, c *corev1.TopologySpreadConstraint) spreadConstraint {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		sel = labels.Nothing()
	}
	for _, k := range c.MatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			if r, err := labels.NewRequirement(k, selection.Equals, []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	sc := spreadConstraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel,
		honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
		honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor}
	if c.MinDomains != nil {
		sc.minDomains = *c.MinDomains
	}
	if sel.Matches(labels.Set(pod.Labels)) {
		sc.selfMatch = 1
	}
	return sc
}

func newSpreadState(pod *corev1.Pod, cl *clusterInfo) *spreadState {
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		return nil
	}
	s := &spreadState{pod: pod, cl: cl}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		sc := compileSpread(pod, c)
		if c.WhenUnsatisfiable == corev1.ScheduleAnyway {
			s.soft = append(s.soft, sc)
		} else {
			s.hard = append(s.hard, sc)
		}
	}
	s.hardCnt = make([]map[string]int, len(s.hard))
	s.hardMin = make([]int, len(s.hard))
	for i := range s.hard {
		m := s.counts(s.hard, i)
		lo := math.MaxInt
		for _, n := range m {
			lo = min(lo, n)
		}
		if lo == math.MaxInt || int32(len(m)) < s.hard[i].minDomains {
			lo = 0
		}
		s.hardCnt[i], s.hardMin[i] = m, lo
	}
	return s
}

// counts returns, for constraint i of cs, the pods in the incoming pod's
// namespace that its selector matches (terminating ones left out) per
// domain, over the nodes that have every key of cs and pass the
// constraint's node inclusion policies (shared, not to be modified).
func (s *spreadState) counts(cs []spreadConstraint, i int) map[string]int {
	c := &cs[i]
	keys := make([]string, len(cs))
	for j := range cs {
		keys[j] = cs[j].key
	}
	id := "spread|" + s.pod.Namespace + "|" + c.selector.String() + "|" + c.key + "|" + strings.Join(keys, ",")
	if req := requiredNodeAffinity(s.pod); c.honorAffinity && (len(s.pod.Spec.NodeSelector) > 0 || req != nil) {
		id += "|affinity:" + fmt.Sprint(s.pod.Spec.NodeSelector, req)
	}
	if c.honorTaints {
		id += "|tolerations:" + fmt.Sprint(s.pod.Spec.Tolerations)
	}
	return s.cl.countsFor(id, &domainCounts{spread: c, ns: s.pod.Namespace, keys: keys, ref: s.pod})
}

func hasKeys(lbl map[string]string, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := lbl[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

// filter checks the DoNotSchedule constraints: the node must have each
// key, and placing the pod there must keep its domain within maxSkew of
// the least populated domain.
func (s *spreadState) filter(ni *NodeInfo) string {
	if s == nil {
		return ""
	}
	for i := range s.hard {
		c := &s.hard[i]
		v, ok := ni.Node.Labels[c.key]
		if !ok {
			return reasonSpreadMissing
		}
		if s.hardCnt[i][v]+c.selfMatch-s.hardMin[i] > int(c.maxSkew) {
			return reasonSpread
		}
	}
	return ""
}

// scores returns PodTopologySpread's raw scores of the feasible nodes for
// the ScheduleAnyway constraints, lower being better, and which nodes are
// ignored (they lack a key); nil when the pod has none. Each constraint
// weighs by the log of its number of domains among the feasible nodes.
func (s *spreadState) scores(nodes []*NodeInfo, fit []int) (raw []float64, ignored []bool) {
	if s == nil || len(s.soft) == 0 {
		return nil, nil
	}
	domains := make([]map[string]bool, len(s.soft))
	for i := range s.soft {
		domains[i] = map[string]bool{}
	}
	ignored = make([]bool, len(fit))
	for j, idx := range fit {
		lbl := nodes[idx].Node.Labels
		if !hasKeys(lbl, s.soft) {
			ignored[j] = true
			continue
		}
		for i := range s.soft {
			domains[i][lbl[s.soft[i].key]] = true
		}
	}
	cnt := make([]map[string]int, len(s.soft))
	weights := make([]float64, len(s.soft))
	for i := range s.soft {
		cnt[i] = s.counts(s.soft, i)
		weights[i] = math.Log(float64(len(domains[i]) + 2))
	}
	raw = make([]float64, len(fit))
	for j, idx := range fit {
		if ignored[j] {
			continue
		}
		lbl := nodes[idx].Node.Labels
		for i := range s.soft {
			raw[j] += float64(cnt[i][lbl[s.soft[i].key]])*weights[i] + float64(s.soft[i].maxSkew-1)
		}
		raw[j] = math.Round(raw[j])
	}
	return raw, ignored
}

func requiredNodeAffinity(p *corev1.Pod) *corev1.NodeSelector {
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}
