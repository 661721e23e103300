package proxy

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Renderer is RenderNode with memory, for a loop that renders the whole
// store on every change: a Service whose object and Endpoints are the
// ones it rendered last time (the same resource versions, or the same
// pointers for objects without one) reuses that rendering, so one
// endpoint change re-renders one Service. Services and Endpoints listed
// sorted by namespace and name (as the store lists them) are matched with
// each other and with the last pass by merge walks, with no map; other
// input is rendered by RenderNode. The result equals RenderNode's. A
// Renderer is not safe for concurrent use.
type Renderer struct {
	Node       string            // this node (see RenderNode)
	last, next []renderedService // sorted by namespace and name
}

type renderedService struct {
	svc   *corev1.Service
	ep    *corev1.Endpoints
	ports []ServicePort
}

// sameVersion reports whether two objects (both set) with resource
// versions rva and rvb, at pa and pb, are one version of an object: equal
// non-empty resource versions, or one pointer.
func sameVersion(rva, rvb string, pa, pb any) bool {
	if rva != "" {
		return rva == rvb
	}
	return pa == pb
}

// Render is RenderNode(serviceCIDR, r.Node, services, endpoints).
func (r *Renderer) Render(serviceCIDR netip.Prefix, services []*corev1.Service, endpoints []*corev1.Endpoints) *Ruleset {
	if !servicesSorted(services) || !endpointsSorted(endpoints) {
		r.last = r.last[:0]
		return RenderNode(serviceCIDR, r.Node, services, endpoints)
	}
	rs := &Ruleset{ServiceCIDR: serviceCIDR, Ports: make([]ServicePort, 0, len(services))}
	next := r.next[:0]
	j, k := 0, 0 // in endpoints, in r.last
	for i, svc := range services {
		ns, name := svc.Namespace, svc.Name
		if i > 0 && services[i-1].Namespace == ns && services[i-1].Name == name {
			continue // the same Service twice
		}
		for j < len(endpoints) && (endpoints[j].Name != name || endpoints[j].Namespace != ns) &&
			compareName(endpoints[j].Namespace, endpoints[j].Name, ns, name) < 0 {
			j++
		}
		var ep *corev1.Endpoints
		if j < len(endpoints) && endpoints[j].Namespace == ns && endpoints[j].Name == name {
			ep = endpoints[j]
		}
		// Usually r.last[k] is this Service already (same position).
		for k < len(r.last) && (r.last[k].svc.Name != name || r.last[k].svc.Namespace != ns) &&
			compareName(r.last[k].svc.Namespace, r.last[k].svc.Name, ns, name) < 0 {
			k++
		}
		var old *renderedService
		if k < len(r.last) && r.last[k].svc.Namespace == ns && r.last[k].svc.Name == name {
			old = &r.last[k]
		}
		if old != nil && sameVersion(old.svc.ResourceVersion, svc.ResourceVersion, old.svc, svc) &&
			((old.ep == nil && ep == nil) || (old.ep != nil && ep != nil && sameVersion(old.ep.ResourceVersion, ep.ResourceVersion, old.ep, ep))) {
			rs.Ports = append(rs.Ports, old.ports...)
			next = append(next, *old)
			continue
		}
		first := len(rs.Ports)
		rs.Ports = appendServicePorts(rs.Ports, svc, ep, r.Node)
		// A copy: a slice of rs.Ports would keep this pass's whole array
		// alive for as long as the Service stays unchanged.
		next = append(next, renderedService{svc: svc, ep: ep, ports: slices.Clone(rs.Ports[first:])})
	}
	// Swap: what was not listed this time is forgotten.
	clear(r.last) // drop references to old objects
	r.last, r.next = next, r.last[:0]
	return rs
}

func compareName(ns1, n1, ns2, n2 string) int {
	if c := cmp.Compare(ns1, ns2); c != 0 {
		return c
	}
	return cmp.Compare(n1, n2)
}

// servicesSorted reports whether services are sorted by namespace and
// name (duplicates allowed: the first is rendered).
func servicesSorted(services []*corev1.Service) bool {
	for i := 1; i < len(services); i++ {
		if compareName(services[i-1].Namespace, services[i-1].Name, services[i].Namespace, services[i].Name) > 0 {
			return false
		}
	}
	return true
}

// endpointsSorted reports whether endpoints are sorted by namespace and
// name, without duplicates.
func endpointsSorted(endpoints []*corev1.Endpoints) bool {
	for i := 1; i < len(endpoints); i++ {
		if compareName(endpoints[i-1].Namespace, endpoints[i-1].Name, endpoints[i].Namespace, endpoints[i].Name) >= 0 {
			return false
		}
	}
	return true
}
