package dns

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// TTL is the time to live of every record the server makes up, in seconds
// (CoreDNS's kubernetes plugin default).
const TTL = 5

// DefaultDomain is the cluster domain.
const DefaultDomain = "cluster.local"

// Index is the server's view of the cluster's names, built by BuildIndex
// from Services and Endpoints and never changed afterwards: a rebuild
// replaces it whole.
type Index struct {
	domain      string // "cluster.local."
	serviceCIDR netip.Prefix
	names       map[string]*entry     // lower-case FQDN → records
	exists      map[string]bool       // every ancestor of a name, down to domain (empty non-terminals)
	ptr         map[netip.Addr]string // address → FQDN
	soa         *mdns.SOA
}

type entry struct {
	a     []netip.Addr
	srv   []srvRecord
	cname string // ExternalName: the FQDN this name is an alias for
}

type srvRecord struct {
	port   uint16
	target string // FQDN with A records in the index
}

// BuildIndex indexes services and their endpoints (matched by namespace and
// name) under domain (DefaultDomain when empty):
//
//   - <svc>.<ns>.svc.<domain> A: the cluster IP; for a headless service
//     (clusterIP None), every ready address of its Endpoints.
//   - <host>.<svc>.<ns>.svc.<domain> A, headless only: one name per ready
//     address, its hostname when the Endpoints give one, else its address
//     with dashes (10-42-0-7).
//   - _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV, for named ports: the
//     service name and port; headless, each ready address's own name and
//     endpoint port.
//   - PTR for cluster IPs and headless addresses, to the names above.
//   - <svc>.<ns>.svc.<domain> CNAME spec.externalName for an ExternalName
//     service (see Lookup for how it is followed).
//
// Pod names, a-b-c-d.<ns>.pod.<domain>, are answered by Lookup without an
// index entry.
//
// Names inside serviceCIDR's reverse zone and domain that are not indexed
// do not exist. It is pure.
func BuildIndex(domain string, serviceCIDR netip.Prefix, services []*corev1.Service, endpoints []*corev1.Endpoints) *Index {
	if domain == "" {
		domain = DefaultDomain
	}
	domain = mdns.CanonicalName(domain)
	x := &Index{
		domain:      domain,
		serviceCIDR: serviceCIDR,
		names:       make(map[string]*entry, 2*len(services)),
		exists:      make(map[string]bool, 3*len(services)),
		ptr:         make(map[netip.Addr]string, len(services)),
		soa: &mdns.SOA{
			Hdr:     mdns.RR_Header{Name: domain, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: TTL},
			Ns:      "ns.dns." + domain,
			Mbox:    "hostmaster." + domain,
			Serial:  1,
			Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL,
		},
	}
	type nsName struct{ ns, name string }
	eps := make(map[nsName]*corev1.Endpoints, len(endpoints))
	for _, e := range endpoints {
		eps[nsName{e.Namespace, e.Name}] = e
	}
	x.exists["svc."+domain] = true
	x.exists["pod."+domain] = true
	for _, svc := range services {
		base := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + domain)
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			if target := svc.Spec.ExternalName; target != "" {
				x.add(base)
				x.names[base].cname = strings.ToLower(mdns.CanonicalName(target))
			}
			continue
		}
		x.add(base)
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			x.headless(base, eps[nsName{svc.Namespace, svc.Name}])
			continue
		}
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !ip.Is4() {
			continue // not allocated yet: the name exists, with no address
		}
		x.names[base].a = append(x.names[base].a, ip)
		x.ptr[ip] = base
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			name := srvName(p.Name, p.Protocol, base)
			x.add(name)
			x.names[name].srv = append(x.names[name].srv, srvRecord{port: uint16(p.Port), target: base})
		}
	}
	for _, e := range x.names {
		slices.SortFunc(e.a, netip.Addr.Compare)
		e.a = slices.Compact(e.a)
		slices.SortFunc(e.srv, func(a, b srvRecord) int {
			if c := strings.Compare(a.target, b.target); c != 0 {
				return c
			}
			return int(a.port) - int(b.port)
		})
		e.srv = slices.Compact(e.srv)
	}
	return x
}

