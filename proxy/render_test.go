package proxy

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var serviceCIDR = netip.MustParsePrefix("10.43.0.0/16")

func service(ns, name, typ, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(typ), ClusterIP: clusterIP, Ports: ports},
	}
}

func port(name string, proto corev1.Protocol, p, target, nodePort int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: p, TargetPort: intstr.FromInt32(target), NodePort: nodePort}
}

func endpoints(ns, name string, subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: subsets}
}

func subset(ips []string, ports ...corev1.EndpointPort) corev1.EndpointSubset {
	ss := corev1.EndpointSubset{Ports: ports}
	for _, ip := range ips {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
	}
	return ss
}

// local sets externalTrafficPolicy Local on s.
func local(s *corev1.Service) *corev1.Service {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	return s
}

// onNode sets the nodeName of ss's addresses, in order.
func onNode(ss corev1.EndpointSubset, nodes ...string) corev1.EndpointSubset {
	for i := range ss.Addresses {
		ss.Addresses[i].NodeName = &nodes[i]
	}
	return ss
}

func epPort(name string, proto corev1.Protocol, p int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Protocol: proto, Port: p}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name      string
		node      string // RenderNode's node; "" for Render
		services  []*corev1.Service
		endpoints []*corev1.Endpoints
	}{
		{name: "empty"},
		{
			name: "clusterip",
			services: []*corev1.Service{
				service("default", "web", "ClusterIP", "10.43.0.10", port("", corev1.ProtocolTCP, 80, 8080, 0)),
			},
			endpoints: []*corev1.Endpoints{
				endpoints("default", "web", subset([]string{"10.42.0.12", "10.42.0.11"}, epPort("", corev1.ProtocolTCP, 8080))),
			},
		},
		{
			name: "no-endpoints",
			services: []*corev1.Service{
				// An Endpoints object with no ready address, and none at all.
				service("default", "idle", "ClusterIP", "10.43.0.11", port("", "", 80, 8080, 0)),
				service("default", "new", "NodePort", "10.43.0.12", port("", "", 80, 8080, 30080)),
			},
			endpoints: []*corev1.Endpoints{endpoints("default", "idle")},
		},
		{
			name: "nodeport-multiport-udp",
			services: []*corev1.Service{
				service("apps", "api", "NodePort", "10.43.1.1",
					port("http", corev1.ProtocolTCP, 80, 8080, 30001),
					port("metrics", corev1.ProtocolTCP, 9090, 9090, 30002)),
				service("kube-system", "dns", "ClusterIP", "10.43.0.10",
					port("dns", corev1.ProtocolUDP, 53, 53, 0),
					port("dns-tcp", corev1.ProtocolTCP, 53, 53, 0)),
			},
			endpoints: []*corev1.Endpoints{
				endpoints("apps", "api",
					subset([]string{"10.42.0.20"}, epPort("http", corev1.ProtocolTCP, 8080), epPort("metrics", corev1.ProtocolTCP, 9090)),
					subset([]string{"10.42.0.21"}, epPort("http", corev1.ProtocolTCP, 8080))),
				endpoints("kube-system", "dns", subset([]string{"10.42.0.5"}, epPort("dns", corev1.ProtocolUDP, 53), epPort("dns-tcp", corev1.ProtocolTCP, 53))),
			},
		},
		{
			name: "affinity",
			// sticky: the default timeout; brief and brief2 share a
			// 60 s remember chain.
			services: []*corev1.Service{func() *corev1.Service {
				s := service("default", "sticky", "NodePort", "10.43.0.20", port("", "", 80, 8080, 30090))
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				return s
			}(), func() *corev1.Service {
				s := service("default", "brief", "ClusterIP", "10.43.0.21", port("", "", 80, 8080, 0))
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(60))}}
				return s
			}(), func() *corev1.Service {
				s := service("default", "brief2", "ClusterIP", "10.43.0.22", port("", "", 80, 8080, 0))
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(60))}}
				return s
			}()},
			endpoints: []*corev1.Endpoints{
				endpoints("default", "sticky", subset([]string{"10.42.0.11", "10.42.0.12"}, epPort("", "", 8080))),
				endpoints("default", "brief", subset([]string{"10.42.0.13"}, epPort("", "", 8080))),
				endpoints("default", "brief2", subset([]string{"10.42.0.14"}, epPort("", "", 8080))),
			},
		},
		{
			// externalTrafficPolicy Local on node n1: the node ports go to
			// n1's endpoints only, unmasqueraded; the cluster IPs to all.
			name: "local",
			node: "n1",
			services: []*corev1.Service{
				local(service("default", "web", "NodePort", "10.43.0.30", port("", "", 80, 8080, 30100))),
				local(func() *corev1.Service {
					s := service("default", "sticky", "NodePort", "10.43.0.31", port("", "", 80, 8080, 30101))
					s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
					return s
				}()),
				local(service("default", "elsewhere", "NodePort", "10.43.0.32", port("", "", 80, 8080, 30102))),
				local(service("default", "internal", "ClusterIP", "10.43.0.33", port("", "", 80, 8080, 0))), // no node port: no effect
			},
			endpoints: []*corev1.Endpoints{
				endpoints("default", "web", onNode(subset([]string{"10.42.0.11", "10.42.1.11", "10.42.0.12"}, epPort("", "", 8080)),
					"n1", "n2", "n1")),
				endpoints("default", "sticky", onNode(subset([]string{"10.42.0.13", "10.42.1.13"}, epPort("", "", 8080)), "n1", "n2")),
				endpoints("default", "elsewhere", onNode(subset([]string{"10.42.1.14"}, epPort("", "", 8080)), "n2")),
				endpoints("default", "internal", onNode(subset([]string{"10.42.1.15"}, epPort("", "", 8080)), "n2")),
			},
		},
		{
			name: "skipped",
			services: []*corev1.Service{
				service("default", "headless", "ClusterIP", "None", port("", "", 80, 80, 0)),
				service("default", "external", "ExternalName", "", port("", "", 80, 80, 0)),
				service("default", "pending", "ClusterIP", "", port("", "", 80, 80, 0)), // no address allocated yet
				service("default", "ipv6", "ClusterIP", "fd00::1", port("", "", 80, 80, 0)),
			},
			endpoints: []*corev1.Endpoints{endpoints("default", "headless", subset([]string{"10.42.0.9"}, epPort("", "", 80)))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenderNode(serviceCIDR, tt.node, tt.services, tt.endpoints).Text()
			path := filepath.Join("testdata", tt.name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./proxy -run TestRenderGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestRenderPorts(t *testing.T) {
	svcs := []*corev1.Service{
		service("a", "s", "NodePort", "10.43.0.1", port("web", "", 80, 8080, 30000), port("other", "", 81, 81, 0)),
	}
	eps := []*corev1.Endpoints{endpoints("a", "s",
		subset([]string{"10.42.0.2", "10.42.0.1", "10.42.0.2"}, epPort("web", "", 8080), epPort("web", corev1.ProtocolUDP, 8080)))}
	got := Render(serviceCIDR, svcs, eps)
	want := &Ruleset{ServiceCIDR: serviceCIDR, Ports: []ServicePort{
		{Namespace: "a", Name: "s", Protocol: TCP, ClusterIP: netip.MustParseAddr("10.43.0.1"), Port: 80, NodePort: 30000,
			Endpoints: []Endpoint{{netip.MustParseAddr("10.42.0.1"), 8080}, {netip.MustParseAddr("10.42.0.2"), 8080}}},
		{Namespace: "a", Name: "s", Protocol: TCP, ClusterIP: netip.MustParseAddr("10.43.0.1"), Port: 81},
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Render mismatch (-want +got):\n%s", diff)
	}
}
