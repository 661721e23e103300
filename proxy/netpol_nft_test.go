package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/internal/testenv"
)

// bridgeNode is a node network namespace whose "pods" (the truth-table
// pods, one network namespace each) sit on one Linux bridge tug0
// (10.42.0.1/24), as the node agent's CNI bridge puts them: traffic between
// them is bridged, not routed. Nothing has a route out of the test's
// namespaces.
type bridgeNode struct {
	t       *testing.T
	node    *testenv.NetNS
	pods    map[ttPod]*testenv.NetNS
	applier *Applier
}

func newBridgeNode(t *testing.T) *bridgeNode {
	testenv.Require(t, "ip", "nft", "nsenter")
	n := &bridgeNode{t: t, node: testenv.NewNetNS(t), pods: map[ttPod]*testenv.NetNS{}}
	n.ip(n.node, "link", "add", "tug0", "type", "bridge")
	n.ip(n.node, "addr", "add", "10.42.0.1/24", "dev", "tug0")
	n.ip(n.node, "link", "set", "tug0", "up")
	for i, p := range ttPods() {
		ns := testenv.NewNetNS(t)
		veth := fmt.Sprintf("vp%d", i)
		n.ip(n.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
		n.ip(n.node, "link", "set", veth, "master", "tug0", "up")
		n.ip(ns, "addr", "add", ttAddr(p).String()+"/24", "dev", "eth0")
		n.ip(ns, "link", "set", "eth0", "up")
		n.ip(ns, "route", "add", "default", "via", "10.42.0.1")
		for _, port := range ttPorts {
			var ln net.Listener
			if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); return err }); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		n.pods[p] = ns
	}
	out, err := n.node.Command(context.Background(), "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput()
	if err != nil {
		t.Fatalf("sysctl: %v: %s", err, out)
	}
	f, err := os.Open(n.node.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n.applier = NewApplier(func() (*nftables.Conn, error) { return Dial(int(f.Fd())) }, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		if err := n.applier.Delete(); err != nil {
			t.Errorf("delete table: %v", err)
		}
		n.applier.Close()
	})
	return n
}

func (n *bridgeNode) ip(ns *testenv.NetNS, args ...string) {
	n.t.Helper()
	if out, err := ns.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s in %s: %v: %s", strings.Join(args, " "), ns.Name, err, out)
	}
}

func (n *bridgeNode) bridgeNetfilter(on bool) {
	n.t.Helper()
	v := "0"
	if on {
		v = "1"
	}
	err := n.node.Do(func() error {
		if on {
			return EnableBridgeNetfilter()
		}
		return os.WriteFile(bridgeNFCallIPTables, []byte(v), 0o644)
	})
	if err != nil {
		n.t.Fatal(err)
	}
}

// connects reports whether a TCP connection from pod src to addr is
// accepted within 300 ms (policy drops show as a time-out).
func (n *bridgeNode) connects(src ttPod, addr string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, err := n.pods[src].DialContext(ctx, "tcp4", addr)
	if err == nil {
		c.Close()
		return true, nil
	}
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return false, nil
	}
	return false, err
}

// checkTable dials every cell of the truth table at once and reports the
// cells that disagree with allowed.
func (n *bridgeNode) checkTable(t *testing.T, allowed func(src, dst ttPod, port uint16) bool) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var wrong []string
	for _, src := range ttPods() {
		for _, dst := range ttPods() {
			if src == dst {
				continue // loopback: never filtered
			}
			for _, port := range ttPorts {
				wg.Go(func() {
					got, err := n.connects(src, fmt.Sprintf("%s:%d", ttAddr(dst), port))
					if want := allowed(src, dst, port); err != nil || got != want {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("%s → %s:%d connected=%v (%v), want %v", src, dst, port, got, err, want))
						mu.Unlock()
					}
				})
			}
		}
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Errorf("%d of %d cells wrong:\n%s", len(wrong), 9*8*2, strings.Join(wrong, "\n"))
	}
}

