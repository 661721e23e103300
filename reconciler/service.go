package reconciler

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strconv"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// allocator hands out cluster IPs and node ports. It is pure: it starts
// from the allocations of the stored Services and decides for the desired
// ones, so the same inputs always give the same addresses.
type allocator struct {
	ips       map[netip.Addr]string // in use → "Service ns/name"
	nodePorts map[string]string     // "30080/TCP" → "Service ns/name"
	errs      []string
}

// allocateServices fills in spec.clusterIP(s) and node ports of the desired
// Services. An allocation never changes while a Service exists: a stored
// Service keeps its address and node ports when Git leaves them out.
// Addresses Git sets are honoured; an address outside the service CIDR,
// reserved, or held by another Service is refused with an error naming the
// Service and its file.
//
// desired holds copies the caller owns; stored (every stored Service) is
// only read. Only stored Services that stay in the revision hold their
// allocations; those of removed Services are free again in the same
// commit. Explicit requests are honoured before anything is handed out, and
// new addresses are probed from a hash of the Service's name, so the
// result does not depend on the order of the inputs.
func allocateServices(desired []*corev1.Service, stored map[manifest.Key]*corev1.Service) []string {
	a := &allocator{ips: map[netip.Addr]string{}, nodePorts: map[string]string{}}
	byKey := map[manifest.Key]*corev1.Service{}
	for _, svc := range desired {
		byKey[manifest.KeyOf(svc)] = svc
	}
	// Stored Services that stay hold their allocations first; Services
	// being removed release theirs.
	storedKeys := make([]manifest.Key, 0, len(stored))
	for k := range stored {
		storedKeys = append(storedKeys, k)
	}
	sort.Slice(storedKeys, func(i, j int) bool { return storedKeys[i].String() < storedKeys[j].String() })
	for _, k := range storedKeys {
		old := stored[k]
		svc := byKey[k]
		if svc == nil {
			continue
		}
		who := describeService(old)
		if ip, err := netip.ParseAddr(old.Spec.ClusterIP); err == nil {
			switch {
			case svc.Spec.ClusterIP == "":
				svc.Spec.ClusterIP = old.Spec.ClusterIP
			case svc.Spec.ClusterIP != old.Spec.ClusterIP:
				a.errs = append(a.errs, fmt.Sprintf("%s: spec.clusterIP: cannot change from %s to %s: a Service's cluster IP is fixed while it exists; leave clusterIP out or set it to %s, or remove the Service in one commit and add it back in the next",
					sourceOf(svc), old.Spec.ClusterIP, svc.Spec.ClusterIP, old.Spec.ClusterIP))
				svc.Spec.ClusterIP = old.Spec.ClusterIP
			}
			a.ips[ip] = who
		}
		if svc.Spec.Type == corev1.ServiceTypeNodePort && old.Spec.Type == corev1.ServiceTypeNodePort {
			for i := range svc.Spec.Ports {
				p := &svc.Spec.Ports[i]
				prev := matchPort(old.Spec.Ports, p)
				if prev == nil || prev.NodePort == 0 {
					continue
				}
				if p.NodePort == 0 {
					p.NodePort = prev.NodePort
				}
			}
		}
	}
	// Node ports of staying Services, as they will be after this commit.
	for _, k := range storedKeys {
		if svc := byKey[k]; svc != nil {
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 && svc.Spec.Type == corev1.ServiceTypeNodePort {
					a.claimNodePort(svc, p)
				}
			}
		}
	}

	sort.Slice(desired, func(i, j int) bool {
		return manifest.KeyOf(desired[i]).String() < manifest.KeyOf(desired[j]).String()
	})
	// Addresses Git asks for, before any is handed out.
	for _, svc := range desired {
		if stored[manifest.KeyOf(svc)] != nil && a.ips[mustAddr(svc.Spec.ClusterIP)] == describeService(svc) {
			continue
		}
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			continue // validation refused it already
		}
		if msg := manifest.CheckClusterIP(addr); msg != "" {
			a.errs = append(a.errs, fmt.Sprintf("%s: spec.clusterIP: %s", sourceOf(svc), msg))
			continue
		}
		if other, taken := a.ips[addr]; taken {
			a.errs = append(a.errs, fmt.Sprintf("%s: spec.clusterIP: %s is already allocated to %s; choose another address or leave clusterIP out", sourceOf(svc), ip, other))
			continue
		}
		a.ips[addr] = describeService(svc)
	}
	for _, svc := range desired {
		if stored[manifest.KeyOf(svc)] == nil {
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 && svc.Spec.Type == corev1.ServiceTypeNodePort {
					a.claimNodePort(svc, p)
				}
			}
		}
	}
	// Then the Services that need an address or node ports.
	for _, svc := range desired {
		if svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName { // a DNS alias: no address
			if ip, ok := a.allocateIP(svc); ok {
				svc.Spec.ClusterIP = ip.String()
			}
		}
		if svc.Spec.ClusterIP != "" {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort {
			continue
		}
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort == 0 {
				if port, ok := a.allocateNodePort(svc, svc.Spec.Ports[i]); ok {
					svc.Spec.Ports[i].NodePort = port
				}
			}
		}
	}
	return a.errs
}

