package reconciler

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func cidrNode(name, podCIDR string) *corev1.Node {
	n := readyNode(name, "4")
	n.UID = types.UID("n-" + name)
	n.ResourceVersion = "1"
	n.Spec.PodCIDR = podCIDR
	if podCIDR != "" {
		n.Spec.PodCIDRs = []string{podCIDR}
	}
	return n
}

func TestAllocatePodCIDRs(t *testing.T) {
	cluster := netip.MustParsePrefix("10.42.0.0/16")
	tests := []struct {
		name    string
		cluster netip.Prefix
		bits    int
		nodes   []*corev1.Node
		reserve map[string]netip.Prefix
		want    map[string]string
	}{{
		name:  "all set: nothing to do",
		nodes: []*corev1.Node{cidrNode("a", "10.42.0.0/24"), cidrNode("b", "10.42.1.0/24")},
	}, {
		name:  "new nodes by name after the embedded node's 10.42.0.0/24",
		nodes: []*corev1.Node{cidrNode("z-server", "10.42.0.0/24"), cidrNode("n3", ""), cidrNode("n2", "")},
		want:  map[string]string{"n2": "10.42.1.0/24", "n3": "10.42.2.0/24"},
	}, {
		name:  "first free block fills a gap left by a removed node",
		nodes: []*corev1.Node{cidrNode("a", "10.42.0.0/24"), cidrNode("c", "10.42.2.0/24"), cidrNode("d", "")},
		want:  map[string]string{"d": "10.42.1.0/24"},
	}, {
		name:  "an existing larger or foreign range is honoured and avoided",
		nodes: []*corev1.Node{cidrNode("a", "10.42.0.0/23"), cidrNode("b", "192.168.0.0/24"), cidrNode("c", "")},
		want:  map[string]string{"c": "10.42.2.0/24"},
	}, {
		name: "a Node from Git whose agent never registered gets none",
		nodes: []*corev1.Node{cidrNode("a", "10.42.0.0/24"), func() *corev1.Node {
			n := cidrNode("git-only", "")
			n.Status = corev1.NodeStatus{}
			return n
		}(), cidrNode("b", "")},
		want: map[string]string{"b": "10.42.1.0/24"},
	}, {
		name:  "unparsable podCIDR counts as set and holds nothing",
		nodes: []*corev1.Node{cidrNode("a", "bogus"), cidrNode("b", "")},
		want:  map[string]string{"b": "10.42.0.0/24"},
	}, {
		name:    "exhausted: the rest wait",
		cluster: netip.MustParsePrefix("10.42.0.0/23"),
		nodes:   []*corev1.Node{cidrNode("a", "10.42.0.0/24"), cidrNode("b", ""), cidrNode("c", "")},
		want:    map[string]string{"b": "10.42.1.0/24"},
	}, {
		name:    "unmasked cluster range and another block size",
		cluster: netip.MustParsePrefix("10.50.3.7/22"),
		bits:    26,
		nodes:   []*corev1.Node{cidrNode("a", ""), cidrNode("b", "10.50.0.0/26"), cidrNode("c", "")},
		want:    map[string]string{"a": "10.50.0.64/26", "c": "10.50.0.128/26"},
	}, {
		name:    "top of the address space ends the walk",
		cluster: netip.MustParsePrefix("255.255.255.0/24"),
		bits:    25,
		nodes:   []*corev1.Node{cidrNode("a", ""), cidrNode("b", ""), cidrNode("c", "")},
		want:    map[string]string{"a": "255.255.255.0/25", "b": "255.255.255.128/25"},
	}, {
		name:    "the embedded node's reserved block is skipped for a node that registers first",
		nodes:   []*corev1.Node{cidrNode("a-remote", "")},
		reserve: map[string]netip.Prefix{"server": netip.MustParsePrefix("10.42.0.0/24")},
		want:    map[string]string{"a-remote": "10.42.1.0/24"},
	}, {
		name:    "a node without a range gets its reserved block",
		nodes:   []*corev1.Node{cidrNode("a-remote", "10.42.1.0/24"), cidrNode("server", ""), cidrNode("b", "")},
		reserve: map[string]netip.Prefix{"server": netip.MustParsePrefix("10.42.0.0/24")},
		want:    map[string]string{"server": "10.42.0.0/24", "b": "10.42.2.0/24"},
	}, {
		name:    "a reserved block another node holds already is not given twice",
		nodes:   []*corev1.Node{cidrNode("old", "10.42.0.0/24"), cidrNode("server", "")},
		reserve: map[string]netip.Prefix{"server": netip.MustParsePrefix("10.42.0.0/24")},
		want:    map[string]string{"server": "10.42.1.0/24"},
	}, {
		name:    "IPv6 cluster range: not supported, nothing allocated",
		cluster: netip.MustParsePrefix("fd00::/48"),
		nodes:   []*corev1.Node{cidrNode("a", "")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.cluster.IsValid() {
				tc.cluster = cluster
			}
			got := map[string]string{}
			for name, p := range allocatePodCIDRs(tc.nodes, tc.cluster, tc.bits, tc.reserve) {
				got[name] = p.String()
			}
			if tc.want == nil {
				tc.want = map[string]string{}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("allocation (-want +got):\n%s", d)
			}
		})
	}
}

