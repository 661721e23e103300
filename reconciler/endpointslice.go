package reconciler

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// EndpointSlice labels, as Kubernetes sets them.
const (
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
	// EndpointSlices tug writes.
	ManagedBy = "tug.dev"
	// MaxEndpointsPerSlice is Kubernetes' default --max-endpoints-per-slice.
	MaxEndpointsPerSlice = 100
	// maxMirroredEndpoints is how many addresses of a committed Endpoints
	// object are mirrored, as Kubernetes' mirroring controller.
	maxMirroredEndpoints = 1000
)

// sliceContent is what one EndpointSlice holds, before it gets a name.
type sliceContent struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// ServiceSlices computes the EndpointSlice contents of a Service with a
// selector from the pods of its namespace, as Kubernetes' EndpointSlice
// controller does: every pod matching the selector that has an IP and has
// not finished, terminating ones included (ready false, serving as the
// pod's readiness, terminating true). Pods resolving to the same ports share
// slices of at most MaxEndpointsPerSlice endpoints.
func ServiceSlices(svc *corev1.Service, pods []*corev1.Pod) []discoveryv1.EndpointSlice {
	return toSlices(serviceSliceContents(svc, pods))
}

// MirrorSlices computes the EndpointSlice contents mirroring a committed
// Endpoints object, as Kubernetes' EndpointSlice mirroring controller does:
// addresses ready and serving, notReadyAddresses neither; subsets with the
// same ports merged; at most 1000 addresses.
func MirrorSlices(ep *corev1.Endpoints) []discoveryv1.EndpointSlice {
	return toSlices(mirrorContents(ep))
}

func toSlices(cs []sliceContent) []discoveryv1.EndpointSlice {
	out := make([]discoveryv1.EndpointSlice, len(cs))
	for i, c := range cs {
		out[i] = discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: c.ports, Endpoints: c.endpoints}
	}
	return out
}

func serviceSliceContents(svc *corev1.Service, pods []*corev1.Pod) []sliceContent {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	type group struct {
		resolved []int32 // target port per service port, -1 when unresolved
		content  *sliceContent
	}
	// Few groups: usually every pod resolves its ports the same way, so a
	// linear search beats building a key per pod.
	var groups []group
	resolved := make([]int32, len(svc.Spec.Ports))
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		n := 0
		for i, sp := range svc.Spec.Ports {
			resolved[i] = -1
			if port, ok := resolveTargetPort(sp, p); ok {
				resolved[i] = port
				n++
			}
		}
		if n == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		var g *group
		for i := range groups {
			if slices.Equal(groups[i].resolved, resolved) {
				g = &groups[i]
				break
			}
		}
		if g == nil {
			ports := make([]discoveryv1.EndpointPort, 0, n)
			for i, sp := range svc.Spec.Ports {
				if resolved[i] >= 0 {
					ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(resolved[i]), Protocol: ptr.To(protocolOf(sp))})
				}
			}
			sortSlicePorts(ports)
			groups = append(groups, group{resolved: slices.Clone(resolved), content: &sliceContent{ports: ports}})
			g = &groups[len(groups)-1]
		}
		// One allocation holds what the endpoint points to.
		a := &struct {
			conds [3]bool
			node  string
			addr  [1]string
			ref   corev1.ObjectReference
			host  string
		}{node: p.Spec.NodeName, addr: [1]string{p.Status.PodIP},
			ref: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
		terminating := p.DeletionTimestamp != nil
		serving := podReady(p)
		a.conds = [3]bool{serving && !terminating, serving, terminating}
		ep := discoveryv1.Endpoint{
			Addresses:  a.addr[:],
			Conditions: discoveryv1.EndpointConditions{Ready: &a.conds[0], Serving: &a.conds[1], Terminating: &a.conds[2]},
			TargetRef:  &a.ref,
		}
		if a.node != "" {
			ep.NodeName = &a.node
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
			a.host = p.Spec.Hostname
			ep.Hostname = &a.host
		}
		g.content.endpoints = append(g.content.endpoints, ep)
	}
	byKey := make(map[string]*sliceContent, len(groups))
	for _, g := range groups {
		key := slicePortsKey(g.content.ports)
		if prev := byKey[key]; prev != nil { // different resolutions, same ports
			prev.endpoints = append(prev.endpoints, g.content.endpoints...)
			continue
		}
		byKey[key] = g.content
	}
	return chunk(byKey)
}

func mirrorContents(e *corev1.Endpoints) []sliceContent {
	groups := map[string]*sliceContent{}
	n := 0
	for _, ss := range e.Subsets {
		ports := make([]discoveryv1.EndpointPort, 0, len(ss.Ports))
		for _, p := range ss.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(proto), AppProtocol: p.AppProtocol})
		}
		add := func(addrs []corev1.EndpointAddress, ready bool) {
			for _, a := range addrs {
				if n >= maxMirroredEndpoints || strings.Contains(a.IP, ":") {
					continue
				}
				n++
				ep := discoveryv1.Endpoint{
					Addresses: []string{a.IP},
					Conditions: discoveryv1.EndpointConditions{
						Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false),
					},
					NodeName: a.NodeName,
				}
				if a.Hostname != "" {
					ep.Hostname = ptr.To(a.Hostname)
				}
				if a.TargetRef != nil {
					ep.TargetRef = a.TargetRef.DeepCopy()
				}
				addToGroup(groups, ports, ep)
			}
		}
		add(ss.Addresses, true)
		add(ss.NotReadyAddresses, false)
	}
	return chunk(groups)
}

