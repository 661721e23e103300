package reconciler

import (
	"net/netip"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Node lifecycle defaults.
const (
	// DefaultNodeGracePeriod is how long a node may stay silent (no Lease
	// renewal, no heartbeat) before it is marked unreachable, as
	// Kubernetes' node-monitor-grace-period (40 s there).
	DefaultNodeGracePeriod = 10 * time.Second
	// DefaultTolerationSeconds is how long a pod stays bound to a node that
	// is not ready or unreachable before it is evicted, unless the pod has
	// its own toleration for those taints.
	DefaultTolerationSeconds int64 = 30
	// HeartbeatPeriod is how often the node agent renews its Node's Ready
	// condition (nodeagent's heartbeat).
	HeartbeatPeriod = 10 * time.Second
	// LeaseRenewPeriod is how often the node agent renews its Lease in
	// kube-node-lease: a quarter of the lease duration (10 s), as the
	// kubelet does.
	LeaseRenewPeriod = 2500 * time.Millisecond
)

// Options tune Plan; zero fields take the defaults above.
type Options struct {
	// NodeGracePeriod: a node silent for longer — now minus the later of
	// its Lease's renewTime and its Ready heartbeat — is unreachable. A
	// node without a Lease (an agent that does not renew one) is judged by
	// its heartbeat alone, which is only due every HeartbeatPeriod and
	// stored to the second: it is unreachable once the heartbeat is older
	// than HeartbeatPeriod + 1 s + NodeGracePeriod.
	NodeGracePeriod time.Duration
	// DefaultTolerationSeconds is given to new pods for the not-ready and
	// unreachable NoExecute taints, as Kubernetes' DefaultTolerationSeconds
	// admission plugin does (300 s there).
	DefaultTolerationSeconds int64
	// ClusterCIDR is the pod address range nodes get their spec.podCIDR
	// from (see podcidr.go); zero: pod CIDRs are not allocated.
	ClusterCIDR netip.Prefix
	// NodeCIDRMaskSize is the prefix length of each node's block; default
	// DefaultNodeCIDRMaskSize (24).
	NodeCIDRMaskSize int
	// ReservedPodCIDRs keeps a block for a node by name (the server's
	// embedded node): no other node is given it.
	ReservedPodCIDRs map[string]netip.Prefix
	// StorageDir is where the local-path provisioner puts volumes on the
	// node (<data-dir>/storage); default DefaultStorageDir.
	StorageDir string
}

func (o Options) withDefaults() Options {
	if o.NodeGracePeriod <= 0 {
		o.NodeGracePeriod = DefaultNodeGracePeriod
	}
	if o.DefaultTolerationSeconds <= 0 {
		o.DefaultTolerationSeconds = DefaultTolerationSeconds
	}
	if o.StorageDir == "" {
		o.StorageDir = DefaultStorageDir
	}
	return o
}

// planNodes is the node lifecycle controller: a node silent for longer
// than the grace period (see nodeDeadline) gets Ready=Unknown
// (NodeStatusUnknown) and the node.kubernetes.io/unreachable NoSchedule and
// NoExecute taints; a node reporting Ready=False gets the not-ready ones; a
// node heartbeating Ready=True again loses them. Nodes that never sent a
// heartbeat are left alone. The pods on a node with a NoExecute taint are
// marked not ready (so Services stop sending them traffic) and evicted —
// deleted gracefully, with a DisruptionTarget condition — once the pod's
// toleration for the taint runs out (at once if it has none; never if it
// tolerates it without tolerationSeconds). Their controllers replace them
// elsewhere in the same pass; a ReplicaSet does not wait for the
// eviction of pods on an unreachable node (see reachablePods). The pod objects stay Terminating until the
// node agent comes back and stops them, as in Kubernetes. Lease renewals
// do not wake the control loop: planNodes requeues itself for the moment
// the newest renewal it saw would expire.
func planNodes(w *Writes, ix *index, now time.Time, opts Options) {
	renewed := nodeLeaseRenewals(ix.snap.Leases)
	deleteOrphanLeases(w, ix.snap)
	evictions := map[string][]corev1.Taint{} // node → its NoExecute taints
	notReady := map[string]bool{}
	for i, n := range ix.snap.Nodes {
		ready := readyCondition(n)
		if ready == nil || ready.LastHeartbeatTime.IsZero() {
			continue
		}
		u := n.DeepCopy()
		uready := readyCondition(u)
		if ready.Status == corev1.ConditionTrue {
			if late := nodeDeadline(ready.LastHeartbeatTime.Time, renewed[n.Name], opts.NodeGracePeriod); now.Before(late) {
				w.requeue(late.Sub(now))
			} else {
				uready.Status = corev1.ConditionUnknown
				uready.Reason = "NodeStatusUnknown"
				uready.Message = "Kubelet stopped posting node status."
				uready.LastTransitionTime = metav1.NewTime(now)
			}
		}
		var want []string
		switch uready.Status {
		case corev1.ConditionUnknown:
			want = []string{corev1.TaintNodeUnreachable}
		case corev1.ConditionFalse:
			want = []string{corev1.TaintNodeNotReady}
		}
		u.Spec.Taints = setLifecycleTaints(u.Spec.Taints, want, now)
		if !slices.EqualFunc(u.Spec.Taints, n.Spec.Taints, func(a, b corev1.Taint) bool { return a.MatchTaint(&b) }) ||
			uready.Status != ready.Status {
			w.put(u)
			ix.snap.Nodes = slices.Clone(ix.snap.Nodes)
			ix.snap.Nodes[i] = u
		}
		notReady[u.Name] = uready.Status != corev1.ConditionTrue
		if uready.Status == corev1.ConditionUnknown {
			if ix.unreachable == nil {
				ix.unreachable = map[string]bool{}
			}
			ix.unreachable[u.Name] = true
		}
	}
	for _, n := range ix.snap.Nodes {
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoExecute {
				evictions[n.Name] = append(evictions[n.Name], t)
			}
		}
	}
	if len(evictions) == 0 {
		return
	}
	pods := slices.Clone(ix.snap.Pods)
	changed := false
	for i, p := range pods {
		taints := evictions[p.Spec.NodeName]
		if len(taints) == 0 || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		u := p.DeepCopy()
		dirty := false
		if notReady[p.Spec.NodeName] && podReady(p) {
			dirty = setPodCondition(&u.Status, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse,
				Reason: "NodeNotReady", Message: "node " + p.Spec.NodeName + " is not ready"}, now)
		}
		if at, ok := evictionTime(p, taints); ok {
			if now.Before(at) {
				w.requeue(at.Sub(now))
			} else {
				setPodCondition(&u.Status, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
					Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint"}, now)
				ts := metav1.NewTime(now)
				u.DeletionTimestamp = &ts
				u.DeletionGracePeriodSeconds = ptr.To(ptr.Deref(p.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds))
				dirty = true
			}
		}
		if !dirty {
			continue
		}
		w.replace(u)
		pods[i] = u
		changed = true
		if ref := controllerOf(p.OwnerReferences); ref != nil {
			replacePod(ix.podByOwner[ref.UID], p.UID, u)
		}
	}
	if changed {
		ix.snap.Pods = pods
	}
}

