package reconciler

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Scheduler picks a node for a pod from the nodes' current usage. It
// returns the node name, or an error in Kubernetes' "0/N nodes are
// available: ..." form.
type Scheduler interface {
	Schedule(pod *corev1.Pod, nodes []*NodeInfo) (string, error)
}

// NodeInfo is a node with what the pods bound to it request, kept up to
// date across one pass as pods are bound. Quantities are kept as integers
// (milli-CPU, bytes) so filtering thousands of nodes stays cheap.
type NodeInfo struct {
	Node        *corev1.Node
	Allocatable Resources
	Requested   Resources
	Pods        int64
	MaxPods     int64 // -1 when the node does not say
	ready       bool
	hostPorts   []hostPort
	owners      map[types.UID]int // pods per controller, for spreading
	nonZero     Resources         // Requested with kube-scheduler's defaults for unset requests, for scoring
	pods        []*corev1.Pod     // bound here, for topology spread and pod affinity
	cluster     *clusterInfo      // shared by the NodeInfos of one NewNodeInfos call
}

// Resources are the quantities the scheduler accounts for. A negative
// value in an allocatable means the node does not report the resource.
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
}

func (r *Resources) add(o Resources) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
}

// ResourcesOf converts a resource list.
func ResourcesOf(l corev1.ResourceList) Resources {
	return Resources{
		MilliCPU:         quantity(l, corev1.ResourceCPU, true),
		Memory:           quantity(l, corev1.ResourceMemory, false),
		EphemeralStorage: quantity(l, corev1.ResourceEphemeralStorage, false),
	}
}

func quantity(l corev1.ResourceList, name corev1.ResourceName, milli bool) int64 {
	q, ok := l[name]
	if !ok {
		return -1
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

// NewNodeInfos sums the requests of the non-terminated pods bound to each node.
func NewNodeInfos(nodes []*corev1.Node, pods []*corev1.Pod) []*NodeInfo {
	out := make([]*NodeInfo, 0, len(nodes))
	byName := make(map[string]*NodeInfo, len(nodes))
	cl := &clusterInfo{}
	for _, n := range nodes {
		ni := &NodeInfo{Node: n, Allocatable: ResourcesOf(n.Status.Allocatable), MaxPods: quantity(n.Status.Allocatable, corev1.ResourcePods, false), ready: nodeReady(n), cluster: cl}
		out = append(out, ni)
		byName[n.Name] = ni
	}
	cl.nodes = out
	for _, p := range pods {
		if ni := byName[p.Spec.NodeName]; ni != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			ni.addPod(p)
		}
	}
	return out
}

// addPod accounts for a pod bound to the node.
func (ni *NodeInfo) addPod(p *corev1.Pod) {
	ni.Pods++
	ni.pods = append(ni.pods, p)
	if ni.cluster != nil {
		ni.cluster.add(p, ni)
	}
	ni.Requested.add(podResources(p))
	ni.nonZero.add(nonZeroResources(p))
	ni.hostPorts = append(ni.hostPorts, podHostPorts(p)...)
	if uid := ownerUID(p); uid != "" {
		if ni.owners == nil {
			ni.owners = map[types.UID]int{}
		}
		ni.owners[uid]++
	}
}

// kube-scheduler's requests for scoring containers that set none.
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 << 20
)

// nonZeroResources is the pod's cpu and memory requests for scoring: a
// container that requests no cpu (memory) counts as requesting the
// default, as kube-scheduler's GetNonzeroRequests.
func nonZeroResources(p *corev1.Pod) Resources {
	var r Resources
	one := func(c *corev1.Container) (int64, int64) {
		cpu, mem := int64(defaultMilliCPURequest), int64(defaultMemoryRequest)
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			cpu = q.MilliValue()
		} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			cpu = q.MilliValue()
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
			mem = q.Value()
		} else if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			mem = q.Value()
		}
		return cpu, mem
	}
	for i := range p.Spec.Containers {
		cpu, mem := one(&p.Spec.Containers[i])
		r.MilliCPU += cpu
		r.Memory += mem
	}
	for i := range p.Spec.InitContainers {
		cpu, mem := one(&p.Spec.InitContainers[i])
		r.MilliCPU, r.Memory = max(r.MilliCPU, cpu), max(r.Memory, mem)
	}
	return r
}

// podResources is PodRequests as integers; a resource not requested is 0.
func podResources(p *corev1.Pod) Resources {
	r := ResourcesOf(PodRequests(p))
	r.MilliCPU, r.Memory, r.EphemeralStorage = max(0, r.MilliCPU), max(0, r.Memory), max(0, r.EphemeralStorage)
	return r
}

