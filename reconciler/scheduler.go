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
// date across one pass as pods are bound.
type NodeInfo struct {
	Node      *corev1.Node
	Requested corev1.ResourceList
	Pods      int64
}

// NewNodeInfos sums the requests of the non-terminated pods bound to each node.
func NewNodeInfos(nodes []*corev1.Node, pods []*corev1.Pod) []*NodeInfo {
	out := make([]*NodeInfo, 0, len(nodes))
	byName := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		ni := &NodeInfo{Node: n, Requested: corev1.ResourceList{}}
		out = append(out, ni)
		byName[n.Name] = ni
	}
	for _, p := range pods {
		if ni := byName[p.Spec.NodeName]; ni != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			ni.add(PodRequests(p))
		}
	}
	return out
}

func (ni *NodeInfo) add(req corev1.ResourceList) {
	ni.Pods++
	for r, q := range req {
		cur := ni.Requested[r]
		cur.Add(q)
		ni.Requested[r] = cur
	}
}

// FitScheduler filters nodes by readiness, cordon, nodeSelector and resource
// fit (cpu, memory, ephemeral-storage requests and pod count against
// allocatable), then prefers the least allocated node.
type FitScheduler struct{}

// Schedule implements Scheduler.
func (FitScheduler) Schedule(pod *corev1.Pod, nodes []*NodeInfo) (string, error) {
	req := PodRequests(pod)
	reasons := map[string]int{}
	type candidate struct {
		name  string
		score float64
	}
	var fit []candidate
	for _, ni := range nodes {
		why := filterNode(pod, ni.Node, req, ni.Requested, ni.Pods)
		if len(why) > 0 {
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		fit = append(fit, candidate{ni.Node.Name, leastAllocated(ni.Node, addResources(ni.Requested, req))})
	}
	if len(fit) == 0 {
		return "", &UnschedulableError{Nodes: len(nodes), Reasons: reasons}
	}
	sort.SliceStable(fit, func(i, j int) bool {
		if fit[i].score != fit[j].score {
			return fit[i].score > fit[j].score
		}
		return fit[i].name < fit[j].name
	})
	return fit[0].name, nil
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

func filterNode(pod *corev1.Pod, n *corev1.Node, req, used corev1.ResourceList, pods int64) []string {
	var why []string
	if !nodeReady(n) {
		why = append(why, "node(s) were not ready")
	}
	if n.Spec.Unschedulable {
		why = append(why, "node(s) were unschedulable")
	}
	for k, v := range pod.Spec.NodeSelector {
		if n.Labels[k] != v {
			why = append(why, "node(s) didn't match Pod's node affinity/selector")
			break
		}
	}
	alloc := n.Status.Allocatable
	if max, ok := alloc[corev1.ResourcePods]; ok && pods+1 > max.Value() {
		why = append(why, "Too many pods")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		want, ok := req[r]
		if !ok || want.IsZero() {
			continue
		}
		total := used[r].DeepCopy()
		total.Add(want)
		have, ok := alloc[r]
		if !ok || total.Cmp(have) > 0 {
			why = append(why, "Insufficient "+string(r))
		}
	}
	return why
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
// after placing the pod.
func leastAllocated(n *corev1.Node, used corev1.ResourceList) float64 {
	score, k := 0.0, 0
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		have, ok := n.Status.Allocatable[r]
		if !ok || have.IsZero() {
			continue
		}
		u := used[r]
		score += 1 - float64(u.MilliValue())/float64(have.MilliValue())
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
		node, err := sched.Schedule(p, nodes)
		u := p
		if !newPods[p] {
			u = p.DeepCopy()
		}
		if err != nil {
			cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: err.Error()}
			if !setPodCondition(&u.Status, cond, now) && !newPods[p] {
				continue
			}
		} else {
			u.Spec.NodeName = node
			setPodCondition(&u.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)
			byName[node].add(PodRequests(u))
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
