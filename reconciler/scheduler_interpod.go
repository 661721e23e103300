package reconciler

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Reasons kube-scheduler's InterPodAffinity filter gives.
const (
	reasonPodAffinity          = "node(s) didn't match pod affinity rules"
	reasonPodAntiAffinity      = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// hardPodAffinityWeight is kube-scheduler's default weight of an existing
// pod's required affinity term when scoring an incoming pod it matches.
const hardPodAffinityWeight = 1

// clusterInfo is what one scheduling pass knows beyond single nodes: the
// namespaces' labels (for namespaceSelector), the placed pods' required
// anti-affinity terms grouped by term, the placed pods that score incoming
// pods (required affinity or preferred terms), and per-domain counts of the
// pods matching a term or a spread constraint, built on first use and kept
// current as pods are placed, so pods sharing a constraint (the replicas of
// one workload) do not each scan the cluster.
type clusterInfo struct {
	nodes      []*NodeInfo
	nsLabels   map[string]labels.Set
	scoring    []placedPod
	antiGroups map[string]*antiGroup
	antiOrder  []*antiGroup
	counts     map[string]*domainCounts
	countOrder []*domainCounts
}

// placedPod is a pod placed on a node, with its compiled affinity terms.
type placedPod struct {
	pod  *corev1.Pod
	node *NodeInfo
	aff  *podAffinity
}

// antiGroup counts, per domain, the placed pods with one required
// anti-affinity term.
type antiGroup struct {
	term   affinityTerm
	counts map[string]int
}

func (c *clusterInfo) add(p *corev1.Pod, ni *NodeInfo) {
	for _, d := range c.countOrder {
		if d.spread != nil && !d.matches(p, c.nsLabels) {
			continue // cheaper to rule out first than the node
		}
		if v, ok := d.value(ni); ok && (d.spread != nil || d.matches(p, c.nsLabels)) {
			d.counts[v]++
		}
	}
	aff := compilePodAffinity(p)
	if aff == nil {
		return
	}
	for _, t := range aff.requiredAnti {
		v, ok := ni.Node.Labels[t.topologyKey]
		if !ok {
			continue
		}
		g := c.antiGroups[t.id]
		if g == nil {
			if c.antiGroups == nil {
				c.antiGroups = map[string]*antiGroup{}
			}
			g = &antiGroup{term: t, counts: map[string]int{}}
			c.antiGroups[t.id] = g
			c.antiOrder = append(c.antiOrder, g)
		}
		g.counts[v]++
	}
	if len(aff.required) > 0 || len(aff.preferred) > 0 || len(aff.preferredAnti) > 0 {
		c.scoring = append(c.scoring, placedPod{pod: p, node: ni, aff: aff})
	}
}

// domainCounts counts per topology domain the placed pods that a pod
// affinity term (term) or a spread constraint (spread) matches, over the
// nodes it counts.
type domainCounts struct {
	term   *affinityTerm
	spread *spreadConstraint
	ns     string      // spread: the incoming pod's namespace
	keys   []string    // spread: the keys a node needs (all its pod's constraints')
	ref    *corev1.Pod // spread: the pod whose node inclusion policies apply
	counts map[string]int
}

// value returns the node's domain, false when the node does not count.
func (d *domainCounts) value(ni *NodeInfo) (string, bool) {
	lbl := ni.Node.Labels
	if d.term != nil {
		v, ok := lbl[d.term.topologyKey]
		return v, ok
	}
	for _, k := range d.keys {
		if _, ok := lbl[k]; !ok {
			return "", false
		}
	}
	if d.spread.honorAffinity && !matchesNodeAffinity(d.ref, ni.Node) {
		return "", false
	}
	if d.spread.honorTaints && untoleratedTaint(d.ref, ni.Node) != "" {
		return "", false
	}
	return lbl[d.spread.key], true
}

func (d *domainCounts) matches(p *corev1.Pod, nsLabels map[string]labels.Set) bool {
	if d.term != nil {
		return d.term.matches(p, nsLabels)
	}
	return p.Namespace == d.ns && p.DeletionTimestamp == nil && d.spread.selector.Matches(labels.Set(p.Labels))
}

// countsFor returns the counts identified by id, building them from d on
// first use. Spread counts hold every domain counted (0 included); term
// counts only domains with matching pods. Callers must not modify them.
func (c *clusterInfo) countsFor(id string, d *domainCounts) map[string]int {
	if e, ok := c.counts[id]; ok {
		return e.counts
	}
	d.counts = map[string]int{}
	for _, ni := range c.nodes {
		v, ok := d.value(ni)
		if !ok {
			continue
		}
		n := d.counts[v]
		for _, p := range ni.pods {
			if d.matches(p, c.nsLabels) {
				n++
			}
		}
		if n > 0 || d.spread != nil {
			d.counts[v] = n
		}
	}
	if c.counts == nil {
		c.counts = map[string]*domainCounts{}
	}
	c.counts[id] = d
	c.countOrder = append(c.countOrder, d)
	return d.counts
}

func (c *clusterInfo) termCounts(t *affinityTerm) map[string]int {
	return c.countsFor(t.id, &domainCounts{term: t})
}

// SetNamespaces gives the scheduler the namespaces' labels, which pod
// affinity terms with a namespaceSelector match against.
func SetNamespaces(nodes []*NodeInfo, namespaces []*corev1.Namespace) {
	if len(nodes) == 0 || nodes[0].cluster == nil {
		return
	}
	m := make(map[string]labels.Set, len(namespaces))
	for _, ns := range namespaces {
		m[ns.Name] = labels.Set(ns.Labels)
	}
	nodes[0].cluster.nsLabels = m
}

// affinityTerm is a compiled PodAffinityTerm.
type affinityTerm struct {
	id          string // identifies the term's meaning, for sharing counts
	namespaces  []string
	nsSelector  labels.Selector // nil: only namespaces
	selector    labels.Selector
	topologyKey string
	weight      int64
}

// podAffinity holds a pod's compiled pod affinity and anti-affinity terms.
type podAffinity struct {
	required, requiredAnti, preferred, preferredAnti []affinityTerm
}

// compilePodAffinity returns nil when the pod has no pod (anti-)affinity.
func compilePodAffinity(p *corev1.Pod) *podAffinity {
	a := p.Spec.Affinity
	if a == nil || a.PodAffinity == nil && a.PodAntiAffinity == nil {
		return nil
	}
	out := &podAffinity{}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.required = append(out.required, compileTerm(&pa.RequiredDuringSchedulingIgnoredDuringExecution[i], p.Namespace, 0))
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			out.preferred = append(out.preferred, compileTerm(&w.PodAffinityTerm, p.Namespace, w.Weight))
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.requiredAnti = append(out.requiredAnti, compileTerm(&pa.RequiredDuringSchedulingIgnoredDuringExecution[i], p.Namespace, 0))
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			out.preferredAnti = append(out.preferredAnti, compileTerm(&w.PodAffinityTerm, p.Namespace, w.Weight))
		}
	}
	if len(out.required)+len(out.requiredAnti)+len(out.preferred)+len(out.preferredAnti) == 0 {
		return nil
	}
	return out
}