// TestPlanPodCIDRs runs the controller inside Plan: allocations are written
// to the Node (one put, even when the lifecycle controller also changes
// it), kept on later passes, and a removed node's block goes to the next
// node that needs one.
func TestPlanPodCIDRs(t *testing.T) {
	opts := Options{ClusterCIDR: DefaultClusterCIDR}
	server := cidrNode("server", "10.42.0.0/24")
	n2 := heartbeatNode("n2", t0) // silent: planNodes taints it in this pass
	n2.UID, n2.ResourceVersion = "n-n2", "1"
	n3 := cidrNode("n3", "")
	s := Snapshot{Nodes: []*corev1.Node{server, n2, n3}}

	w := PlanOptions(s, t0.Add(time.Minute), &seqIDs{}, FitScheduler{}, opts)
	got := map[string]string{}
	puts := map[string]int{}
	for _, o := range w.Puts {
		if n, ok := o.(*corev1.Node); ok {
			got[n.Name] = n.Spec.PodCIDR
			puts[n.Name]++
			if n.Name == "n2" && len(n.Spec.Taints) == 0 {
				t.Errorf("n2's unreachable taints were lost by the pod CIDR put")
			}
			if d := cmp.Diff([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs); d != "" {
				t.Errorf("%s: podCIDRs (-want +got):\n%s", n.Name, d)
			}
		}
	}
	if d := cmp.Diff(map[string]string{"n2": "10.42.1.0/24", "n3": "10.42.2.0/24"}, got); d != "" {
		t.Errorf("allocated (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"n2": 1, "n3": 1}, puts); d != "" {
		t.Errorf("puts per node (-want +got):\n%s", d)
	}

	// Stored: a later pass writes no node.
	n3.Spec.PodCIDR, n3.Spec.PodCIDRs = "10.42.2.0/24", []string{"10.42.2.0/24"}
	server2 := server.DeepCopy()
	s = Snapshot{Nodes: []*corev1.Node{server2, n3}} // n2 removed
	if w := PlanOptions(s, t0, &seqIDs{}, FitScheduler{}, opts); !w.Empty() {
		t.Errorf("stable allocation still writes: %v", w.Puts)
	}
	// n2's block is free again.
	n4 := cidrNode("n4", "")
	n4.CreationTimestamp = metav1.NewTime(t0)
	s.Nodes = append(s.Nodes, n4)
	w = PlanOptions(s, t0, &seqIDs{}, FitScheduler{}, opts)
	if len(w.Puts) != 1 || w.Puts[0].(*corev1.Node).Spec.PodCIDR != "10.42.1.0/24" {
		t.Errorf("n4 after n2 left: want one put with 10.42.1.0/24, got %v", w.Puts)
	}
	// Off without a cluster range (Plan's defaults).
	if w := Plan(s, t0, &seqIDs{}, FitScheduler{}); !w.Empty() {
		t.Errorf("Plan without ClusterCIDR allocates: %v", w.Puts)
	}
}
