package proxy

import (
	"net/netip"
	"slices"
)

// ClusterDNS is the reserved cluster DNS address (10.43.0.10) and the
// node's DNS server it stands for (the pod bridge gateway, 10.42.0.1:53).
type ClusterDNS struct {
	IP     netip.Addr
	Server netip.AddrPort
}

// ClusterDNSName is the name of the pseudo-service the cluster DNS ports
// render as; its empty namespace sorts it before every Service's ports
// and cannot clash with one.
const ClusterDNSName = "cluster-dns"

// AddClusterDNS adds d's ports to r: IP:53 over UDP and TCP, each with the
// one endpoint d.Server, as ordinary map elements (so the skeleton stays
// fixed and the Tracker diffs them like any port). Any Service port on the
// same address is dropped: the reconciler never allocates it. A zero d
// leaves r unchanged. It is pure.
func (r *Ruleset) AddClusterDNS(d ClusterDNS) {
	if !d.IP.Is4() || !d.Server.Addr().Is4() || d.Server.Port() == 0 {
		return
	}
	ports := slices.DeleteFunc(slices.Clone(r.Ports), func(p ServicePort) bool { return p.ClusterIP == d.IP })
	ep := []Endpoint{{Addr: d.Server.Addr(), Port: d.Server.Port()}}
	dns := []ServicePort{
		{Name: ClusterDNSName, Protocol: TCP, ClusterIP: d.IP, Port: 53, Endpoints: ep},
		{Name: ClusterDNSName, Protocol: UDP, ClusterIP: d.IP, Port: 53, Endpoints: slices.Clone(ep)},
	}
	slices.SortFunc(dns, func(a, b ServicePort) int { return comparePorts(&a, &b) })
	r.Ports = append(dns, ports...)
}
