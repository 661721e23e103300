package reconciler

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Reasons kube-scheduler's VolumeBinding and VolumeRestrictions plugins give.
const (
	reasonVolumeNodeConflict = "node(s) had volume node affinity conflict"
	reasonNoVolumeToBind     = "node(s) didn't find available persistent volumes to bind"
	reasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
	reasonReadWriteOncePod   = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)

// scheduleWithVolumes is the volume filter in front of the Scheduler, as
// kube-scheduler's VolumeBinding plugin: a pod whose claim is missing,
// being deleted, or unbound in a class that binds at once (Immediate)
// waits Pending; a claim bound to a volume with node affinity admits only
// the nodes it names; an unbound WaitForFirstConsumer claim whose class
// cannot provision admits only nodes some Available volume fits, and one
// whose class provisions only the node of a pod already scheduled with it. The
// remaining nodes go to sched, and the reasons for those filtered out join
// its "0/N nodes are available" message.
func scheduleWithVolumes(sched Scheduler, pod *corev1.Pod, nodes []*NodeInfo, ix *index) (string, error) {
	claims := podClaims(pod)
	if len(claims) == 0 {
		return sched.Schedule(pod, nodes)
	}
	v := ix.volumes()
	var admits []func(*corev1.Node) string // "" admits, else the reason
	for _, name := range claims {
		c := v.claims[pod.Namespace+"/"+name]
		switch {
		case c == nil:
			return "", podWide(len(nodes), fmt.Sprintf("persistentvolumeclaim %q not found", name))
		case c.DeletionTimestamp != nil:
			return "", podWide(len(nodes), fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		case slices.Contains(c.Spec.AccessModes, corev1.ReadWriteOncePod) && claimUsedByOther(ix, pod, name):
			return "", podWide(len(nodes), reasonReadWriteOncePod)
		case c.Spec.VolumeName != "":
			pv := v.pvs[c.Spec.VolumeName]
			if pv == nil {
				return "", podWide(len(nodes), fmt.Sprintf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", name, c.Spec.VolumeName))
			}
			admits = append(admits, func(n *corev1.Node) string {
				if volumeReachable(pv, n) {
					return ""
				}
				return reasonVolumeNodeConflict
			})
		default:
			className := v.className(c)
			sc := v.classes[className]
			if !waitsForConsumer(sc) {
				return "", podWide(len(nodes), reasonUnboundImmediate)
			}
			if canProvision(sc) {
				// A pod scheduled earlier decides where the volume goes.
				if node := consumerNode(ix, pod, name); node != "" {
					admits = append(admits, func(n *corev1.Node) string {
						if n.Name == node {
							return ""
						}
						return reasonVolumeNodeConflict
					})
				}
				continue
			}
			admits = append(admits, func(n *corev1.Node) string {
				if v.bestVolume(c, className, n) != nil {
					return ""
				}
				return reasonNoVolumeToBind
			})
		}
	}
	if len(admits) == 0 {
		return v.placed(pod, claims)(sched.Schedule(pod, nodes))
	}
	reasons := map[string]int{}
	fit := make([]*NodeInfo, 0, len(nodes))
	for _, ni := range nodes {
		why := ""
		for _, admit := range admits {
			if why = admit(ni.Node); why != "" {
				break
			}
		}
		if why != "" {
			reasons[why]++
			continue
		}
		fit = append(fit, ni)
	}
	if len(fit) == 0 {
		return "", &UnschedulableError{Nodes: len(nodes), Reasons: reasons}
	}
	node, err := v.placed(pod, claims)(sched.Schedule(pod, fit))
	var ue *UnschedulableError
	if errors.As(err, &ue) {
		merged := &UnschedulableError{Nodes: len(nodes), Reasons: reasons}
		for r, n := range ue.Reasons {
			merged.Reasons[r] += n
		}
		return "", merged
	}
	return node, err
}

// podWide is the error for a reason that rules out every node.
func podWide(nodes int, reason string) error {
	if nodes == 0 {
		return &UnschedulableError{}
	}
	return &UnschedulableError{Nodes: nodes, Reasons: map[string]int{reason: nodes}}
}

// claimUsedByOther reports whether another scheduled pod that has not
// finished uses the claim (ReadWriteOncePod admits one pod at a time).
func claimUsedByOther(ix *index, pod *corev1.Pod, claim string) bool {
	uses := func(p *corev1.Pod) bool {
		if p.UID == pod.UID || p.Namespace != pod.Namespace || p.Spec.NodeName == "" ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return false
		}
		return slices.Contains(podClaims(p), claim)
	}
	return slices.ContainsFunc(ix.snap.Pods, uses) || slices.ContainsFunc(ix.newPods, uses)
}

// consumerNode is the node of another scheduled, unfinished pod using the
// claim ("" when there is none).
func consumerNode(ix *index, pod *corev1.Pod, claim string) string {
	if node := ix.volumes().placedOn[pod.Namespace+"/"+claim]; node != "" {
		return node
	}
	for _, ps := range [][]*corev1.Pod{ix.snap.Pods, ix.newPods} {
		for _, p := range ps {
			if p.UID != pod.UID && p.Namespace == pod.Namespace && p.Spec.NodeName != "" && p.DeletionTimestamp == nil &&
				p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && slices.Contains(podClaims(p), claim) {
				return p.Spec.NodeName
			}
		}
	}
	return ""
}

// placed returns a function that records, when the pod was scheduled, its
// node as the one its claims' pods go to in the rest of this pass.
func (v *volumeIndex) placed(pod *corev1.Pod, claims []string) func(string, error) (string, error) {
	return func(node string, err error) (string, error) {
		if err == nil && node != "" {
			if v.placedOn == nil {
				v.placedOn = map[string]string{}
			}
			for _, c := range claims {
				if _, ok := v.placedOn[pod.Namespace+"/"+c]; !ok {
					v.placedOn[pod.Namespace+"/"+c] = node
				}
			}
		}
		return node, err
	}
}