// compileTerm resolves a term's namespaces as Kubernetes does: the listed
// ones plus those its namespaceSelector matches ({} matches all), or the
// pod's own when it gives neither. A missing labelSelector matches nothing.
func compileTerm(t *corev1.PodAffinityTerm, podNS string, weight int32) affinityTerm {
	at := affinityTerm{topologyKey: t.TopologyKey, weight: int64(weight), namespaces: t.Namespaces}
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		sel = labels.Nothing()
	}
	at.selector = sel
	if t.NamespaceSelector != nil {
		ns, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			ns = labels.Nothing()
		}
		at.nsSelector = ns
	} else if len(t.Namespaces) == 0 {
		at.namespaces = []string{podNS}
	}
	nsSel := "<none>"
	if at.nsSelector != nil {
		nsSel = at.nsSelector.String()
	}
	at.id = strings.Join(at.namespaces, ",") + "|" + nsSel + "|" + at.selector.String() + "|" + at.topologyKey
	return at
}

func (t *affinityTerm) matches(p *corev1.Pod, nsLabels map[string]labels.Set) bool {
	inNS := false
	for _, ns := range t.namespaces {
		if ns == p.Namespace {
			inNS = true
			break
		}
	}
	if !inNS && (t.nsSelector == nil || !t.nsSelector.Matches(nsLabels[p.Namespace])) {
		return false
	}
	return t.selector.Matches(labels.Set(p.Labels))
}

func matchesAllTerms(terms []affinityTerm, p *corev1.Pod, nsLabels map[string]labels.Set) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].matches(p, nsLabels) {
			return false
		}
	}
	return true
}

type topologyPair struct{ key, value string }

// interPodState is kube-scheduler's InterPodAffinity state for one
// incoming pod: the domain counts of its required terms and the groups of
// placed pods whose required anti-affinity it matches. nil when there is
// nothing to check or score.
type interPodState struct {
	pod *corev1.Pod
	aff *podAffinity
	cl  *clusterInfo
	// affinity counts, per domain, the pods matching every required
	// affinity term (one term: its shared counts).
	affinity     map[topologyPair]int
	anti         []map[string]int // per required anti-affinity term
	existingAnti []*antiGroup
}