// nodeLeaseRenewals returns each node's last Lease renewal (the Leases
// in kube-node-lease, named after their node).
func nodeLeaseRenewals(leases []*coordinationv1.Lease) map[string]time.Time {
	out := make(map[string]time.Time, len(leases))
	for _, l := range leases {
		if l.Namespace == corev1.NamespaceNodeLease && l.Spec.RenewTime != nil {
			out[l.Name] = l.Spec.RenewTime.Time
		}
	}
	return out
}

// deleteOrphanLeases deletes the node Leases whose Node is gone (owner
// references to a Node, as the kubelet writes them, have this effect in
// Kubernetes).
func deleteOrphanLeases(w *Writes, s Snapshot) {
	nodes := make(map[string]bool, len(s.Nodes))
	for _, n := range s.Nodes {
		nodes[n.Name] = true
	}
	for _, l := range s.Leases {
		if l.Namespace == corev1.NamespaceNodeLease && !nodes[l.Name] {
			w.Deletes = append(w.Deletes, l)
		}
	}
}

// nodeDeadline is when a node that last heartbeat at heartbeat and last
// renewed its Lease at renewed (zero: no Lease) becomes unreachable: grace
// after the later of the two, as Kubernetes measures
// node-monitor-grace-period from its probe timestamp. Without a Lease, the
// heartbeat alone: grace after the next one was due (HeartbeatPeriod, plus
// 1 s since heartbeats are stored to the second).
func nodeDeadline(heartbeat, renewed time.Time, grace time.Duration) time.Time {
	if renewed.IsZero() {
		return heartbeat.Add(HeartbeatPeriod + time.Second + grace)
	}
	if heartbeat.After(renewed) {
		renewed = heartbeat
	}
	return renewed.Add(grace)
}

