package nodeagent

import (
	"context"
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node Leases, as the kubelet keeps them: the agent renews Lease
// kube-node-lease/<node> every LeaseRenewPeriod, apart from the Node's
// status heartbeat (every 10 s). The reconciler marks a node unreachable
// once it has been silent — no renewal, no heartbeat — for its grace
// period (10 s by default).
const (
	// LeaseDurationSeconds is written into the Lease (the grace period the
	// control plane applies by default).
	LeaseDurationSeconds = 10
	// LeaseRenewPeriod is a quarter of the lease duration, as the
	// kubelet's renew interval.
	LeaseRenewPeriod = LeaseDurationSeconds * time.Second / 4
)

// leaseObject returns the node's Lease to store: cur (nil when missing)
// renewed by node at now (microsecond precision). A Lease without owner
// gets the Node owner (nil: none yet) as its owner, as the kubelet's. Other
// fields written by others are kept. It is pure.
func leaseObject(cur *coordinationv1.Lease, node string, owner *corev1.Node, now time.Time) *coordinationv1.Lease {
	l := &coordinationv1.Lease{}
	if cur != nil {
		l = cur.DeepCopy()
	}
	l.Name = node
	l.Namespace = corev1.NamespaceNodeLease
	manifest.SetTypeMeta(l)
	if owner != nil && owner.UID != "" && len(l.OwnerReferences) == 0 {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: manifest.KindNode, Name: owner.Name, UID: owner.UID}}
	}
	holder, duration, renewed := node, int32(LeaseDurationSeconds), metav1.NewMicroTime(now)
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &duration
	l.Spec.RenewTime = &renewed
	return l
}

// renewLease writes the node's Lease, renewed now: one store write.
func (a *Agent) renewLease(owner *corev1.Node) error {
	key := manifest.Key{Kind: manifest.KindLease, Namespace: corev1.NamespaceNodeLease, Name: a.cfg.NodeName}
	return a.cfg.Store.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		var l *coordinationv1.Lease
		if cur != nil {
			var ok bool
			if l, ok = cur.(*coordinationv1.Lease); !ok {
				return nil, fmt.Errorf("%s is a %T", key, cur)
			}
		}
		return leaseObject(l, a.cfg.NodeName, owner, a.clock()), nil
	})
}

// runLease renews the node's Lease every period until ctx ends, on its own
// goroutine, so that a long sync pass never delays it. The Node (the
// Lease's owner) is read until found. A failed renewal is logged when
// renewals start failing and when they recover.
func (a *Agent) runLease(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var owner *corev1.Node
	failing := false
	for {
		if owner == nil {
			if o, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindNode, Name: a.cfg.NodeName}); err == nil {
				owner, _ = o.(*corev1.Node)
			}
		}
		err := a.renewLease(owner)
		lease := corev1.NamespaceNodeLease + "/" + a.cfg.NodeName
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.log.Warn("node lease renewal failed", "lease", lease, "err", err)
			failing = true
		case err == nil && failing:
			a.log.Info("node lease renewed again", "lease", lease)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
