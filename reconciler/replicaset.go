package reconciler

import (
	"maps"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// planReplicaSet creates or deletes pods until the ReplicaSet has the
// desired number of live pods, and updates its status. Pods on an
// unreachable node are not counted (see reachablePods): they are replaced at
// once, and left to the eviction their toleration sets.
func planReplicaSet(w *Writes, rs *appsv1.ReplicaSet, ix *index, now time.Time, ids IDs) {
	desired := int(ptr.Deref(rs.Spec.Replicas, 1))
	live := livePods(ix.podByOwner[rs.UID])
	counted := reachablePods(live, ix.unreachable)
	switch {
	case len(counted) < desired:
		for i := len(counted); i < desired; i++ {
			ix.newPods = append(ix.newPods, newPod(rs, ids))
		}
	case len(counted) > desired:
		sort.SliceStable(counted, func(i, j int) bool { return deletionRank(counted[i], counted[j]) })
		for _, p := range counted[:len(counted)-desired] {
			deletePod(w, p, now)
		}
	}
	updateReplicaSetStatus(w, rs, live, ix, now)
}

// reachablePods returns the pods not bound to an unreachable node. A
// ReplicaSet's pods are interchangeable, so it replaces the others — lost
// with their node — as soon as the node is marked unreachable (as Nomad
// reschedules the allocations of a down node and Swarm the tasks of a
// down node) instead of after their eviction: the default
// tolerationSeconds (30 s) then governs only when the lost pod objects
// are deleted. Kubernetes' ReplicaSet controller waits for the eviction;
// that wait is what makes its failover take minutes. If the node comes
// back first, its pods count again and the ReplicaSet deletes the
// surplus, the not-ready ones first. StatefulSets, DaemonSets and Jobs
// still wait for the eviction, as in Kubernetes: a StatefulSet pod must
// never run twice.
func reachablePods(pods []*corev1.Pod, unreachable map[string]bool) []*corev1.Pod {
	if len(unreachable) == 0 {
		return pods
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if !unreachable[p.Spec.NodeName] {
			out = append(out, p)
		}
	}
	return out
}

func newPod(rs *appsv1.ReplicaSet, ids IDs) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	name := rs.Name + "-" + ids.Suffix()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:         name,
			GenerateName: rs.Name + "-",
			Namespace:    rs.Namespace,
			UID:          ids.UID(),
			Labels:       maps.Clone(t.Labels),
			Annotations:  maps.Clone(t.Annotations),
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")),
			},
		},
		Spec:   t.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&t.Spec)},
	}
}

// deletionRank orders pods the way Kubernetes picks which to delete first:
// unscheduled before scheduled, pending before running, not ready before
// ready, newer before older.
func deletionRank(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	rank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	if rank[a.Status.Phase] != rank[b.Status.Phase] {
		return rank[a.Status.Phase] < rank[b.Status.Phase]
	}
	if podReady(a) != podReady(b) {
		return !podReady(a)
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// deletePod deletes an unbound pod at once and asks the node agent to stop a
// bound one by setting its deletion timestamp.
func deletePod(w *Writes, p *corev1.Pod, now time.Time) {
	if p.Spec.NodeName == "" {
		w.Deletes = append(w.Deletes, p)
		return
	}
	if p.DeletionTimestamp != nil {
		return
	}
	u := p.DeepCopy()
	ts := metav1.NewTime(now)
	u.DeletionTimestamp = &ts
	grace := ptr.Deref(p.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
	u.DeletionGracePeriodSeconds = &grace
	w.replace(u)
}

// updateReplicaSetStatus counts a pod available once it has been Ready for
// the ReplicaSet's minReadySeconds, asking for a pass when the next one gets
// there.
func updateReplicaSetStatus(w *Writes, rs *appsv1.ReplicaSet, live []*corev1.Pod, ix *index, now time.Time) {
	ready := int32(countReady(live))
	available, wait := countAvailable(live, rs.Spec.MinReadySeconds, now)
	w.requeue(wait)
	st := appsv1.ReplicaSetStatus{
		Replicas:             int32(len(live)),
		FullyLabeledReplicas: int32(len(live)),
		ReadyReplicas:        ready,
		AvailableReplicas:    int32(available),
		ObservedGeneration:   rs.Generation,
	}
	if equality.Semantic.DeepEqual(st, rs.Status) {
		return
	}
	u := rs.DeepCopy()
	u.Status = st
	if _, isNew := ix.updated[rs.UID]; isNew || rs.ResourceVersion == "" {
		// Already written in this pass (or being created): replace that write.
		w.replace(u)
	} else {
		w.put(u)
	}
	ix.updated[u.UID] = u
}

// livePods returns the pods that are not being deleted and have not
// finished.
func livePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out
}

func countReady(pods []*corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// qosClass computes the pod's QoS class as Kubernetes does for cpu and memory.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := 0, 0
	guaranteed := true
	for _, c := range spec.Containers {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq {
				requests++
			}
			if hasLim {
				limits++
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case requests == 0 && limits == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}
