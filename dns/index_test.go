package dns

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func service(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, Ports: ports},
	}
}

func endpoints(ns, name string, ports []corev1.EndpointPort, addrs ...corev1.EndpointAddress) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Subsets:    []corev1.EndpointSubset{{Addresses: addrs, Ports: ports}},
	}
}

func testIndex() *Index {
	web := corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}
	dnsPort := corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	return BuildIndex("", netip.MustParsePrefix("10.43.0.0/16"),
		[]*corev1.Service{
			service("hello", "hello", "10.43.0.20", web, corev1.ServicePort{Port: 81}),
			service("hello", "resolver", "10.43.0.30", dnsPort),
			service("hello", "pending", ""),
			service("db", "pg", corev1.ClusterIPNone, corev1.ServicePort{Name: "sql", Port: 5432}),
		},
		[]*corev1.Endpoints{
			endpoints("hello", "hello", []corev1.EndpointPort{{Name: "http", Port: 8080}}, corev1.EndpointAddress{IP: "10.42.0.5"}),
			func() *corev1.Endpoints {
				e := endpoints("db", "pg", []corev1.EndpointPort{{Name: "sql", Port: 5432, Protocol: corev1.ProtocolTCP}},
					corev1.EndpointAddress{IP: "10.42.0.8", Hostname: "pg-0"}, corev1.EndpointAddress{IP: "10.42.0.7"})
				e.Subsets[0].NotReadyAddresses = []corev1.EndpointAddress{{IP: "10.42.0.9", Hostname: "pg-1"}}
				return e
			}(),
		})
}

