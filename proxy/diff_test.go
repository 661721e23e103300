package proxy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestTrackerDiff walks one Tracker through a sequence of rulesets and
// checks each Change.
func TestTrackerDiff(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	ep := func(s string) Endpoint { return Endpoint{a(s), 8080} }
	web := service("d", "web", "NodePort", "10.43.0.1", port("", "", 80, 8080, 30080))
	api := service("d", "api", "ClusterIP", "10.43.0.1", port("", "", 81, 8080, 0)) // same address, other port
	eps := func(name string, ips ...string) *corev1.Endpoints {
		return endpoints("d", name, subset(ips, epPort("", "", 8080)))
	}
	hair := func(s string) Elem { return Elem{Addr: a(s), Endpoint: Endpoint{Addr: a(s)}} }
	svcIP := func(p uint16, to string) Elem { return Elem{Addr: a("10.43.0.1"), Proto: TCP, Port: p, Goto: to} }
	np := func(to string) Elem { return Elem{Proto: TCP, Port: 30080, Goto: to} }
	cep := func(p uint16, i uint32, s string) Elem {
		return Elem{Addr: a("10.43.0.1"), Proto: TCP, Port: p, Index: i, Endpoint: ep(s)}
	}
	nep := func(i uint32, s string) Elem { return Elem{Proto: TCP, Port: 30080, Index: i, Endpoint: ep(s)} }
	dnat1, dnat2 := Chain{Name: "dnat_1", N: 1}, Chain{Name: "dnat_2", N: 2}
	npdnat1, npdnat2 := Chain{Name: "npdnat_1", N: 1, NodePort: true}, Chain{Name: "npdnat_2", N: 2, NodePort: true}

	steps := []struct {
		name string
		svcs []*corev1.Service
		eps  []*corev1.Endpoints
		want Change
	}{
		{name: "empty", want: Change{}},
		{
			name: "add web", svcs: []*corev1.Service{web}, eps: []*corev1.Endpoints{eps("web", "10.42.0.1", "10.42.0.2")},
			want: Change{
				AddChains: []Chain{dnat2, npdnat2},
				AddElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(80, "dnat_2")}},
					{MapNodePorts, []Elem{np("npdnat_2")}},
					{MapEndpoints, []Elem{cep(80, 0, "10.42.0.1"), cep(80, 1, "10.42.0.2")}},
					{MapNodePortEndpoints, []Elem{nep(0, "10.42.0.1"), nep(1, "10.42.0.2")}},
					{SetClusterIPs, []Elem{{Addr: a("10.43.0.1")}}},
					{SetHairpin, []Elem{hair("10.42.0.1"), hair("10.42.0.2")}},
				},
			},
		},
		{name: "unchanged", svcs: []*corev1.Service{web}, eps: []*corev1.Endpoints{eps("web", "10.42.0.1", "10.42.0.2")}, want: Change{}},
		{
			name: "add api sharing address and an endpoint", svcs: []*corev1.Service{web, api},
			eps: []*corev1.Endpoints{eps("web", "10.42.0.1", "10.42.0.2"), eps("api", "10.42.0.2")},
			want: Change{
				AddChains: []Chain{dnat1},
				AddElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(81, "dnat_1")}},
					{MapEndpoints, []Elem{cep(81, 0, "10.42.0.2")}},
				},
			},
		},
		{
			name: "one endpoint replaced: elements only", svcs: []*corev1.Service{web, api},
			eps: []*corev1.Endpoints{eps("web", "10.42.0.1", "10.42.0.3"), eps("api", "10.42.0.2")},
			want: Change{
				DelElems: []SetElems{
					{MapEndpoints, []Elem{cep(80, 1, "10.42.0.2")}},
					{MapNodePortEndpoints, []Elem{nep(1, "10.42.0.2")}},
				},
				AddElems: []SetElems{
					{MapEndpoints, []Elem{cep(80, 1, "10.42.0.3")}},
					{MapNodePortEndpoints, []Elem{nep(1, "10.42.0.3")}},
					{SetHairpin, []Elem{hair("10.42.0.3")}},
				},
			},
		},
		{
			name: "web loses its endpoints: reject", svcs: []*corev1.Service{web, api},
			eps: []*corev1.Endpoints{eps("api", "10.42.0.2")},
			want: Change{
				DelElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(80, "dnat_2")}},
					{MapNodePorts, []Elem{np("npdnat_2")}},
					{MapEndpoints, []Elem{cep(80, 0, "10.42.0.1"), cep(80, 1, "10.42.0.3")}},
					{MapNodePortEndpoints, []Elem{nep(0, "10.42.0.1"), nep(1, "10.42.0.3")}},
					{SetHairpin, []Elem{hair("10.42.0.1"), hair("10.42.0.3")}},
				},
				AddElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(80, ChainReject)}},
					{MapNodePorts, []Elem{np(ChainReject)}},
				},
				DelChains: []Chain{dnat2, npdnat2},
			},
		},
		{
			name: "delete web: address still used by api", svcs: []*corev1.Service{api},
			eps: []*corev1.Endpoints{eps("api", "10.42.0.2")},
			want: Change{
				DelElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(80, ChainReject)}},
					{MapNodePorts, []Elem{np(ChainReject)}},
				},
			},
		},
		{
			name: "web back with one endpoint: dnat_1 shared", svcs: []*corev1.Service{api, web},
			eps: []*corev1.Endpoints{eps("api", "10.42.0.2"), eps("web", "10.42.0.2")},
			want: Change{
				AddChains: []Chain{npdnat1},
				AddElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(80, "dnat_1")}},
					{MapNodePorts, []Elem{np("npdnat_1")}},
					{MapEndpoints, []Elem{cep(80, 0, "10.42.0.2")}},
					{MapNodePortEndpoints, []Elem{nep(0, "10.42.0.2")}},
				},
			},
		},
		{
			name: "delete everything",
			want: Change{
				DelElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP(81, "dnat_1"), svcIP(80, "dnat_1")}},
					{MapNodePorts, []Elem{np("npdnat_1")}},
					{MapEndpoints, []Elem{cep(81, 0, "10.42.0.2"), cep(80, 0, "10.42.0.2")}},
					{MapNodePortEndpoints, []Elem{nep(0, "10.42.0.2")}},
					{SetClusterIPs, []Elem{{Addr: a("10.43.0.1")}}},
					{SetHairpin, []Elem{hair("10.42.0.2")}},
				},
				DelChains: []Chain{dnat1, npdnat1},
			},
		},
	}
	tr := NewTracker()
	for _, s := range steps {
		got := tr.Diff(Render(serviceCIDR, s.svcs, s.eps))
		if diff := cmp.Diff(s.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("step %q: Change mismatch (-want +got):\n%s", s.name, diff)
		}
		if got.Empty() != (s.name == "empty" || s.name == "unchanged") {
			t.Errorf("step %q: Empty() = %v", s.name, got.Empty())
		}
	}
	if len(tr.clusters) != 0 || len(tr.hairpins) != 0 || len(tr.dnats) != 0 {
		t.Errorf("tracker not empty after deleting everything: %+v", tr)
	}
}

