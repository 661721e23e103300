package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Protocol is an IP protocol number (6 TCP, 17 UDP, 132 SCTP).
type Protocol uint8

// Protocols tug's rules match.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return fmt.Sprintf("proto%d", uint8(p))
}

func protocolOf(p corev1.Protocol) (Protocol, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return TCP, true
	case corev1.ProtocolUDP:
		return UDP, true
	case corev1.ProtocolSCTP:
		return SCTP, true
	}
	return 0, false
}

// Endpoint is one ready backend of a service port.
type Endpoint struct {
	Addr netip.Addr
	Port uint16
}

func (e Endpoint) String() string { return netip.AddrPortFrom(e.Addr, e.Port).String() }

// ServicePort is one port of one Service: what traffic to its cluster IP
// (and node port) goes to.
type ServicePort struct {
	Namespace string
	Name      string
	Protocol  Protocol
	ClusterIP netip.Addr // invalid when the Service has none yet (not allocated)
	Port      uint16
	NodePort  uint16 // 0 when none
	// Affinity is sessionAffinity ClientIP: a client keeps its endpoint
	// for AffinityTimeout seconds after its last new connection.
	Affinity bool
	// AffinityTimeout is sessionAffinityConfig.clientIP.timeoutSeconds;
	// 0 is the default, AffinityTimeout (10800 s).
	AffinityTimeout uint32
	// Endpoints are the ready backends, sorted; none means reject.
	Endpoints []Endpoint
	// Local is the node port half of an externalTrafficPolicy Local port
	// (Render splits such a port in two: the cluster IP with every
	// endpoint, and this one with no ClusterIP): Endpoints are those on
	// this node only, and node port traffic is not masqueraded, so the
	// endpoint sees the client's address.
	Local bool
}

func (p ServicePort) String() string {
	s := p.Namespace + "/" + p.Name + ":" + strconv.Itoa(int(p.Port)) + "/" + p.Protocol.String()
	if p.Local {
		s += "/local"
	}
	return s
}

// comparePorts orders ports by namespace, name, protocol and port: the
// order of Ruleset.Ports.
func comparePorts(a, b *ServicePort) int {
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return boolCmp(a.Local, b.Local)
}

// Ruleset is the desired content of tug's table on one node.
type Ruleset struct {
	ServiceCIDR netip.Prefix
	Ports       []ServicePort // sorted by comparePorts, no two equal
	// Policy is the network policy part (CompilePolicies); nil is none.
	Policy *PolicyRules
}

// Render computes the Ruleset for services and their endpoints (matched by
// namespace and name). Headless and ExternalName services get no rules; a
// port whose endpoints have none ready, or which has no Endpoints object,
// rejects. Service ports are matched to endpoint ports by name, as in
// Kubernetes. It is pure. It is RenderNode for no node name: node ports of
// externalTrafficPolicy Local services then have no local endpoint.
func Render(serviceCIDR netip.Prefix, services []*corev1.Service, endpoints []*corev1.Endpoints) *Ruleset {
	return RenderNode(serviceCIDR, "", services, endpoints)
}

// RenderNode is Render on the node named node: the node port of an
// externalTrafficPolicy Local service goes only to the ready endpoints whose
// nodeName is node (rejecting when there are none) and is not masqueraded.
func RenderNode(serviceCIDR netip.Prefix, node string, services []*corev1.Service, endpoints []*corev1.Endpoints) *Ruleset {
	type nsName struct{ ns, name string }
	eps := make(map[nsName]*corev1.Endpoints, len(endpoints))
	for _, e := range endpoints {
		eps[nsName{e.Namespace, e.Name}] = e
	}
	rs := &Ruleset{ServiceCIDR: serviceCIDR, Ports: make([]ServicePort, 0, len(services))}
	byName := func(a, b *corev1.Service) int {
		if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	}
	if !slices.IsSortedFunc(services, byName) {
		services = slices.Clone(services)
		slices.SortFunc(services, byName)
	}
	for i, svc := range services {
		if i > 0 && byName(services[i-1], svc) == 0 {
			continue // the same Service twice
		}
		rs.Ports = appendServicePorts(rs.Ports, svc, eps[nsName{svc.Namespace, svc.Name}], node)
	}
	return rs
}

