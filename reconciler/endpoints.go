package reconciler

import (
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// planEndpoints keeps one Endpoints object per Service with a selector,
// named as the Service, as Kubernetes' endpoints controller does: the pods
// of the Service's namespace that match the selector, have an IP and are
// neither finished nor being deleted; ready ones in addresses, the others in
// notReadyAddresses. Each service port's targetPort is resolved per pod (a
// name through the pod's container ports; a pod without that port is left
// out of that port's subset). Pods with the same resolved ports share a
// subset. An Endpoints object is written only when it changes, and deleted
// with its Service or its selector. Endpoints committed to Git (tug.dev/source
// set) are left alone: those serve a Service without a selector, and are
// mirrored into EndpointSlices.
//
// The Service's EndpointSlices are planned from the same pods (see
// endpointslice.go).
func planEndpoints(w *Writes, ix *index, ids IDs) {
	services := map[string]*corev1.Service{}
	for _, svc := range ix.snap.Services {
		services[svc.Namespace+"/"+svc.Name] = svc
	}
	existing := map[string]*corev1.Endpoints{}
	slices := map[string][]sliceContent{}
	for _, ep := range ix.snap.Endpoints {
		key := ep.Namespace + "/" + ep.Name
		if committed(ep) {
			if svc := services[key]; svc != nil && len(svc.Spec.Selector) == 0 {
				slices[key] = mirrorContents(ep)
			}
			continue
		}
		if svc := services[key]; svc == nil || len(svc.Spec.Selector) == 0 {
			// The Service is gone, or lost its selector: what tug computed
			// for it no longer holds.
			w.Deletes = append(w.Deletes, ep)
			continue
		}
		existing[key] = ep
	}
	// Pods by namespace and label, so each Service looks only at the pods
	// carrying the rarest of its selector's labels.
	byLabel := map[string][]*corev1.Pod{}
	for _, p := range ix.snap.Pods {
		for k, v := range p.Labels {
			key := p.Namespace + "\x00" + k + "=" + v
			byLabel[key] = append(byLabel[key], p)
		}
	}
	for _, svc := range ix.snap.Services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		var candidates []*corev1.Pod
		first := true
		for k, v := range svc.Spec.Selector {
			pods := byLabel[svc.Namespace+"\x00"+k+"="+v]
			if first || len(pods) < len(candidates) {
				candidates, first = pods, false
			}
		}
		subsets := EndpointSubsets(svc, candidates)
		sc := serviceSliceContents(svc, candidates)
		if len(sc) == 0 {
			sc = []sliceContent{{}} // a placeholder, as Kubernetes keeps one
		}
		slices[svc.Namespace+"/"+svc.Name] = sc
		old := existing[svc.Namespace+"/"+svc.Name]
		if old != nil && subsetsEqual(old.Subsets, subsets) && maps.Equal(old.Labels, svc.Labels) {
			continue
		}
		ep := &corev1.Endpoints{}
		if old != nil {
			ep = old.DeepCopy()
		} else {
			ep.ObjectMeta = metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, UID: ids.UID()}
		}
		ep.Labels = maps.Clone(svc.Labels)
		ep.Subsets = subsets
		w.put(ep)
	}
	planEndpointSlices(w, ix, ids, slices)
}

// committed reports whether o was committed to Git rather than written by tug.
func committed(o manifest.Object) bool {
	_, ok := o.GetAnnotations()[manifest.SourceAnnotation]
	return ok
}

// EndpointSubsets computes the subsets of a Service's Endpoints from the
// pods of its namespace (see planEndpoints).
func EndpointSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	type group struct {
		ports    []corev1.EndpointPort
		ready    []corev1.EndpointAddress
		notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, p := range pods {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		ports := make([]corev1.EndpointPort, 0, len(svc.Spec.Ports))
		for _, sp := range svc.Spec.Ports {
			port, ok := resolveTargetPort(sp, p)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: protocolOf(sp)})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		addr := corev1.EndpointAddress{
			IP:       p.Status.PodIP,
			NodeName: ptrIfSet(p.Spec.NodeName),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID,
			},
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
			addr.Hostname = p.Spec.Hostname
		}
		if podReady(p) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		sortAddresses(g.ready)
		sortAddresses(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

// resolveTargetPort finds the pod port a service port sends to: the
// targetPort number, the service port when targetPort is left out, or the
// container port with the targetPort's name and the same protocol.
func resolveTargetPort(sp corev1.ServicePort, p *corev1.Pod) (int32, bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal == 0:
		return sp.Port, true
	case tp.Type == intstr.Int:
		return tp.IntVal, true
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if cp.Name == tp.StrVal && proto == protocolOf(sp) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(int(p.Port)))
		b.WriteByte('/')
		b.WriteString(string(p.Protocol))
		b.WriteByte(',')
	}
	return b.String()
}

func sortAddresses(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.Name < a[j].TargetRef.Name
	})
}

func ptrIfSet(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// subsetsEqual compares subsets field by field (a hot path: every pass,
// every Service); empty and nil lists are equal.
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !addressesEqual(a[i].Addresses, b[i].Addresses) || !addressesEqual(a[i].NotReadyAddresses, b[i].NotReadyAddresses) || len(a[i].Ports) != len(b[i].Ports) {
			return false
		}
		for j := range a[i].Ports {
			x, y := a[i].Ports[j], b[i].Ports[j]
			if x.Name != y.Name || x.Port != y.Port || x.Protocol != y.Protocol || !ptrEqual(x.AppProtocol, y.AppProtocol) {
				return false
			}
		}
	}
	return true
}

func addressesEqual(a, b []corev1.EndpointAddress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.IP != y.IP || x.Hostname != y.Hostname || !ptrEqual(x.NodeName, y.NodeName) || (x.TargetRef == nil) != (y.TargetRef == nil) {
			return false
		}
		if x.TargetRef != nil && *x.TargetRef != *y.TargetRef {
			return false
		}
	}
	return true
}

func ptrEqual(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
