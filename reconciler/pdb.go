package reconciler

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// budget is one PodDisruptionBudget's standing in a pass, computed as
// Kubernetes' disruption controller does.
type budget struct {
	pdb      *policyv1.PodDisruptionBudget
	selector labels.Selector
	expected int32 // pods the budget expects
	desired  int32 // healthy pods it wants
	healthy  int32 // ready pods not being deleted
	allowed  int32 // disruptions allowed
	err      string
}

// covers reports whether the budget selects p.
func (b *budget) covers(p *corev1.Pod) bool {
	return p.Namespace == b.pdb.Namespace && b.selector.Matches(labels.Set(p.Labels))
}

func (b *budget) name() string { return b.pdb.Namespace + "/" + b.pdb.Name }

// computeBudgets evaluates every budget over pods. expectedPods is the
// number of pods selected with an integer minAvailable, else the sum of
// the scales (replicas) of the selected pods' controllers (Deployment,
// ReplicaSet or StatefulSet; any other controller, or none, is an error
// that allows no disruption, as in Kubernetes). desiredHealthy is
// minAvailable (a percentage of expectedPods rounded up), or expectedPods
// minus maxUnavailable (rounded up); currentHealthy counts the selected
// pods that are ready and not being deleted; disruptionsAllowed is
// currentHealthy - desiredHealthy, at least 0.
func computeBudgets(ix *index, pods []*corev1.Pod) []*budget {
	out := make([]*budget, 0, len(ix.snap.PodDisruptionBudgets))
	for _, pdb := range ix.snap.PodDisruptionBudgets {
		b := &budget{pdb: pdb}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			sel = labels.Nothing()
		}
		b.selector = sel
		var selected []*corev1.Pod
		for _, p := range pods {
			if b.covers(p) {
				selected = append(selected, p)
				if p.DeletionTimestamp == nil && podReady(p) {
					b.healthy++
				}
			}
		}
		scale := func() int32 {
			n, err := expectedScale(ix, selected)
			if err != nil {
				b.err = err.Error()
			}
			return n
		}
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			b.expected = scale()
			maxUnavail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(b.expected), true)
			if err != nil {
				b.err = err.Error()
			}
			b.desired = max(b.expected-int32(maxUnavail), 0)
		case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
			b.desired = pdb.Spec.MinAvailable.IntVal
			b.expected = int32(len(selected))
		case pdb.Spec.MinAvailable != nil:
			b.expected = scale()
			minAvail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(b.expected), true)
			if err != nil {
				b.err = err.Error()
			}
			b.desired = int32(minAvail)
		}
		if b.err == "" && b.expected > 0 {
			b.allowed = max(b.healthy-b.desired, 0)
		}
		out = append(out, b)
	}
	return out
}

// expectedScale sums the replicas of the controllers of pods, each once.
func expectedScale(ix *index, pods []*corev1.Pod) (int32, error) {
	seen := map[types.UID]bool{}
	var sum int32
	for _, p := range pods {
		ref := controllerOf(p.OwnerReferences)
		if ref == nil {
			return 0, fmt.Errorf("found no controller ref for pod %q", p.Name)
		}
		uid, replicas, ok := controllerScale(ix, p.Namespace, ref)
		if !ok {
			return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
		}
		if !seen[uid] {
			seen[uid] = true
			sum += replicas
		}
	}
	return sum, nil
}

// controllerScale finds a pod's scalable controller: its StatefulSet, or
// its ReplicaSet's Deployment, or the ReplicaSet itself.
func controllerScale(ix *index, ns string, ref *metav1.OwnerReference) (types.UID, int32, bool) {
	switch ref.Kind {
	case "ReplicaSet":
		for _, rs := range ix.allReplicaSets() {
			if rs.UID != ref.UID {
				continue
			}
			if dref := controllerOf(rs.OwnerReferences); dref != nil && dref.Kind == "Deployment" {
				for _, d := range ix.snap.Deployments {
					if d.UID == dref.UID {
						return d.UID, replicasOf(d.Spec.Replicas), true
					}
				}
			}
			return rs.UID, replicasOf(rs.Spec.Replicas), true
		}
	case "StatefulSet":
		for _, sts := range ix.snap.StatefulSets {
			if sts.UID == ref.UID && sts.Namespace == ns {
				return sts.UID, replicasOf(sts.Spec.Replicas), true
			}
		}
	}
	return "", 0, false
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// planDisruptionBudgets writes each budget's status when it changed.
func planDisruptionBudgets(w *Writes, ix *index, now time.Time) {
	if len(ix.snap.PodDisruptionBudgets) == 0 {
		return
	}
	pods := append(append([]*corev1.Pod{}, ix.snap.Pods...), ix.newPods...)
	deleted := map[types.UID]bool{}
	for _, d := range w.Deletes {
		deleted[d.GetUID()] = true
	}
	live := pods[:0]
	for _, p := range pods {
		if !deleted[p.UID] {
			live = append(live, p)
		}
	}
	for _, b := range computeBudgets(ix, live) {
		st := policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: b.pdb.Generation,
			DisruptionsAllowed: b.allowed,
			CurrentHealthy:     b.healthy,
			DesiredHealthy:     b.desired,
			ExpectedPods:       b.expected,
			DisruptedPods:      b.pdb.Status.DisruptedPods,
		}
		cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
			Reason: policyv1.SufficientPodsReason, ObservedGeneration: b.pdb.Generation}
		switch {
		case b.err != "":
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, policyv1.SyncFailedReason, b.err
		case b.allowed == 0:
			cond.Status, cond.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
		}
		cond.LastTransitionTime = metav1.NewTime(now)
		for _, c := range b.pdb.Status.Conditions {
			if c.Type == cond.Type && c.Status == cond.Status {
				cond.LastTransitionTime = c.LastTransitionTime
			}
		}
		st.Conditions = []metav1.Condition{cond}
		if equality.Semantic.DeepEqual(st, b.pdb.Status) {
			continue
		}
		u := b.pdb.DeepCopy()
		u.Status = st
		w.put(u)
	}
}

// isDaemonPod reports whether a DaemonSet controls p; drains leave those
// (as kubectl drain --ignore-daemonsets).
func isDaemonPod(p *corev1.Pod) bool {
	ref := controllerOf(p.OwnerReferences)
	return ref != nil && ref.Kind == "DaemonSet"
}