// affinityTimeout is a ClientIP Service's affinity timeout in seconds.
func affinityTimeout(svc *corev1.Service) uint32 {
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t > 0 && t <= 86400 {
			return uint32(t)
		}
	}
	return uint32(AffinityTimeout / time.Second)
}

// timeout is p's affinity timeout in seconds (the default when unset).
func (p ServicePort) timeout() uint32 {
	if p.AffinityTimeout == 0 {
		return uint32(AffinityTimeout / time.Second)
	}
	return p.AffinityTimeout
}

// appendServicePorts appends svc's ports, rendered with its endpoints ep
// (nil: none) on node, to ports: sorted, the first of duplicates kept.
// Headless and ExternalName services add none. It is pure.
func appendServicePorts(ports []ServicePort, svc *corev1.Service, ep *corev1.Endpoints, node string) []ServicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return ports
	}
	clusterIP, _ := netip.ParseAddr(svc.Spec.ClusterIP)
	if clusterIP.IsValid() && !clusterIP.Is4() {
		clusterIP = netip.Addr{}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	first := len(ports)
	for _, sp := range svc.Spec.Ports {
		proto, ok := protocolOf(sp.Protocol)
		if !ok || sp.Port <= 0 || sp.Port > 65535 {
			continue
		}
		p := ServicePort{
			Namespace: svc.Namespace,
			Name:      svc.Name,
			Protocol:  proto,
			ClusterIP: clusterIP,
			Port:      uint16(sp.Port),
			Endpoints: endpointsFor(ep, sp.Name, proto, nil),
			Affinity:  svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP,
		}
		if p.Affinity {
			p.AffinityTimeout = affinityTimeout(svc)
		}
		if nodePorts && sp.NodePort > 0 && sp.NodePort <= 65535 {
			p.NodePort = uint16(sp.NodePort)
		}
		if p.NodePort != 0 && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			local := p
			local.ClusterIP, local.Local = netip.Addr{}, true
			local.Endpoints = endpointsFor(ep, sp.Name, proto, func(a corev1.EndpointAddress) bool {
				return node != "" && a.NodeName != nil && *a.NodeName == node
			})
			ports = append(ports, local)
			p.NodePort = 0
		}
		if !p.ClusterIP.IsValid() && p.NodePort == 0 {
			continue
		}
		ports = append(ports, p)
	}
	// A service's own ports: sorted, the first of duplicates kept.
	own := ports[first:]
	if !slices.IsSortedFunc(own, func(a, b ServicePort) int { return comparePorts(&a, &b) }) {
		slices.SortStableFunc(own, func(a, b ServicePort) int { return comparePorts(&a, &b) })
	}
	ports = append(ports[:first], slices.CompactFunc(own, func(a, b ServicePort) bool { return comparePorts(&a, &b) == 0 })...)
	return ports
}

// endpointsFor returns the ready addresses of e serving the port named
// name (those keep accepts, when set), sorted and without duplicates.
func endpointsFor(e *corev1.Endpoints, name string, proto Protocol, keep func(corev1.EndpointAddress) bool) []Endpoint {
	if e == nil {
		return nil
	}
	var out []Endpoint
	for _, ss := range e.Subsets {
		if out == nil {
			out = make([]Endpoint, 0, len(ss.Addresses))
		}
		for _, ep := range ss.Ports {
			p, ok := protocolOf(ep.Protocol)
			if !ok || p != proto || ep.Name != name || ep.Port <= 0 || ep.Port > 65535 {
				continue
			}
			for _, a := range ss.Addresses {
				addr, err := netip.ParseAddr(a.IP)
				if err != nil || !addr.Is4() || (keep != nil && !keep(a)) {
					continue
				}
				out = append(out, Endpoint{Addr: addr, Port: uint16(ep.Port)})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return slices.Compact(out)
}