// rr builds a record from its text form, for expected answers.
func rr(t *testing.T, s string) mdns.RR {
	t.Helper()
	r, err := mdns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func TestLookup(t *testing.T) {
	x := testIndex()
	soa := x.soa.String()
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		forward bool
		rcode   int
		answer  []string
		extra   []string
		ns      bool
	}{
		{name: "service A", qname: "hello.hello.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"hello.hello.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "case and no trailing dot", qname: "Hello.HELLO.svc.cluster.local", qtype: mdns.TypeA,
			answer: []string{"hello.hello.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "service AAAA is empty", qname: "hello.hello.svc.cluster.local.", qtype: mdns.TypeAAAA, ns: true},
		{name: "no cluster IP yet", qname: "pending.hello.svc.cluster.local.", qtype: mdns.TypeA, ns: true},
		{name: "SRV of a named port", qname: "_http._tcp.hello.hello.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_http._tcp.hello.hello.svc.cluster.local. 5 IN SRV 0 100 80 hello.hello.svc.cluster.local."},
			extra:  []string{"hello.hello.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "SRV udp", qname: "_dns._udp.resolver.hello.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_dns._udp.resolver.hello.svc.cluster.local. 5 IN SRV 0 100 53 resolver.hello.svc.cluster.local."},
			extra:  []string{"resolver.hello.svc.cluster.local. 5 IN A 10.43.0.30"}},
		{name: "SRV wrong protocol", qname: "_http._udp.hello.hello.svc.cluster.local.", qtype: mdns.TypeSRV,
			rcode: mdns.RcodeNameError, ns: true},
		{name: "empty non-terminal", qname: "_tcp.hello.hello.svc.cluster.local.", qtype: mdns.TypeA, ns: true},
		{name: "headless A: every ready address", qname: "pg.db.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"pg.db.svc.cluster.local. 5 IN A 10.42.0.7", "pg.db.svc.cluster.local. 5 IN A 10.42.0.8"}},
		{name: "headless hostname", qname: "pg-0.pg.db.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"pg-0.pg.db.svc.cluster.local. 5 IN A 10.42.0.8"}},
		{name: "headless address not ready", qname: "pg-1.pg.db.svc.cluster.local.", qtype: mdns.TypeA,
			rcode: mdns.RcodeNameError, ns: true},
		{name: "headless dashed address", qname: "10-42-0-7.pg.db.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"10-42-0-7.pg.db.svc.cluster.local. 5 IN A 10.42.0.7"}},
		{name: "headless SRV: one per address", qname: "_sql._tcp.pg.db.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{
				"_sql._tcp.pg.db.svc.cluster.local. 5 IN SRV 0 50 5432 10-42-0-7.pg.db.svc.cluster.local.",
				"_sql._tcp.pg.db.svc.cluster.local. 5 IN SRV 0 50 5432 pg-0.pg.db.svc.cluster.local.",
			},
			extra: []string{"10-42-0-7.pg.db.svc.cluster.local. 5 IN A 10.42.0.7", "pg-0.pg.db.svc.cluster.local. 5 IN A 10.42.0.8"}},
		{name: "PTR of a cluster IP", qname: "20.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR,
			answer: []string{"20.0.43.10.in-addr.arpa. 5 IN PTR hello.hello.svc.cluster.local."}},
		{name: "PTR of a headless address", qname: "8.0.42.10.in-addr.arpa.", qtype: mdns.TypePTR,
			answer: []string{"8.0.42.10.in-addr.arpa. 5 IN PTR pg-0.pg.db.svc.cluster.local."}},
		{name: "PTR of an unallocated service address", qname: "99.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR,
			rcode: mdns.RcodeNameError, ns: true},
		{name: "PTR elsewhere is forwarded", qname: "1.0.0.127.in-addr.arpa.", qtype: mdns.TypePTR, forward: true},
		{name: "unknown service", qname: "nope.hello.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: true},
		{name: "unknown namespace", qname: "nope.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: true},
		{name: "search-path miss", qname: "hello.hello.svc.cluster.local.hello.svc.cluster.local.", qtype: mdns.TypeA,
			rcode: mdns.RcodeNameError, ns: true},
		{name: "namespace exists", qname: "hello.svc.cluster.local.", qtype: mdns.TypeA, ns: true},
		{name: "zone apex SOA", qname: "cluster.local.", qtype: mdns.TypeSOA, answer: []string{soa}},
		{name: "outside the cluster", qname: "example.org.", qtype: mdns.TypeA, forward: true},
		{name: "suffix without a dot boundary", qname: "notcluster.local.", qtype: mdns.TypeA, forward: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := x.Lookup(mdns.Question{Name: tt.qname, Qtype: tt.qtype, Qclass: mdns.ClassINET})
			want := Answer{Forward: tt.forward, Rcode: tt.rcode}
			for _, s := range tt.answer {
				want.Answer = append(want.Answer, rr(t, s))
			}
			for _, s := range tt.extra {
				want.Extra = append(want.Extra, rr(t, s))
			}
			if tt.ns {
				want.Ns = []mdns.RR{x.soa}
			}
			if diff := cmp.Diff(texts(want), texts(got)); diff != "" {
				t.Errorf("Lookup(%s %s) mismatch (-want +got):\n%s", tt.qname, mdns.TypeToString[tt.qtype], diff)
			}
		})
	}
}

type answerText struct {
	Forward           bool
	Rcode             string
	Answer, Ns, Extra []string
}

func texts(a Answer) answerText {
	str := func(rrs []mdns.RR) []string {
		var out []string
		for _, r := range rrs {
			out = append(out, r.String())
		}
		return out
	}
	return answerText{a.Forward, mdns.RcodeToString[a.Rcode], str(a.Answer), str(a.Ns), str(a.Extra)}
}

func TestParseReverse(t *testing.T) {
	for name, want := range map[string]string{
		"4.3.2.1.in-addr.arpa.":   "1.2.3.4",
		"3.2.1.in-addr.arpa.":     "",
		"04.3.2.1.in-addr.arpa.":  "",
		"256.3.2.1.in-addr.arpa.": "",
		"x.3.2.1.in-addr.arpa.":   "",
	} {
		ip, ok := parseReverse(name)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != want {
			t.Errorf("parseReverse(%q) = %q, want %q", name, got, want)
		}
	}
}
