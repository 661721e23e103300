package nodeagent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
)

// podCIDRFor decides the node's pod range: the stored Node's spec.podCIDR
// when it has one (the control plane's allocation, or what an earlier start
// registered), else the configured one (empty: none yet, wait for the
// control plane). mismatch reports a configured range the Node overrides.
// It is pure.
func podCIDRFor(cur *corev1.Node, configured string) (cidr string, mismatch bool) {
	if cur != nil && cur.Spec.PodCIDR != "" {
		return cur.Spec.PodCIDR, configured != "" && !samePrefix(configured, cur.Spec.PodCIDR)
	}
	return configured, false
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
// podCIDRFor) and sets the pod network up over it. Without a stored or
// configured range it registers the Node without one and waits until the
// control plane (the reconciler's pod CIDR allocator) writes spec.podCIDR.
func (a *Agent) resolvePodCIDR(ctx context.Context) error {
	changed := a.cfg.Store.Notify(ctx, manifest.KindNode)
	for registered := false; ; {
		cur, err := a.storedNode()
		if err != nil {
			return err
		}
		cidr, mismatch := podCIDRFor(cur, a.cfg.PodCIDR)
		if mismatch {
			a.log.Warn("the node's spec.podCIDR differs from the configured pod CIDR; using spec.podCIDR",
				"podCIDR", cidr, "configured", a.cfg.PodCIDR)
		}
		if cidr != "" {
			return a.usePodCIDR(cidr)
		}
		if !registered {
			if cur == nil { // the control plane allocates for registered nodes only
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
		case <-changed:
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
