package nodeagent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
)

// podCIDRFor decides the node's pod range: the configured one when there
// is one (tugd derives the DNS server's address from the same flag; the
// agent writes it into spec.podCIDR), else the stored Node's spec.podCIDR
// (the control plane's allocation, or what an earlier start registered),
// else none yet: wait for the control plane. changed reports a configured
// range that replaces another stored one. It is pure.
func podCIDRFor(cur *corev1.Node, configured string) (cidr string, changed bool) {
	stored := ""
	if cur != nil {
		stored = cur.Spec.PodCIDR
	}
	if configured != "" {
		return configured, stored != "" && !samePrefix(configured, stored)
	}
	return stored, false
}

func samePrefix(a, b string) bool {
	pa, erra := netip.ParsePrefix(a)
	pb, errb := netip.ParsePrefix(b)
	if erra != nil || errb != nil {
		return a == b
	}
	return pa.Masked() == pb.Masked()
}

// resolvePodCIDR settles the node's pod range before the first pass (see
// podCIDRFor) and sets the pod network up over it. Without a configured or
// stored range it registers the Node without one and waits until the
// control plane (the reconciler's pod CIDR allocator) writes spec.podCIDR.
func (a *Agent) resolvePodCIDR(ctx context.Context) error {
	nodeCh := a.cfg.Store.Notify(ctx, manifest.KindNode)
	for registered := false; ; {
		cur, err := a.storedNode()
		if err != nil {
			return err
		}
		cidr, changed := podCIDRFor(cur, a.cfg.PodCIDR)
		if changed {
			a.log.Warn("the configured pod CIDR replaces the node's spec.podCIDR; pods keep their old addresses until they restart",
				"podCIDR", cidr, "was", cur.Spec.PodCIDR)
		}
		if cidr != "" {
			return a.usePodCIDR(cidr)
		}
		if !registered {
			// The control plane allocates for registered nodes only (a
			// Node from Git alone has no status).
			if cur == nil || (len(cur.Status.Addresses) == 0 && len(cur.Status.Conditions) == 0) {
				if err := a.registerNode(ctx); err != nil {
					return fmt.Errorf("register node %s: %w", a.cfg.NodeName, err)
				}
			}
			registered = true
			a.log.Info("waiting for the control plane to give this node a pod CIDR (spec.podCIDR)")
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-nodeCh:
		}
	}
}

// storedNode is the agent's Node object, or nil when there is none. It
// lists Nodes rather than getting one, so the store's not-found error
// needs no name here.
func (a *Agent) storedNode() (*corev1.Node, error) {
	objs, err := a.cfg.Store.List(manifest.KindNode, "")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok && n.Name == a.cfg.NodeName {
			return n, nil
		}
	}
	return nil, nil
}

// usePodCIDR makes cidr the node's pod range: registered in the Node, and
// the CNI network's host-local range.
func (a *Agent) usePodCIDR(cidr string) error {
	if a.net == nil || a.cfg.PodCIDR != cidr {
		network, err := podnet.New(podnet.Config{DataDir: a.cfg.DataDir, CNIBinDir: a.cfg.CNIBinDir, PodCIDR: cidr})
		if err != nil {
			return fmt.Errorf("pod CIDR of node %s: %w", a.cfg.NodeName, err)
		}
		a.cfg.PodCIDR, a.net = cidr, network
	}
	a.settleOnce.Do(func() {
		a.settledCIDR = cidr
		close(a.cidrSettled)
	})
	return nil
}

// PodCIDR waits until Run has settled the node's pod range (see
// podCIDRFor) and returns it; tugd derives the DNS server's address (the
// bridge gateway) from it. It returns ctx's error if ctx ends first.
func (a *Agent) PodCIDR(ctx context.Context) (string, error) {
	select {
	case <-a.cidrSettled:
		return a.settledCIDR, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
