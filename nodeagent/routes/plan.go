package routes

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Route is one other node's pod range via its address.
type Route struct {
	Dst  netip.Prefix // the node's spec.podCIDR, masked
	Gw   netip.Addr   // its InternalIP
	Node string       // for logs; not part of the route
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Gw.String() }

// Plan returns the routes node self wants, sorted by destination: for every
// other node with an IPv4 pod CIDR and an IPv4 InternalIP, its pod CIDR via
// that address. Nodes are taken in name order; one whose pod CIDR overlaps
// self's or an earlier node's, or whose address is a loopback address or
// self's own, gets no route. It is pure.
func Plan(nodes []*corev1.Node, self string) []Route {
	var own []netip.Prefix
	var ownIP netip.Addr
	for _, n := range nodes {
		if n.Name == self {
			own = podCIDRs(n)
			ownIP = InternalIP(n)
		}
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	var out []Route
	for _, n := range sorted {
		if n.Name == self {
			continue
		}
		gw := InternalIP(n)
		if !gw.Is4() || gw.IsLoopback() || gw.IsUnspecified() || gw == ownIP {
			continue
		}
		for _, dst := range podCIDRs(n) {
			if !dst.Addr().Is4() || slices.ContainsFunc(own, dst.Overlaps) ||
				slices.ContainsFunc(out, func(r Route) bool { return r.Dst.Overlaps(dst) }) {
				continue
			}
			out = append(out, Route{Dst: dst, Gw: gw, Node: n.Name})
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	return out
}

// InternalIP is a node's first InternalIP address, or the zero Addr.
func InternalIP(n *corev1.Node) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// podCIDRs are a node's valid pod CIDRs, masked, spec.podCIDRs first (its
// first entry equals spec.podCIDR when both are set).
func podCIDRs(n *corev1.Node) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range append(slices.Clone(n.Spec.PodCIDRs), n.Spec.PodCIDR) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		if p = p.Masked(); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Diff returns what turns the installed routes into the wanted ones:
// routes to replace (missing, or via another gateway) and routes to delete
// (no longer wanted). Both come out sorted by destination. It is pure.
func Diff(installed, want []Route) (replace, del []Route) {
	have := make(map[netip.Prefix]netip.Addr, len(installed))
	for _, r := range installed {
		have[r.Dst] = r.Gw
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, r := range want {
		wanted[r.Dst] = true
		if gw, ok := have[r.Dst]; !ok || gw != r.Gw {
			replace = append(replace, r)
		}
	}
	for _, r := range installed {
		if !wanted[r.Dst] {
			del = append(del, r)
		}
	}
	byDst := func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) }
	slices.SortFunc(replace, byDst)
	slices.SortFunc(del, byDst)
	return replace, del
}