func (a *allocator) claimNodePort(svc *corev1.Service, p corev1.ServicePort) {
	key := fmt.Sprintf("%d/%s", p.NodePort, protocolOf(p))
	who := describeService(svc)
	if other, taken := a.nodePorts[key]; taken && other != who {
		a.errs = append(a.errs, fmt.Sprintf("%s: spec.ports[%s].nodePort: node port %s is already allocated to %s; choose another or leave nodePort out", sourceOf(svc), portLabel(p), key, other))
		return
	}
	a.nodePorts[key] = who
}

// allocateIP picks a free address, probing from a start derived from the
// Service's name, so a Service removed and added back usually gets its old
// address again.
func (a *allocator) allocateIP(svc *corev1.Service) (netip.Addr, bool) {
	base := manifest.ServiceCIDR.Addr().As4()
	size := uint32(1) << (32 - manifest.ServiceCIDR.Bits())
	start := nameHash(svc) % size
	for i := uint32(0); i < size; i++ {
		off := (start + i) % size
		b := base
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += off
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if manifest.CheckClusterIP(ip) != "" {
			continue
		}
		if _, taken := a.ips[ip]; taken {
			continue
		}
		a.ips[ip] = describeService(svc)
		return ip, true
	}
	a.errs = append(a.errs, fmt.Sprintf("%s: spec.clusterIP: the service CIDR %s is full", sourceOf(svc), manifest.ServiceCIDR))
	return netip.Addr{}, false
}

func (a *allocator) allocateNodePort(svc *corev1.Service, p corev1.ServicePort) (int32, bool) {
	size := uint32(manifest.NodePortMax - manifest.NodePortMin + 1)
	start := (nameHash(svc) + uint32(p.Port)) % size
	for i := uint32(0); i < size; i++ {
		port := int32(manifest.NodePortMin + (start+i)%size)
		key := fmt.Sprintf("%d/%s", port, protocolOf(p))
		if _, taken := a.nodePorts[key]; taken {
			continue
		}
		a.nodePorts[key] = describeService(svc)
		return port, true
	}
	a.errs = append(a.errs, fmt.Sprintf("%s: spec.ports[%s].nodePort: every node port %d-%d is allocated", sourceOf(svc), portLabel(p), manifest.NodePortMin, manifest.NodePortMax))
	return 0, false
}

// matchPort finds the stored port that p continues: the same name, or the
// same port and protocol when unnamed.
func matchPort(ports []corev1.ServicePort, p *corev1.ServicePort) *corev1.ServicePort {
	for i := range ports {
		q := &ports[i]
		if p.Name != "" && q.Name == p.Name || p.Name == "" && q.Name == "" && q.Port == p.Port && protocolOf(*q) == protocolOf(*p) {
			return q
		}
	}
	return nil
}

func protocolOf(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

func nameHash(svc *corev1.Service) uint32 {
	h := fnv.New32a()
	h.Write([]byte(svc.Namespace + "/" + svc.Name))
	return h.Sum32()
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

func describeService(svc *corev1.Service) string {
	return "Service " + svc.Namespace + "/" + svc.Name
}

// sourceOf names the file and line an object came from, and the object.
func sourceOf(o manifest.Object) string {
	kind := manifest.KindOf(o)
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	if src := o.GetAnnotations()[manifest.SourceAnnotation]; src != "" {
		return src + ": " + kind + " " + name
	}
	return kind + " " + name
}