// FitScheduler filters nodes as kube-scheduler's default plugins do, in
// their order, counting each node under the first filter it fails:
// readiness, cordon, NoSchedule/NoExecute taints the pod does not tolerate,
// nodeSelector and required node affinity, host ports in use, resource fit
// (cpu, memory, ephemeral-storage requests and pod count against
// allocatable), topologySpreadConstraints with DoNotSchedule, and required
// pod affinity and anti-affinity (the pod's own and that of the pods
// already placed). It then scores the feasible nodes with kube-scheduler's
// default weights (see scheduler_score.go) — least allocated and balanced
// allocation (1 each), preferred node affinity (2), PreferNoSchedule taints
// (3), topology spreading (2: the pod's ScheduleAnyway constraints, or
// without constraints of its own the pods of its controller spread across
// nodes, standing in for the system default constraints) and preferred pod
// (anti-)affinity (2) — ties to the lower name.
//
// Like kube-scheduler, it stops searching once it has found enough feasible
// nodes in a large cluster (all of them up to 100 nodes, then a share that
// falls from 50% to 5% as the cluster grows, at least 100), starting at a
// node chosen by the pod's name, so pods spread their search over the whole
// cluster while the choice stays a pure function of the inputs.
type FitScheduler struct{}

// Schedule implements Scheduler.
func (FitScheduler) Schedule(pod *corev1.Pod, nodes []*NodeInfo) (string, error) {
	if len(nodes) == 0 {
		return "", &UnschedulableError{}
	}
	req := podResources(pod)
	ports := podHostPorts(pod)
	cl := nodes[0].cluster
	if cl == nil { // NodeInfos not made by NewNodeInfos
		cl = &clusterInfo{nodes: nodes}
	}
	spread := newSpreadState(pod, cl)
	inter := newInterPodState(pod, cl)
	want := numFeasibleNodesToFind(len(nodes))
	start := int(podHash(pod) % uint32(len(nodes)))
	var reasons map[string]int
	var fit []int
	for i := 0; i < len(nodes) && len(fit) < want; i++ {
		idx := (start + i) % len(nodes)
		ni := nodes[idx]
		why := filterNode(pod, ni, req, ports)
		if why == nil {
			if r := spread.filter(ni); r != "" {
				why = []string{r}
			} else if r := inter.filter(ni); r != "" {
				why = []string{r}
			}
		}
		if why != nil {
			if reasons == nil {
				reasons = map[string]int{}
			}
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		fit = append(fit, idx)
	}
	if len(fit) == 0 {
		return "", &UnschedulableError{Nodes: len(nodes), Reasons: reasons}
	}
	return nodes[scoreNodes(pod, req, nonZeroResources(pod), nodes, fit, spread, inter)].Node.Name, nil
}

// numFeasibleNodesToFind is kube-scheduler's adaptive
// percentageOfNodesToScore.
func numFeasibleNodesToFind(all int) int {
	const minFeasible, basePercentage, minPercentage = 100, 50, 5
	if all < minFeasible {
		return all
	}
	pct := max(basePercentage-all/125, minPercentage)
	return max(all*pct/100, minFeasible)
}

func podHash(p *corev1.Pod) uint32 {
	h := uint32(2166136261)
	for _, s := range []string{p.Namespace, "/", p.Name} {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	return h
}

// UnschedulableError says why no node fits, as kube-scheduler words it.
type UnschedulableError struct {
	Nodes   int
	Reasons map[string]int
}

func (e *UnschedulableError) Error() string {
	if e.Nodes == 0 {
		return "0/0 nodes are available: no nodes registered."
	}
	parts := make([]string, 0, len(e.Reasons))
	for r, n := range e.Reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", e.Nodes, strings.Join(parts, ", "))
}

// unschedulableTaint is the taint a cordoned node has in Kubernetes; a pod
// tolerating it (a daemon pod) may still be placed there.
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// filterNode runs the node filters in kube-scheduler's plugin order and
// returns the reasons of the first one that fails (kube-scheduler stops at
// the first failing plugin, so each node counts once per reason in the
// "0/N nodes are available" message); resource fit may give several.
func filterNode(pod *corev1.Pod, ni *NodeInfo, req Resources, ports []hostPort) []string {
	n := ni.Node
	if !ni.ready {
		return []string{"node(s) were not ready"}
	}
	if n.Spec.Unschedulable && !tolerated(pod.Spec.Tolerations, &unschedulableTaint) {
		return []string{"node(s) were unschedulable"}
	}
	if taint := untoleratedTaint(pod, n); taint != "" {
		return []string{taint}
	}
	if !matchesNodeAffinity(pod, n) {
		return []string{reasonAffinity}
	}
	if len(ports) > 0 && !hostPortsFree(ni.hostPorts, ports) {
		return []string{reasonHostPort}
	}
	var why []string
	if ni.MaxPods >= 0 && ni.Pods+1 > ni.MaxPods {
		why = append(why, "Too many pods")
	}
	if insufficient(req.MilliCPU, ni.Requested.MilliCPU, ni.Allocatable.MilliCPU) {
		why = append(why, "Insufficient cpu")
	}
	if insufficient(req.Memory, ni.Requested.Memory, ni.Allocatable.Memory) {
		why = append(why, "Insufficient memory")
	}
	if insufficient(req.EphemeralStorage, ni.Requested.EphemeralStorage, ni.Allocatable.EphemeralStorage) {
		why = append(why, "Insufficient ephemeral-storage")
	}
	return why
}

// insufficient reports whether want more does not fit beside used in
// alloc (negative when the node does not report the resource).
func insufficient(want, used, alloc int64) bool {
	return want > 0 && (alloc < 0 || used+want > alloc)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// leastAllocated scores a node 0..1 by the free share of cpu and memory
// after placing the pod, counting unset requests at kube-scheduler's
// defaults (nonZero: 100m cpu, 200 MiB memory per container).
func leastAllocated(ni *NodeInfo, nonZero Resources) float64 {
	score, k := 0.0, 0
	if a := ni.Allocatable.MilliCPU; a > 0 {
		score += max(0, 1-float64(ni.nonZero.MilliCPU+nonZero.MilliCPU)/float64(a))
		k++
	}
	if a := ni.Allocatable.Memory; a > 0 {
		score += max(0, 1-float64(ni.nonZero.Memory+nonZero.Memory)/float64(a))
		k++
	}
	if k == 0 {
		return 0
	}
	return score / float64(k)
}

// PodRequests sums the containers' requests (limits stand in for missing
// requests, as in Kubernetes); init containers count with their maximum.
func PodRequests(p *corev1.Pod) corev1.ResourceList {
	var sum corev1.ResourceList
	for _, c := range p.Spec.Containers {
		sum = addResources(sum, containerRequests(c))
	}
	for _, c := range p.Spec.InitContainers {
		for r, q := range containerRequests(c) {
			if cur, ok := sum[r]; !ok || q.Cmp(cur) > 0 {
				sum[r] = q.DeepCopy()
			}
		}
	}
	return sum
}

func containerRequests(c corev1.Container) corev1.ResourceList {
	out := corev1.ResourceList{}
	for r, q := range c.Resources.Limits {
		out[r] = q.DeepCopy()
	}
	for r, q := range c.Resources.Requests {
		out[r] = q.DeepCopy()
	}
	return out
}

func addResources(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for r, q := range a {
		out[r] = q.DeepCopy()
	}
	for r, q := range b {
		cur := out[r]
		if cur.Format == "" {
			cur = *resource.NewQuantity(0, q.Format)
		}
		cur.Add(q)
		out[r] = cur
	}
	return out
}

// schedule binds every pending pod (existing or created in this pass).
func schedule(w *Writes, ix *index, sched Scheduler, now time.Time) {
	var bound []*corev1.Pod
	var pending []*corev1.Pod
	deleted := map[types.UID]bool{}
	for _, d := range w.Deletes {
		deleted[d.GetUID()] = true
	}
	for _, p := range ix.snap.Pods {
		if p.Spec.NodeName != "" {
			bound = append(bound, p)
		} else if p.DeletionTimestamp == nil && !deleted[p.UID] {
			pending = append(pending, p)
		}
	}
	if len(pending) == 0 && len(ix.newPods) == 0 {
		return
	}
	nodes := NewNodeInfos(ix.snap.Nodes, bound)
	SetNamespaces(nodes, ix.snap.Namespaces)
	byName := map[string]*NodeInfo{}
	for _, ni := range nodes {
		byName[ni.Node.Name] = ni
	}
	newPods := map[*corev1.Pod]bool{}
	for _, p := range ix.newPods {
		newPods[p] = true
		pending = append(pending, p)
	}
	for _, p := range pending {
		node, err := scheduleWithVolumes(sched, p, nodes, ix) // see scheduler_volume.go
		u := p
		if !newPods[p] {
			u = p.DeepCopy()
		}
		if err != nil {
			cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: err.Error()}
			changed := setPodCondition(&u.Status, cond, now)
			if changed {
				w.Events = append(w.Events, failedScheduling(u, err, now))
			} else if !newPods[p] {
				continue
			}
		} else {
			u.Spec.NodeName = node
			setPodCondition(&u.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)
			byName[node].addPod(u)
			w.Events = append(w.Events, scheduled(u, now))
		}
		w.put(u)
	}
}

// setPodCondition sets cond, reporting whether anything changed.
func setPodCondition(st *corev1.PodStatus, cond corev1.PodCondition, now time.Time) bool {
	for i, c := range st.Conditions {
		if c.Type != cond.Type {
			continue
		}
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message {
			return false
		}
		cond.LastTransitionTime = c.LastTransitionTime
		if c.Status != cond.Status {
			cond.LastTransitionTime = metav1.NewTime(now)
		}
		st.Conditions[i] = cond
		return true
	}
	cond.LastTransitionTime = metav1.NewTime(now)
	st.Conditions = append(st.Conditions, cond)
	return true
}