func addToGroup(groups map[string]*sliceContent, ports []discoveryv1.EndpointPort, ep discoveryv1.Endpoint) {
	sortSlicePorts(ports)
	key := slicePortsKey(ports)
	g := groups[key]
	if g == nil {
		g = &sliceContent{ports: ports}
		groups[key] = g
	}
	g.endpoints = append(g.endpoints, ep)
}

// chunk sorts each group's endpoints and cuts it into slices of at most
// MaxEndpointsPerSlice, in port-key order.
func chunk(groups map[string]*sliceContent) []sliceContent {
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []sliceContent
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g.endpoints, func(i, j int) bool {
			a, b := g.endpoints[i], g.endpoints[j]
			if a.Addresses[0] != b.Addresses[0] {
				return a.Addresses[0] < b.Addresses[0]
			}
			return targetName(a) < targetName(b)
		})
		for start := 0; start < len(g.endpoints); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(g.endpoints))
			out = append(out, sliceContent{ports: g.ports, endpoints: g.endpoints[start:end:end]})
		}
	}
	return out
}

func targetName(e discoveryv1.Endpoint) string {
	if e.TargetRef == nil {
		return ""
	}
	return e.TargetRef.Name
}

func sortSlicePorts(ports []discoveryv1.EndpointPort) {
	sort.Slice(ports, func(i, j int) bool {
		if a, b := ptr.Deref(ports[i].Name, ""), ptr.Deref(ports[j].Name, ""); a != b {
			return a < b
		}
		return ptr.Deref(ports[i].Port, 0) < ptr.Deref(ports[j].Port, 0)
	})
}

func slicePortsKey(ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(ptr.Deref(p.Name, ""))
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(int(ptr.Deref(p.Port, 0))))
		b.WriteByte('/')
		b.WriteString(string(ptr.Deref(p.Protocol, "")))
		b.WriteByte(',')
	}
	return b.String()
}

// planEndpointSlices makes the EndpointSlices tug manages (label
// endpointslice.kubernetes.io/managed-by: tug.dev) equal to want, keyed by
// namespace/service: existing slices of a Service are reused in name order
// and written only when they change, new ones are named <service>-<suffix>
// as Kubernetes' generateName does, and the rest are deleted (also every
// slice of a Service no longer in want). Slices other managers wrote are
// left alone.
func planEndpointSlices(w *Writes, ix *index, ids IDs, want map[string][]sliceContent) {
	services := map[string]*corev1.Service{}
	for _, svc := range ix.snap.Services {
		services[svc.Namespace+"/"+svc.Name] = svc
	}
	have := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range ix.snap.EndpointSlices {
		if s.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
			continue
		}
		key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
		if _, ok := want[key]; !ok {
			w.Deletes = append(w.Deletes, s)
			continue
		}
		have[key] = append(have[key], s)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		svc := services[key]
		if svc == nil {
			continue
		}
		old := have[key]
		sort.Slice(old, func(i, j int) bool { return old[i].Name < old[j].Name })
		lbls := maps.Clone(svc.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[discoveryv1.LabelServiceName] = svc.Name
		lbls[discoveryv1.LabelManagedBy] = ManagedBy
		for i, c := range want[key] {
			if i < len(old) {
				o := old[i]
				if o.AddressType == discoveryv1.AddressTypeIPv4 && maps.Equal(o.Labels, lbls) && slicePortsEqual(o.Ports, c.ports) && sliceEndpointsEqual(o.Endpoints, c.endpoints) {
					continue
				}
				u := o.DeepCopy()
				u.Labels = maps.Clone(lbls)
				u.AddressType = discoveryv1.AddressTypeIPv4
				u.Ports, u.Endpoints = c.ports, c.endpoints
				w.put(u)
				continue
			}
			s := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name:         svc.Name + "-" + ids.Suffix(),
					GenerateName: svc.Name + "-",
					Namespace:    svc.Namespace,
					UID:          ids.UID(),
					Labels:       maps.Clone(lbls),
					OwnerReferences: []metav1.OwnerReference{{
						APIVersion: "v1", Kind: manifest.KindService, Name: svc.Name, UID: svc.UID,
						Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
					}},
				},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       c.ports,
				Endpoints:   c.endpoints,
			}
			w.put(s)
		}
		for i := len(want[key]); i < len(old); i++ {
			w.Deletes = append(w.Deletes, old[i])
		}
	}
}

func slicePortsEqual(a, b []discoveryv1.EndpointPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !ptrEqual(x.Name, y.Name) || ptr.Deref(x.Port, -1) != ptr.Deref(y.Port, -1) ||
			ptr.Deref(x.Protocol, "") != ptr.Deref(y.Protocol, "") || !ptrEqual(x.AppProtocol, y.AppProtocol) {
			return false
		}
	}
	return true
}

func sliceEndpointsEqual(a, b []discoveryv1.Endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	boolEq := func(x, y *bool) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	for i := range a {
		x, y := a[i], b[i]
		if len(x.Addresses) != len(y.Addresses) || (len(x.Addresses) > 0 && x.Addresses[0] != y.Addresses[0]) ||
			!ptrEqual(x.Hostname, y.Hostname) || !ptrEqual(x.NodeName, y.NodeName) ||
			!boolEq(x.Conditions.Ready, y.Conditions.Ready) || !boolEq(x.Conditions.Serving, y.Conditions.Serving) ||
			!boolEq(x.Conditions.Terminating, y.Conditions.Terminating) || (x.TargetRef == nil) != (y.TargetRef == nil) {
			return false
		}
		if x.TargetRef != nil && *x.TargetRef != *y.TargetRef {
			return false
		}
	}
	return true
}
