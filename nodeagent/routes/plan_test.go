package routes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, podCIDR, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if podCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
	if ip != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

func rt(dst, gw, node string) Route {
	return Route{Dst: netip.MustParsePrefix(dst), Gw: netip.MustParseAddr(gw), Node: node}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*corev1.Node
		self  string
		want  []Route
	}{{
		name:  "single node: nothing",
		nodes: []*corev1.Node{node("n1", "10.42.0.0/24", "10.99.0.1")},
		self:  "n1",
	}, {
		name: "every other node, sorted by destination",
		nodes: []*corev1.Node{node("n3", "10.42.2.0/24", "10.99.0.3"), node("n1", "10.42.0.0/24", "10.99.0.1"),
			node("n2", "10.42.1.0/24", "10.99.0.2")},
		self: "n2",
		want: []Route{rt("10.42.0.0/24", "10.99.0.1", "n1"), rt("10.42.2.0/24", "10.99.0.3", "n3")},
	}, {
		name: "no pod CIDR yet, no address, IPv6 or loopback address, own address: skipped",
		nodes: []*corev1.Node{node("n1", "10.42.0.0/24", "10.99.0.1"), node("a", "", "10.99.0.2"), node("b", "10.42.3.0/24", ""),
			node("c", "10.42.4.0/24", "fd00::4"), node("d", "10.42.5.0/24", "127.0.0.1"), node("e", "10.42.6.0/24", "10.99.0.1"),
			node("f", "fd00:42::/64", "10.99.0.7")},
		self: "n1",
	}, {
		name: "overlaps: with this node's range, and the later of two nodes by name",
		nodes: []*corev1.Node{node("n1", "10.42.0.0/24", "10.99.0.1"), node("x", "10.42.0.0/23", "10.99.0.9"),
			node("b", "10.42.7.0/24", "10.99.0.2"), node("a", "10.42.7.0/24", "10.99.0.3")},
		self: "n1",
		want: []Route{rt("10.42.7.0/24", "10.99.0.3", "a")},
	}, {
		name:  "unmasked pod CIDR is masked",
		nodes: []*corev1.Node{node("n1", "10.42.0.0/24", "10.99.0.1"), node("n2", "10.42.1.9/24", "10.99.0.2")},
		self:  "n1",
		want:  []Route{rt("10.42.1.0/24", "10.99.0.2", "n2")},
	}, {
		name:  "this node not registered yet: routes to all",
		nodes: []*corev1.Node{node("n2", "10.42.1.0/24", "10.99.0.2")},
		self:  "n1",
		want:  []Route{rt("10.42.1.0/24", "10.99.0.2", "n2")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.nodes, tc.self)
			if d := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("Plan (-want +got):\n%s", d)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	cmpAddr := cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
	tests := []struct {
		name                 string
		installed, want      []Route
		wantReplace, wantDel []Route
	}{{
		name: "empty",
	}, {
		name:        "fresh",
		want:        []Route{rt("10.42.2.0/24", "10.99.0.3", "n3"), rt("10.42.1.0/24", "10.99.0.2", "n2")},
		wantReplace: []Route{rt("10.42.1.0/24", "10.99.0.2", "n2"), rt("10.42.2.0/24", "10.99.0.3", "n3")},
	}, {
		name:      "in step: nothing",
		installed: []Route{rt("10.42.1.0/24", "10.99.0.2", "")},
		want:      []Route{rt("10.42.1.0/24", "10.99.0.2", "n2")},
	}, {
		name:        "node moved to another address; another left",
		installed:   []Route{rt("10.42.1.0/24", "10.99.0.2", ""), rt("10.42.2.0/24", "10.99.0.3", "")},
		want:        []Route{rt("10.42.1.0/24", "10.99.0.20", "n2")},
		wantReplace: []Route{rt("10.42.1.0/24", "10.99.0.20", "n2")},
		wantDel:     []Route{rt("10.42.2.0/24", "10.99.0.3", "")},
	}, {
		name:      "all nodes gone",
		installed: []Route{rt("10.42.2.0/24", "10.99.0.3", ""), rt("10.42.1.0/24", "10.99.0.2", "")},
		wantDel:   []Route{rt("10.42.1.0/24", "10.99.0.2", ""), rt("10.42.2.0/24", "10.99.0.3", "")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replace, del := Diff(tc.installed, tc.want)
			if d := cmp.Diff(tc.wantReplace, replace, cmpAddr); d != "" {
				t.Errorf("replace (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantDel, del, cmpAddr); d != "" {
				t.Errorf("delete (-want +got):\n%s", d)
			}
		})
	}
}
