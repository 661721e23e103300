package reconciler

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod address allocation defaults.
var (
	// DefaultClusterCIDR is the cluster's pod address range; every node
	// gets a block of it in spec.podCIDR.
	DefaultClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
)

// DefaultNodeCIDRMaskSize is the prefix length of each node's block (a /24:
// 254 pod addresses, more than MaxPods).
const DefaultNodeCIDRMaskSize = 24

// planPodCIDRs is the node IPAM controller: every registered Node (one
// its agent has reported an address or a condition for) without
// spec.podCIDR gets the lowest block of opts.ClusterCIDR (of
// opts.NodeCIDRMaskSize bits) that no other node's spec.podCIDR overlaps.
// A Node committed to Git whose agent has not registered yet gets none: it
// may never run pods, and its agent may bring its own range.
// Nodes are served in name order, so a pass is deterministic. An existing
// spec.podCIDR is never changed, whoever set it (the embedded node's agent
// sets its own 10.42.0.0/24), so the allocation is stable across restarts:
// it lives in the Node object. A block is free again once its Node object
// is gone. When the range is exhausted the node is left without one (as
// Kubernetes' CIDRNotAvailable), and gets one when another node leaves. A
// zero opts.ClusterCIDR turns the controller off. It runs after planNodes
// and replaces that controller's put of the same node.
func planPodCIDRs(w *Writes, ix *index, opts Options) {
	if !opts.ClusterCIDR.IsValid() {
		return
	}
	got := allocatePodCIDRs(ix.snap.Nodes, opts.ClusterCIDR, opts.NodeCIDRMaskSize, opts.ReservedPodCIDRs)
	if len(got) == 0 {
		return
	}
	nodes := slices.Clone(ix.snap.Nodes)
	for i, n := range nodes {
		cidr, ok := got[n.Name]
		if !ok {
			continue
		}
		u := n.DeepCopy()
		u.Spec.PodCIDR = cidr.String()
		u.Spec.PodCIDRs = []string{cidr.String()}
		w.replace(u)
		nodes[i] = u
	}
	ix.snap.Nodes = nodes
}

// allocatePodCIDRs returns a block for every registered node in nodes
// that has no spec.podCIDR, by node name, avoiding the blocks other nodes
// hold and the blocks reserved for a node by name (the server's embedded
// node, whose agent sets its own range and may register after a remote
// node): a node gets its reserved block unless another node holds it. It
// is pure.
func allocatePodCIDRs(nodes []*corev1.Node, cluster netip.Prefix, bits int, reserved map[string]netip.Prefix) map[string]netip.Prefix {
	cluster = cluster.Masked()
	if bits <= 0 {
		bits = DefaultNodeCIDRMaskSize
	}
	if !cluster.Addr().Is4() || bits < cluster.Bits() || bits > 32 {
		return nil
	}
	var held []netip.Prefix
	var want []*corev1.Node
	for _, n := range nodes {
		if n.Spec.PodCIDR != "" || len(n.Spec.PodCIDRs) > 0 {
			held = append(held, nodePodCIDRs(n)...)
			continue
		}
		if len(n.Status.Addresses) > 0 || len(n.Status.Conditions) > 0 {
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		return nil
	}
	slices.SortFunc(want, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	out := make(map[string]netip.Prefix, len(want))
	for _, n := range want { // reserved blocks first, while free
		if p, ok := reserved[n.Name]; ok && !slices.ContainsFunc(held, p.Overlaps) {
			out[n.Name] = p
			held = append(held, p)
		}
	}
	for _, p := range reserved {
		held = append(held, p) // kept for their nodes
	}
	next := netip.PrefixFrom(cluster.Addr(), bits)
	for _, n := range want {
		if _, done := out[n.Name]; done {
			continue
		}
		for ; cluster.Contains(next.Addr()); next = nextBlock(next) {
			if !slices.ContainsFunc(held, next.Overlaps) {
				break
			}
		}
		if !cluster.Contains(next.Addr()) {
			break // exhausted
		}
		out[n.Name] = next
		held = append(held, next)
	}
	return out
}

// nodePodCIDRs parses a node's spec.podCIDR and spec.podCIDRs; invalid
// entries are skipped (they cannot overlap anything we hand out).
func nodePodCIDRs(n *corev1.Node) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// nextBlock is the block of the same size right after p; it wraps to an
// address outside any cluster range at the top of the address space.
func nextBlock(p netip.Prefix) netip.Prefix {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	step := uint32(1) << (32 - p.Bits())
	if v+step < v { // overflow: past 255.255.255.255
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	v += step
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), p.Bits())
}