func (x *Index) headless(base string, ep *corev1.Endpoints) {
	if ep == nil {
		return
	}
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil || !ip.Is4() {
				continue
			}
			host := a.Hostname
			if host == "" {
				host = strings.ReplaceAll(ip.String(), ".", "-")
			}
			own := strings.ToLower(host) + "." + base
			x.add(own)
			x.names[own].a = append(x.names[own].a, ip)
			x.names[base].a = append(x.names[base].a, ip)
			if _, taken := x.ptr[ip]; !taken || a.Hostname != "" {
				x.ptr[ip] = own
			}
			for _, p := range ss.Ports {
				if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
					continue
				}
				name := srvName(p.Name, p.Protocol, base)
				x.add(name)
				x.names[name].srv = append(x.names[name].srv, srvRecord{port: uint16(p.Port), target: own})
			}
		}
	}
}

func srvName(port string, proto corev1.Protocol, base string) string {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return strings.ToLower("_" + port + "._" + string(proto) + "." + base)
}

// add makes name exist, with its ancestors down to the domain.
func (x *Index) add(name string) {
	if x.names[name] == nil {
		x.names[name] = &entry{}
	}
	for n := name; n != x.domain && n != ""; {
		if x.exists[n] {
			return // and so do its ancestors
		}
		x.exists[n] = true
		_, rest, ok := strings.Cut(n, ".")
		if !ok {
			break
		}
		n = rest
	}
}

// Answer is what to reply to one question.
type Answer struct {
	// Forward: the name is not the cluster's; ask the upstream resolvers.
	Forward bool
	// Chase: Answer ends in a CNAME (an ExternalName service) to this name
	// outside the cluster domain; the server asks the upstream resolvers
	// for it and appends their answer, as a recursive resolver does.
	Chase  string
	Rcode  int // mdns.RcodeSuccess or mdns.RcodeNameError
	Answer []mdns.RR
	Ns     []mdns.RR // the SOA, on NXDOMAIN and empty answers
	Extra  []mdns.RR // A records of SRV targets
}

// Lookup answers one question from the index. It is pure and safe for
// concurrent use.
func (x *Index) Lookup(q mdns.Question) Answer {
	name := strings.ToLower(mdns.CanonicalName(q.Name))
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return Answer{Forward: true}
	}
	if strings.HasSuffix(name, ".in-addr.arpa.") {
		return x.reverse(name, q.Qtype)
	}
	if name != x.domain && !strings.HasSuffix(name, "."+x.domain) {
		return Answer{Forward: true}
	}
	if ip, ok := x.podName(name); ok {
		var ans Answer
		if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
			ans.Answer = []mdns.RR{x.a(name, ip)}
		} else {
			ans.Ns = []mdns.RR{x.soa}
		}
		return ans
	}
	e := x.names[name]
	if e != nil && e.cname != "" {
		return x.alias(name, q)
	}
	if e == nil {
		if name == x.domain && (q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY) {
			return Answer{Rcode: mdns.RcodeSuccess, Answer: []mdns.RR{x.soa}}
		}
		if name == x.domain || x.exists[name] {
			return Answer{Rcode: mdns.RcodeSuccess, Ns: []mdns.RR{x.soa}}
		}
		return Answer{Rcode: mdns.RcodeNameError, Ns: []mdns.RR{x.soa}}
	}
	var ans Answer
	if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
		for _, ip := range e.a {
			ans.Answer = append(ans.Answer, x.a(name, ip))
		}
	}
	if q.Qtype == mdns.TypeSRV || q.Qtype == mdns.TypeANY {
		weight := uint16(100)
		if n := len(e.srv); n > 1 {
			weight = uint16(max(1, 100/n))
		}
		seen := map[string]bool{}
		for _, s := range e.srv {
			ans.Answer = append(ans.Answer, &mdns.SRV{
				Hdr:      mdns.RR_Header{Name: name, Rrtype: mdns.TypeSRV, Class: mdns.ClassINET, Ttl: TTL},
				Priority: 0, Weight: weight, Port: s.port, Target: s.target,
			})
			if t := x.names[s.target]; t != nil && !seen[s.target] {
				seen[s.target] = true
				for _, ip := range t.a {
					ans.Extra = append(ans.Extra, x.a(s.target, ip))
				}
			}
		}
	}
	if len(ans.Answer) == 0 {
		ans.Ns = []mdns.RR{x.soa}
	}
	return ans
}

