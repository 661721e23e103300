package reconciler

import (
	"math"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// kube-scheduler's default score plugin weights; each plugin scores a node
// 0..maxNodeScore.
const (
	maxNodeScore          = 100
	weightResourcesFit    = 1 // NodeResourcesFit, LeastAllocated
	weightBalanced        = 1 // NodeResourcesBalancedAllocation
	weightTaintToleration = 3
	weightNodeAffinity    = 2
	weightTopologySpread  = 2
	weightInterPod        = 2
)

// scoreBuffers recycles the per-pod score slices.
var scoreBuffers = sync.Pool{New: func() any { return new([]float64) }}

// scoreNodes returns the index (into nodes) of the best feasible node.
func scoreNodes(pod *corev1.Pod, req, nonZero Resources, nodes []*NodeInfo, fit []int, spread *spreadState, inter *interPodState) int {
	buf := scoreBuffers.Get().(*[]float64)
	defer scoreBuffers.Put(buf)
	if cap(*buf) < len(fit) {
		*buf = make([]float64, len(fit))
	}
	total := (*buf)[:len(fit)]
	for i, idx := range fit {
		ni := nodes[idx]
		total[i] = weightResourcesFit*maxNodeScore*leastAllocated(ni, nonZero) + weightBalanced*maxNodeScore*balancedAllocation(ni, req)
	}
	scoreTaints(pod, nodes, fit, total)
	scoreNodeAffinity(pod, nodes, fit, total)
	if spread != nil {
		raw, ignored := spread.scores(nodes, fit)
		normalizeSpread(raw, ignored, total)
	} else {
		scoreOwnerSpread(pod, nodes, fit, total)
	}
	if raw := inter.scores(nodes, fit); raw != nil {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range raw {
			lo, hi = min(lo, s), max(hi, s)
		}
		if hi > lo {
			for i, s := range raw {
				total[i] += weightInterPod * maxNodeScore * (s - lo) / (hi - lo)
			}
		}
	}
	best := 0
	for i := 1; i < len(fit); i++ {
		if total[i] > total[best] || total[i] == total[best] && nodes[fit[i]].Node.Name < nodes[fit[best]].Node.Name {
			best = i
		}
	}
	return fit[best]
}

// balancedAllocation scores a node 0..1 by how evenly cpu and memory would
// be used after placing the pod: 1 minus the standard deviation of the two
// used fractions (kube-scheduler's NodeResourcesBalancedAllocation).
func balancedAllocation(ni *NodeInfo, req Resources) float64 {
	var fr [2]float64
	k := 0
	if a := ni.Allocatable.MilliCPU; a > 0 {
		fr[k] = min(float64(ni.Requested.MilliCPU+req.MilliCPU)/float64(a), 1)
		k++
	}
	if a := ni.Allocatable.Memory; a > 0 {
		fr[k] = min(float64(ni.Requested.Memory+req.Memory)/float64(a), 1)
		k++
	}
	if k < 2 {
		return 1
	}
	return 1 - math.Abs(fr[0]-fr[1])/2
}

// scoreTaints is TaintToleration's score: fewer PreferNoSchedule taints the
// pod does not tolerate is better, normalized against the worst node.
func scoreTaints(pod *corev1.Pod, nodes []*NodeInfo, fit []int, total []float64) {
	var counts []int
	worst := 0
	for i, idx := range fit {
		n := 0
		for j := range nodes[idx].Node.Spec.Taints {
			t := &nodes[idx].Node.Spec.Taints[j]
			if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerated(pod.Spec.Tolerations, t) {
				n++
			}
		}
		if n > 0 && counts == nil {
			counts = make([]int, len(fit))
		}
		if counts != nil {
			counts[i] = n
		}
		worst = max(worst, n)
	}
	if worst == 0 {
		return // every node scores the full 100
	}
	for i := range fit {
		total[i] += weightTaintToleration * maxNodeScore * float64(worst-counts[i]) / float64(worst)
	}
}

// scoreNodeAffinity is NodeAffinity's score: the sum of the weights of the
// preferred terms a node matches, normalized against the best node.
func scoreNodeAffinity(pod *corev1.Pod, nodes []*NodeInfo, fit []int, total []float64) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return
	}
	terms := a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	raw := make([]float64, len(fit))
	best := 0.0
	for i, idx := range fit {
		for _, t := range terms {
			if len(t.Preference.MatchExpressions)+len(t.Preference.MatchFields) > 0 && termMatches(t.Preference, nodes[idx].Node) {
				raw[i] += float64(t.Weight)
			}
		}
		best = max(best, raw[i])
	}
	if best == 0 {
		return
	}
	for i := range fit {
		total[i] += weightNodeAffinity * maxNodeScore * raw[i] / best
	}
}

// normalizeSpread is PodTopologySpread's normalization: the fewer matching
// pods in a node's domains the better; nodes lacking a key score 0.
func normalizeSpread(raw []float64, ignored []bool, total []float64) {
	if raw == nil {
		return
	}
	lo, hi := math.Inf(1), 0.0
	for i, s := range raw {
		if ignored[i] {
			continue
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range raw {
		if ignored[i] {
			continue
		}
		score := float64(maxNodeScore)
		if hi > 0 {
			score = maxNodeScore * (hi + lo - s) / hi
		}
		total[i] += weightTopologySpread * score
	}
}

// scoreOwnerSpread stands in for kube-scheduler's system default spreading
// (applied to pods without constraints of their own): fewer pods of the
// same controller on a node is better.
func scoreOwnerSpread(pod *corev1.Pod, nodes []*NodeInfo, fit []int, total []float64) {
	owner := ownerUID(pod)
	if owner == "" {
		return
	}
	maxSame := 0
	for _, idx := range fit {
		maxSame = max(maxSame, nodes[idx].owners[owner])
	}
	if maxSame == 0 {
		return
	}
	for i, idx := range fit {
		total[i] += weightTopologySpread * maxNodeScore * float64(maxSame-nodes[idx].owners[owner]) / float64(maxSame)
	}
}
