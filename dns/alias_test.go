package dns

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func externalName(ns, name, target string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target}}
}

// TestLookupAliasesAndPods covers ExternalName CNAMEs (chased inside the
// cluster domain, handed to the server outside it) and pod A records.
func TestLookupAliasesAndPods(t *testing.T) {
	x := BuildIndex("", netip.MustParsePrefix("10.43.0.0/16"), []*corev1.Service{
		service("hello", "hello", "10.43.0.20", corev1.ServicePort{Port: 80}),
		externalName("hello", "db", "DB.Example.com"),
		externalName("hello", "local", "hello.hello.svc.cluster.local"),
		externalName("hello", "twice", "local.hello.svc.cluster.local."),
		externalName("hello", "loop1", "loop2.hello.svc.cluster.local"),
		externalName("hello", "loop2", "loop1.hello.svc.cluster.local"),
		externalName("hello", "dangling", "gone.hello.svc.cluster.local"),
		externalName("hello", "unset", ""),
	}, nil)
	soa := x.soa.String()
	cname := func(from, to string) string { return from + ".hello.svc.cluster.local.\t5\tIN\tCNAME\t" + to }
	type want struct {
		Chase  string
		Rcode  string
		Answer []string
		Ns     []string
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{name: "external alias: CNAME, target chased by the server", qname: "db.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Chase: "db.example.com.", Rcode: "NOERROR", Answer: []string{cname("db", "db.example.com.")}}},
		{name: "any type gets the CNAME", qname: "db.hello.svc.cluster.local.", qtype: mdns.TypeSRV,
			want: want{Chase: "db.example.com.", Rcode: "NOERROR", Answer: []string{cname("db", "db.example.com.")}}},
		{name: "CNAME question: just the CNAME", qname: "db.hello.svc.cluster.local.", qtype: mdns.TypeCNAME,
			want: want{Rcode: "NOERROR", Answer: []string{cname("db", "db.example.com.")}}},
		{name: "alias of a cluster service: followed", qname: "local.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NOERROR", Answer: []string{cname("local", "hello.hello.svc.cluster.local."),
				"hello.hello.svc.cluster.local.\t5\tIN\tA\t10.43.0.20"}}},
		{name: "alias of an alias", qname: "twice.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NOERROR", Answer: []string{cname("twice", "local.hello.svc.cluster.local."),
				cname("local", "hello.hello.svc.cluster.local."), "hello.hello.svc.cluster.local.\t5\tIN\tA\t10.43.0.20"}}},
		{name: "alias loop ends", qname: "loop1.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NOERROR", Answer: []string{cname("loop1", "loop2.hello.svc.cluster.local."), cname("loop2", "loop1.hello.svc.cluster.local."),
				cname("loop1", "loop2.hello.svc.cluster.local."), cname("loop2", "loop1.hello.svc.cluster.local."),
				cname("loop1", "loop2.hello.svc.cluster.local."), cname("loop2", "loop1.hello.svc.cluster.local."),
				cname("loop1", "loop2.hello.svc.cluster.local."), cname("loop2", "loop1.hello.svc.cluster.local.")}}},
		{name: "alias to a missing cluster name: NXDOMAIN with the CNAME", qname: "dangling.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NXDOMAIN", Answer: []string{cname("dangling", "gone.hello.svc.cluster.local.")}, Ns: []string{soa}}},
		{name: "ExternalName without a target does not exist", qname: "unset.hello.svc.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NXDOMAIN", Ns: []string{soa}}},
		{name: "pod A record", qname: "10-42-1-7.default.pod.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NOERROR", Answer: []string{"10-42-1-7.default.pod.cluster.local.\t5\tIN\tA\t10.42.1.7"}}},
		{name: "pod name, other type: empty", qname: "10-42-1-7.default.pod.cluster.local.", qtype: mdns.TypeAAAA,
			want: want{Rcode: "NOERROR", Ns: []string{soa}}},
		{name: "pod name that is no address", qname: "10-42-1.default.pod.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NXDOMAIN", Ns: []string{soa}}},
		{name: "pod name with dots in the address", qname: "10.42.1.7.default.pod.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NXDOMAIN", Ns: []string{soa}}},
		{name: "pod zone exists", qname: "pod.cluster.local.", qtype: mdns.TypeA,
			want: want{Rcode: "NOERROR", Ns: []string{soa}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := x.Lookup(mdns.Question{Name: tt.qname, Qtype: tt.qtype, Qclass: mdns.ClassINET})
			if a.Forward {
				t.Fatalf("Lookup(%s) forwarded", tt.qname)
			}
			tx := texts(a)
			got := want{Chase: a.Chase, Rcode: tx.Rcode, Answer: tx.Answer, Ns: tx.Ns}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Lookup(%s %s) (-want +got):\n%s", tt.qname, mdns.TypeToString[tt.qtype], d)
			}
		})
	}
}

// TestServerChasesExternalName: a query for an ExternalName service gets
// the CNAME and the upstream's answer for its target, over UDP and TCP;
// with the upstream down, the CNAME alone.
func TestServerChasesExternalName(t *testing.T) {
	st := &fakeStore{}
	st.set([]*corev1.Service{externalName("hello", "db", "db.example.com")}, nil)
	s := startServer(t, st, fakeUpstream(t))
	addr := s.LocalAddr().String()
	want := []string{"NOERROR", "db.hello.svc.cluster.local.\t5\tIN\tCNAME\tdb.example.com.", "db.example.com.\t60\tIN\tA\t192.0.2.1"}
	deadline := time.Now().Add(2 * time.Second)
	for _, network := range []string{"udp", "tcp"} {
		for {
			got := summary(query(t, network, addr, "db.hello.svc.cluster.local.", mdns.TypeA))
			d := cmp.Diff(want, got)
			if d == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (-want +got):\n%s", network, d)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	down := startServer(t, st, "127.0.0.1:1") // nothing listens there
	deadline = time.Now().Add(2 * time.Second)
	for {
		got := summary(query(t, "udp", down.LocalAddr().String(), "db.hello.svc.cluster.local.", mdns.TypeA))
		d := cmp.Diff(want[:2], got)
		if d == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream down (-want +got):\n%s", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