// maxChase bounds a chain of ExternalName aliases inside the cluster
// domain (a loop ends there, with the CNAMEs so far).
const maxChase = 8

// alias answers a question for an ExternalName service's name: its CNAME,
// followed inside the cluster domain by the target's own answer (up to
// maxChase aliases); a target outside it is left for the server to chase
// (Answer.Chase). A question for the CNAME itself gets only the CNAME.
func (x *Index) alias(name string, q mdns.Question) Answer {
	var ans Answer
	for range maxChase {
		e := x.names[name]
		if e == nil || e.cname == "" {
			break
		}
		ans.Answer = append(ans.Answer, &mdns.CNAME{
			Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: TTL}, Target: e.cname})
		if q.Qtype == mdns.TypeCNAME {
			return ans
		}
		name = e.cname
		if name != x.domain && !strings.HasSuffix(name, "."+x.domain) {
			ans.Chase = name
			return ans
		}
		if next := x.names[name]; next == nil || next.cname == "" {
			rest := x.Lookup(mdns.Question{Name: name, Qtype: q.Qtype, Qclass: mdns.ClassINET})
			ans.Answer = append(ans.Answer, rest.Answer...)
			ans.Extra, ans.Rcode = rest.Extra, rest.Rcode
			if len(rest.Answer) == 0 {
				ans.Ns = []mdns.RR{x.soa}
			}
			return ans
		}
	}
	return ans
}

// podName parses a pod name, a-b-c-d.<ns>.pod.<domain>, into a-b-c-d's
// address. Like CoreDNS's "pods insecure" mode (kubeadm's default) it
// does not check that such a pod exists.
func (x *Index) podName(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".pod."+x.domain)
	if !ok {
		return netip.Addr{}, false
	}
	host, ns, ok := strings.Cut(rest, ".")
	if !ok || ns == "" || strings.Contains(ns, ".") {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(host, "-", "."))
	if err != nil || !ip.Is4() || strings.Count(host, "-") != 3 {
		return netip.Addr{}, false
	}
	return ip, true
}

func (x *Index) a(name string, ip netip.Addr) *mdns.A {
	return &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: TTL}, A: ip.AsSlice()}
}

// reverse answers a PTR question for name, a name under in-addr.arpa.
func (x *Index) reverse(name string, qtype uint16) Answer {
	ip, ok := parseReverse(name)
	if !ok {
		return Answer{Forward: true}
	}
	target, found := x.ptr[ip]
	if !found {
		if x.serviceCIDR.IsValid() && x.serviceCIDR.Contains(ip) {
			return Answer{Rcode: mdns.RcodeNameError, Ns: []mdns.RR{x.soa}}
		}
		return Answer{Forward: true}
	}
	if qtype != mdns.TypePTR && qtype != mdns.TypeANY {
		return Answer{Rcode: mdns.RcodeSuccess, Ns: []mdns.RR{x.soa}}
	}
	return Answer{Rcode: mdns.RcodeSuccess, Answer: []mdns.RR{&mdns.PTR{
		Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: TTL}, Ptr: target,
	}}}
}

// parseReverse turns d.c.b.a.in-addr.arpa. into a.b.c.d; ok is false for
// shorter (zone) names and anything else.
func parseReverse(name string) (netip.Addr, bool) {
	labels := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		n, err := strconv.ParseUint(l, 10, 8)
		if err != nil || (len(l) > 1 && l[0] == '0') {
			return netip.Addr{}, false
		}
		b[3-i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}