func replacePod(pods []*corev1.Pod, uid types.UID, u *corev1.Pod) {
	for i, p := range pods {
		if p.UID == uid {
			pods[i] = u
		}
	}
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// setLifecycleTaints makes the not-ready/unreachable taints of a node
// exactly want (each as NoSchedule and NoExecute), keeping other taints
// and the time an existing NoExecute taint was added.
func setLifecycleTaints(taints []corev1.Taint, want []string, now time.Time) []corev1.Taint {
	var out []corev1.Taint
	have := map[corev1.Taint]bool{}
	for _, t := range taints {
		if t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady {
			if !slices.Contains(want, t.Key) {
				continue
			}
			have[corev1.Taint{Key: t.Key, Effect: t.Effect}] = true
		}
		out = append(out, t)
	}
	for _, key := range want {
		for _, eff := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			if have[corev1.Taint{Key: key, Effect: eff}] {
				continue
			}
			t := corev1.Taint{Key: key, Effect: eff}
			if eff == corev1.TaintEffectNoExecute {
				t.TimeAdded = ptr.To(metav1.NewTime(now))
			}
			out = append(out, t)
		}
	}
	return out
}

// evictionTime returns when a pod on a node with these NoExecute taints is
// to be evicted: the earliest expiry among the tolerations of every taint
// (now if one taint is not tolerated); false if it tolerates them all for
// ever.
func evictionTime(p *corev1.Pod, taints []corev1.Taint) (time.Time, bool) {
	var at time.Time
	found := false
	for i := range taints {
		t := &taints[i]
		added := time.Time{}
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		var best *corev1.Toleration
		for j := range p.Spec.Tolerations {
			tol := &p.Spec.Tolerations[j]
			if !tolerated([]corev1.Toleration{*tol}, t) {
				continue
			}
			if tol.TolerationSeconds == nil {
				best = tol
				break
			}
			if best == nil || *tol.TolerationSeconds > *best.TolerationSeconds {
				best = tol
			}
		}
		var when time.Time
		switch {
		case best == nil:
			when = added // not tolerated: at once
		case best.TolerationSeconds == nil:
			continue
		default:
			when = added.Add(time.Duration(max(*best.TolerationSeconds, 0)) * time.Second)
		}
		if !found || when.Before(at) {
			at, found = when, true
		}
	}
	return at, found
}

// admitPod adds the default tolerations for the not-ready and unreachable
// NoExecute taints to a new pod that has none for them, as Kubernetes'
// DefaultTolerationSeconds admission plugin does.
func admitPod(p *corev1.Pod, seconds int64) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		taint := &corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
		if tolerated(p.Spec.Tolerations, taint) {
			continue
		}
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(seconds)})
	}
}