func newInterPodState(pod *corev1.Pod, cl *clusterInfo) *interPodState {
	aff := compilePodAffinity(pod)
	if aff == nil && len(cl.antiOrder) == 0 && len(cl.scoring) == 0 {
		return nil
	}
	s := &interPodState{pod: pod, aff: aff, cl: cl}
	for _, g := range cl.antiOrder {
		if g.term.matches(pod, cl.nsLabels) {
			s.existingAnti = append(s.existingAnti, g)
		}
	}
	if aff == nil {
		return s
	}
	for i := range aff.requiredAnti {
		s.anti = append(s.anti, cl.termCounts(&aff.requiredAnti[i]))
	}
	switch len(aff.required) {
	case 0:
	case 1:
		t := &aff.required[0]
		s.affinity = map[topologyPair]int{}
		for v, n := range cl.termCounts(t) {
			s.affinity[topologyPair{t.topologyKey, v}] = n
		}
	default:
		// A pod counts when it matches every term.
		s.affinity = map[topologyPair]int{}
		forEachPlacedPod(cl, func(p *corev1.Pod, ni *NodeInfo) {
			if matchesAllTerms(aff.required, p, cl.nsLabels) {
				for i := range aff.required {
					if v, ok := ni.Node.Labels[aff.required[i].topologyKey]; ok {
						s.affinity[topologyPair{aff.required[i].topologyKey, v}]++
					}
				}
			}
		})
	}
	return s
}

// forEachPlacedPod calls fn for every pod placed on one of the nodes.
func forEachPlacedPod(cl *clusterInfo, fn func(*corev1.Pod, *NodeInfo)) {
	for _, ni := range cl.nodes {
		for _, p := range ni.pods {
			fn(p, ni)
		}
	}
}

// filter returns why the node fails, in kube-scheduler's order: the pod's
// affinity, its anti-affinity, then placed pods' anti-affinity.
func (s *interPodState) filter(ni *NodeInfo) string {
	if s == nil {
		return ""
	}
	lbl := ni.Node.Labels
	if s.aff != nil && len(s.aff.required) > 0 {
		exist := true
		for i := range s.aff.required {
			v, ok := lbl[s.aff.required[i].topologyKey]
			if !ok {
				return reasonPodAffinity
			}
			if s.affinity[topologyPair{s.aff.required[i].topologyKey, v}] <= 0 {
				exist = false
			}
		}
		// The first pod of a group with affinity to itself may go anywhere.
		if !exist && !(len(s.affinity) == 0 && matchesAllTerms(s.aff.required, s.pod, s.cl.nsLabels)) {
			return reasonPodAffinity
		}
	}
	for i, counts := range s.anti {
		if v, ok := lbl[s.aff.requiredAnti[i].topologyKey]; ok && counts[v] > 0 {
			return reasonPodAntiAffinity
		}
	}
	for _, g := range s.existingAnti {
		if v, ok := lbl[g.term.topologyKey]; ok && g.counts[v] > 0 {
			return reasonExistingAntiAffinity
		}
	}
	return ""
}

// scores returns kube-scheduler's InterPodAffinity raw scores of the
// feasible nodes (nil when every score is 0): per topology domain, the
// weights of the incoming pod's preferred terms times the placed pods
// there they match (anti-affinity subtracting), plus the weights of placed
// pods' preferred terms and required affinity terms
// (hardPodAffinityWeight) that the incoming pod matches.
func (s *interPodState) scores(nodes []*NodeInfo, fit []int) []float64 {
	if s == nil {
		return nil
	}
	topo := map[topologyPair]int64{}
	keys := map[string]bool{}
	add := func(t *affinityTerm, node *corev1.Node, w int64) {
		if v, ok := node.Labels[t.topologyKey]; ok {
			topo[topologyPair{t.topologyKey, v}] += w
			keys[t.topologyKey] = true
		}
	}
	process := func(terms []affinityTerm, target *corev1.Pod, node *corev1.Node, sign int64) {
		for i := range terms {
			if terms[i].matches(target, s.cl.nsLabels) {
				add(&terms[i], node, sign*terms[i].weight)
			}
		}
	}
	if s.aff != nil {
		for sign, terms := range map[int64][]affinityTerm{1: s.aff.preferred, -1: s.aff.preferredAnti} {
			for i := range terms {
				t := &terms[i]
				for v, n := range s.cl.termCounts(t) {
					topo[topologyPair{t.topologyKey, v}] += sign * t.weight * int64(n)
					keys[t.topologyKey] = true
				}
			}
		}
	}
	for _, pp := range s.cl.scoring {
		for i := range pp.aff.required {
			if pp.aff.required[i].matches(s.pod, s.cl.nsLabels) {
				add(&pp.aff.required[i], pp.node.Node, hardPodAffinityWeight)
			}
		}
		process(pp.aff.preferred, s.pod, pp.node.Node, 1)
		process(pp.aff.preferredAnti, s.pod, pp.node.Node, -1)
	}
	if len(topo) == 0 {
		return nil
	}
	out := make([]float64, len(fit))
	for i, idx := range fit {
		lbl := nodes[idx].Node.Labels
		for k := range keys {
			if v, ok := lbl[k]; ok {
				out[i] += float64(topo[topologyPair{k, v}])
			}
		}
	}
	return out
}