// TestTrackerAffinity follows a sessionAffinity ClientIP port: its slot,
// sticky chains, their replacement when the endpoint count changes, and
// the request to forget remembered clients when endpoints go.
func TestTrackerAffinity(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	sticky := service("d", "s", "ClusterIP", "10.43.0.5", port("", "", 80, 8080, 0))
	sticky.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	eps := func(ips ...string) []*corev1.Endpoints {
		return []*corev1.Endpoints{endpoints("d", "s", subset(ips, epPort("", "", 8080)))}
	}
	svcIP := func(to string) Elem { return Elem{Addr: a("10.43.0.5"), Proto: TCP, Port: 80, Goto: to} }
	cep := func(i uint32, s string) Elem {
		return Elem{Addr: a("10.43.0.5"), Proto: TCP, Port: 80, Index: i, Endpoint: Endpoint{a(s), 8080}}
	}
	hair := func(s string) Elem { return Elem{Addr: a(s), Endpoint: Endpoint{Addr: a(s)}} }
	aff1, aff2 := stickyChain(0, 1, false), stickyChain(0, 2, false)
	steps := []struct {
		name string
		eps  []*corev1.Endpoints
		want Change
	}{
		{
			name: "add", eps: eps("10.42.0.1"),
			want: Change{
				AddChains: []Chain{rememberChain(10800), dnatChain(1, false), aff1},
				AddElems: []SetElems{
					{MapServiceIPs, []Elem{svcIP("aff_0")}},
					{MapEndpoints, []Elem{cep(0, "10.42.0.1")}},
					{SetAffinitySlots, []Elem{{Slot: 0, Goto: "affto_10800"}}},
					{SetClusterIPs, []Elem{{Addr: a("10.43.0.5")}}},
					{SetHairpin, []Elem{hair("10.42.0.1")}},
				},
			},
		},
		{
			name: "second endpoint: sticky chain falls back to dnat_2", eps: eps("10.42.0.1", "10.42.0.2"),
			want: Change{
				AddChains: []Chain{dnatChain(2, false)},
				AddElems: []SetElems{
					{MapEndpoints, []Elem{cep(1, "10.42.0.2")}},
					{SetHairpin, []Elem{hair("10.42.0.2")}},
				},
				ReplaceChains: []Chain{aff2},
				DelChains:     []Chain{dnatChain(1, false)},
			},
		},
		{
			name: "first endpoint gone: forget", eps: eps("10.42.0.2"),
			want: Change{
				AddChains: []Chain{dnatChain(1, false)},
				DelElems: []SetElems{
					{MapEndpoints, []Elem{cep(0, "10.42.0.1"), cep(1, "10.42.0.2")}},
					{SetHairpin, []Elem{hair("10.42.0.1")}},
				},
				AddElems:       []SetElems{{MapEndpoints, []Elem{cep(0, "10.42.0.2")}}},
				ReplaceChains:  []Chain{aff1},
				DelChains:      []Chain{dnatChain(2, false)},
				ForgetAffinity: true,
			},
		},
	}
	tr := NewTracker()
	for _, s := range steps {
		got := tr.Diff(Render(serviceCIDR, []*corev1.Service{sticky}, s.eps))
		if diff := cmp.Diff(s.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("step %q: Change mismatch (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestTrackerAffinityTimeout: ports with the same affinity timeout share
// one remember chain, added with the first and deleted with the last; a
// changed timeout replaces the port (new slot, other chain).
func TestTrackerAffinityTimeout(t *testing.T) {
	sticky := func(name, ip string, timeout int32) *corev1.Service {
		s := service("d", name, "ClusterIP", ip, port("", "", 80, 8080, 0))
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		if timeout != 0 {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
		}
		return s
	}
	type view struct {
		AddChains, DelChains []string
		Slots                []string // affinity-slots elements added (+) and deleted (-)
	}
	names := func(cs []Chain) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	viewOf := func(c Change) view {
		v := view{AddChains: names(c.AddChains), DelChains: names(c.DelChains)}
		for _, se := range c.DelElems {
			if se.Set == SetAffinitySlots {
				for _, e := range se.Elems {
					v.Slots = append(v.Slots, "-"+e.text(SetAffinitySlots))
				}
			}
		}
		for _, se := range c.AddElems {
			if se.Set == SetAffinitySlots {
				for _, e := range se.Elems {
					v.Slots = append(v.Slots, "+"+e.text(SetAffinitySlots))
				}
			}
		}
		return v
	}
	steps := []struct {
		name     string
		services []*corev1.Service
		want     view
	}{
		{"two ports, one 60 s chain", []*corev1.Service{sticky("a", "10.43.0.5", 60), sticky("b", "10.43.0.6", 60)}, view{
			AddChains: []string{"affto_60", "dnat_1", "aff_0", "aff_1"},
			Slots:     []string{"+0x7e570000 : jump affto_60", "+0x7e570001 : jump affto_60"},
		}},
		{"b's timeout changes: replaced", []*corev1.Service{sticky("a", "10.43.0.5", 60), sticky("b", "10.43.0.6", 30)}, view{
			AddChains: []string{"affto_30", "aff_2"},
			DelChains: []string{"aff_1"},
			Slots:     []string{"-0x7e570001 : jump affto_60", "+0x7e570002 : jump affto_30"},
		}},
		{"a gone: its chain too", []*corev1.Service{sticky("b", "10.43.0.6", 30)}, view{
			DelChains: []string{"aff_0", "affto_60"},
			Slots:     []string{"-0x7e570000 : jump affto_60"},
		}},
	}
	tr := NewTracker()
	for _, s := range steps {
		var eps []*corev1.Endpoints
		for _, svc := range s.services {
			eps = append(eps, endpoints("d", svc.Name, subset([]string{"10.42.0.1"}, epPort("", "", 8080))))
		}
		got := viewOf(tr.Diff(Render(serviceCIDR, s.services, eps)))
		if d := cmp.Diff(s.want, got); d != "" {
			t.Errorf("step %q (-want +got):\n%s", s.name, d)
		}
	}
}
