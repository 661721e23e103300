package reconciler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// drainNodes drains the cordoned nodes (spec.unschedulable, set through
// Git) as kubectl drain does, through the eviction API's rules: each pod
// there — DaemonSet pods excepted — is evicted (deleted gracefully with a
// DisruptionTarget condition, its controller replacing it elsewhere in the
// same pass) unless a PodDisruptionBudget covering it allows no
// disruption. A budget's disruptionsAllowed is spent one eviction at a
// time; an evicted pod stops counting as healthy, so the next eviction
// under that budget waits until a replacement is ready (a later pass, the
// loop waking on the pod's status). Pods not yet running (Pending), and
// unready pods whose budget is healthy or whose unhealthyPodEvictionPolicy
// is AlwaysAllow, are evicted regardless, as the eviction API does; a pod
// covered by more than one budget is refused, as there. Each pod gets an
// Evicted or EvictionBlocked event naming the budget.
//
// NoExecute taints, Git's included, evict through the taint manager
// (planNodes), which Kubernetes does not gate on budgets either.
func drainNodes(w *Writes, ix *index, now time.Time) {
	cordoned := map[string]bool{}
	for _, n := range ix.snap.Nodes {
		if n.Spec.Unschedulable {
			cordoned[n.Name] = true
		}
	}
	if len(cordoned) == 0 {
		return
	}
	var budgets []*budget // computed on the first pod that needs them
	pods := ix.snap.Pods
	changed := false
	for i, p := range pods {
		if !cordoned[p.Spec.NodeName] || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded ||
			p.Status.Phase == corev1.PodFailed || isDaemonPod(p) {
			continue
		}
		if budgets == nil {
			budgets = computeBudgets(ix, ix.snap.Pods)
		}
		var covering []*budget
		for _, b := range budgets {
			if b.covers(p) {
				covering = append(covering, b)
			}
		}
		ok, msg := mayEvict(p, covering)
		if !ok {
			w.Events = append(w.Events, manifest.NewEvent(p, corev1.EventTypeWarning, ReasonEvictionBlocked, msg, componentController, "", now))
			continue
		}
		u := p.DeepCopy()
		setPodCondition(&u.Status, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting"}, now)
		ts := metav1.NewTime(now)
		u.DeletionTimestamp = &ts
		u.DeletionGracePeriodSeconds = ptr.To(ptr.Deref(p.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds))
		w.replace(u)
		if !changed {
			pods = slices.Clone(pods)
			changed = true
		}
		pods[i] = u
		if ref := controllerOf(p.OwnerReferences); ref != nil {
			replacePod(ix.podByOwner[ref.UID], p.UID, u)
		}
		w.Events = append(w.Events, manifest.NewEvent(u, corev1.EventTypeNormal, ReasonEvicted, msg, componentController, "", now))
	}
	if changed {
		ix.snap.Pods = pods
	}
}

// mayEvict applies the eviction API's rules to p on a cordoned node,
// spending a disruption of its budget when it evicts; the message says
// why, naming the budget.
func mayEvict(p *corev1.Pod, covering []*budget) (bool, string) {
	node := p.Spec.NodeName
	if len(covering) == 0 {
		return true, fmt.Sprintf("Evicted from cordoned node %s", node)
	}
	if len(covering) > 1 {
		names := make([]string, len(covering))
		for i, b := range covering {
			names[i] = b.name()
		}
		return false, fmt.Sprintf("Cannot evict pod from cordoned node %s: it has more than one PodDisruptionBudget (%s), which the eviction subresource does not support", node, strings.Join(names, ", "))
	}
	b := covering[0]
	if p.Status.Phase == corev1.PodPending {
		return true, fmt.Sprintf("Evicted from cordoned node %s (pending: disruption budget %s does not apply)", node, b.name())
	}
	ready := podReady(p)
	if !ready && b.err == "" {
		if ptr.Deref(b.pdb.Spec.UnhealthyPodEvictionPolicy, policyv1.IfHealthyBudget) == policyv1.AlwaysAllow {
			return true, fmt.Sprintf("Evicted unhealthy pod from cordoned node %s (disruption budget %s: unhealthyPodEvictionPolicy AlwaysAllow)", node, b.name())
		}
		if b.healthy >= b.desired && b.desired > 0 {
			return true, fmt.Sprintf("Evicted unhealthy pod from cordoned node %s (disruption budget %s is healthy: %d of %d)", node, b.name(), b.healthy, b.desired)
		}
	}
	if b.allowed <= 0 {
		why := fmt.Sprintf("it allows 0 disruptions (%d healthy pods, %d desired)", b.healthy, b.desired)
		if b.err != "" {
			why = b.err
		}
		return false, fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %s: %s; the drain of node %s waits", b.name(), why, node)
	}
	b.allowed--
	if ready {
		b.healthy--
	}
	return true, fmt.Sprintf("Evicted from cordoned node %s; disruption budget %s allowed it", node, b.name())
}