// TestNetworkPolicyTruthTable runs the truth table on real
// nftables: three namespaces × three pods × two ports on one bridge, for
// each scenario (default-deny, allow-by-pod, allow-by-namespace, ipBlock
// with except, egress), every cell an actual TCP connection. The scenarios
// are applied one after another through one Applier, so each step after
// the first is an incremental change. It also shows why tugd sets
// bridge-nf-call-iptables: without it bridged traffic skips the ip hooks.
func TestNetworkPolicyTruthTable(t *testing.T) {
	n := newBridgeNode(t)
	pods, namespaces := ttObjects("n1")
	a, c := ttPod{"a", "x"}, ttPod{"c", "x"}
	svcA := service("a", "svc-a", "ClusterIP", "10.43.0.20", port("", corev1.ProtocolTCP, 8080, 80, 0))
	svcC := service("c", "svc-c", "ClusterIP", "10.43.0.21", port("", corev1.ProtocolTCP, 8080, 80, 0))
	epA := endpoints("a", "svc-a", subset([]string{ttAddr(a).String()}, epPort("", corev1.ProtocolTCP, 80)))
	epC := endpoints("c", "svc-c", subset([]string{ttAddr(c).String()}, epPort("", corev1.ProtocolTCP, 80)))
	apply := func(t *testing.T, s ttScenario, pods []*corev1.Pod) {
		t.Helper()
		rs := Render(serviceCIDR, []*corev1.Service{svcA, svcC}, []*corev1.Endpoints{epA, epC})
		rs.Policy = CompilePolicies("n1", s.decode(t), pods, namespaces)
		if err := n.applier.Apply(rs); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("bridged traffic skips the ip hooks without bridge-nf-call-iptables", func(t *testing.T) {
		n.bridgeNetfilter(false)
		apply(t, ttScenarios[0], pods) // default-deny in b
		if ok, err := n.connects(ttPod{"b", "y"}, ttAddr(ttPod{"b", "x"}).String()+":80"); !ok || err != nil {
			t.Errorf("b/y → b/x:80 with bridge-nf-call-iptables=0: connected=%v (%v); want connected (the kernel bypasses the filter)", ok, err)
		}
		n.bridgeNetfilter(true)
		if ok, err := n.connects(ttPod{"b", "y"}, ttAddr(ttPod{"b", "x"}).String()+":80"); ok || err != nil {
			t.Errorf("b/y → b/x:80 with bridge-nf-call-iptables=1: connected=%v (%v); want dropped", ok, err)
		}
	})
	n.bridgeNetfilter(true)
	for _, s := range ttScenarios {
		t.Run(s.name, func(t *testing.T) {
			apply(t, s, pods)
			n.checkTable(t, s.allowed)
			if s.name != "ipblock" {
				return
			}
			out, err := n.node.Command(context.Background(), "nft", "list", "chain", "ip", TableName, ChainPolicyIngress).CombinedOutput()
			if err != nil {
				t.Fatalf("nft list chain: %v: %s", err, out)
			}
			// nft's own rendering of the rule Applier encoded.
			if want := "ip saddr 10.42.0.0/24 ip saddr != 10.42.0.13 tcp dport 79-80 accept"; !strings.Contains(string(out), want) {
				t.Errorf("nft list chain ip %s %s lacks %q:\n%s", TableName, ChainPolicyIngress, want, out)
			}
		})
	}
	t.Run("egress to a service is checked against its endpoint", func(t *testing.T) {
		// The egress scenario is in place: b/y may reach namespace c only.
		for _, tt := range []struct {
			src  ttPod
			addr string
			want bool
		}{
			{ttPod{"b", "y"}, "10.43.0.20:8080", false}, // svc-a → a/x
			{ttPod{"b", "y"}, "10.43.0.21:8080", true},  // svc-c → c/x
			{ttPod{"b", "x"}, "10.43.0.20:8080", true},
		} {
			if got, err := n.connects(tt.src, tt.addr); got != tt.want || err != nil {
				t.Errorf("%s → %s: connected=%v (%v), want %v", tt.src, tt.addr, got, err, tt.want)
			}
		}
	})
	t.Run("a label change updates the sets", func(t *testing.T) {
		// allow-by-pod: a/x admits a/y on 80. a/z takes the label pod=y.
		apply(t, ttScenarios[1], pods)
		z := ttPod{"a", "z"}
		if ok, _ := n.connects(z, ttAddr(a).String()+":80"); ok {
			t.Fatalf("a/z → a/x:80 connected before the label change")
		}
		relabelled, _ := ttObjects("n1")
		relabelled[2].Labels = map[string]string{"pod": "y"}
		before := n.applier.policy.Diff(CompilePolicies("n1", ttScenarios[1].decode(t), relabelled, namespaces))
		n.applier.policy.Diff(CompilePolicies("n1", ttScenarios[1].decode(t), pods, namespaces)) // undo: Apply sends it
		if before.Rules || len(before.AddElems) != 1 || len(before.AddSets)+len(before.DelSets)+len(before.DelElems) != 0 {
			t.Errorf("label change = %+v, want one element added and nothing else", before)
		}
		apply(t, ttScenarios[1], relabelled)
		if ok, err := n.connects(z, ttAddr(a).String()+":80"); !ok || err != nil {
			t.Errorf("a/z → a/x:80 after the label change: connected=%v (%v), want connected", ok, err)
		}
	})
}
