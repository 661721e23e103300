package routes

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
)

// memStore is a Store over a settable list of Nodes.
type memStore struct {
	mu    sync.Mutex
	nodes []*corev1.Node
	subs  []chan struct{}
}

func (s *memStore) List(kind, _ string) ([]manifest.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []manifest.Object
	for _, n := range s.nodes {
		out = append(out, n)
	}
	return out, nil
}

func (s *memStore) Notify(ctx context.Context, _ ...string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{}, 1)
	s.subs = append(s.subs, ch)
	return ch
}

func (s *memStore) set(nodes ...*corev1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = nodes
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func ipIn(t *testing.T, ns *testenv.NetNS, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func handleIn(t *testing.T, ns *testenv.NetNS) *netlink.Handle {
	t.Helper()
	nsh, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsh.Close() })
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// routesIn is `ip route show` in ns, one route a line, for the pod range
// and the foreign test range only.
func routesIn(t *testing.T, ns *testenv.NetNS) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(ipIn(t, ns, "route", "show")), "\n") {
		if strings.HasPrefix(l, "10.42.") || strings.HasPrefix(l, "10.77.") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return out
}

func waitRoutes(t *testing.T, ns *testenv.NetNS, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := routesIn(t, ns)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("routes in %s:\n%s\nwant:\n%s", ns.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLoopTwoNodes: two "nodes" (network namespaces joined by a veth pair,
// no route out) each run a Loop over the same Nodes. Each gets a route to
// the other's pod CIDR and to a third node's, tagged proto 0x74; a TCP
// connection to an address in the other node's pod range goes through;
// the third node removed, its route goes on both; a route of another
// protocol to another range, and one left by a tug that no longer wants
// it, are handled as they must be (kept, and removed).
func TestLoopTwoNodes(t *testing.T) {
	testenv.Require(t, "ip")
	ns1, ns2 := testenv.NewNetNS(t), testenv.NewNetNS(t)
	suffix := testenv.RandomSuffix()[:6]
	ipIn(t, ns1, "link", "add", "rt1"+suffix, "type", "veth", "peer", "name", "rt2"+suffix, "netns", ns2.Name)
	ipIn(t, ns1, "addr", "add", "10.99.0.1/24", "dev", "rt1"+suffix)
	ipIn(t, ns1, "link", "set", "rt1"+suffix, "up")
	ipIn(t, ns2, "addr", "add", "10.99.0.2/24", "dev", "rt2"+suffix)
	ipIn(t, ns2, "link", "set", "rt2"+suffix, "up")
	// n2's "pod": an address of its pod range on its loopback.
	ipIn(t, ns2, "addr", "add", "10.42.1.5/32", "dev", "lo")
	// Someone else's route, and a stale one of ours.
	ipIn(t, ns1, "route", "add", "10.77.0.0/24", "via", "10.99.0.2", "proto", "static")
	ipIn(t, ns1, "route", "add", "10.42.9.0/24", "via", "10.99.0.2", "proto", "0x74")

	// NodeIP: no default route in ns1, so the veth's address; with a
	// default route (toward ns1 only) in ns2, that interface's.
	ipIn(t, ns2, "route", "add", "default", "via", "10.99.0.1")
	for ns, want := range map[*testenv.NetNS]string{ns1: "10.99.0.1", ns2: "10.99.0.2"} {
		if ip, err := NodeIP(handleIn(t, ns)); err != nil || ip.String() != want {
			t.Errorf("NodeIP in %s = %v, %v; want %s", ns.Name, ip, err, want)
		}
	}

	st := &memStore{}
	n1, n2, n3 := node("n1", "10.42.0.0/24", "10.99.0.1"), node("n2", "10.42.1.0/24", "10.99.0.2"), node("n3", "10.42.2.0/24", "10.99.0.3")
	st.set(n1, n2, n3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, x := range []struct {
		ns   *testenv.NetNS
		name string
	}{{ns1, "n1"}, {ns2, "n2"}} {
		a := NewApplier(handleIn(t, x.ns), nil)
		t.Cleanup(func() {
			if err := a.Clear(); err != nil {
				t.Errorf("clear %s: %v", x.name, err)
			}
		})
		l := NewLoop(Config{Store: st, Applier: a, NodeName: x.name, Resync: 200 * time.Millisecond})
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Run(ctx) }()
	}
	waitRoutes(t, ns1, []string{
		"10.42.1.0/24 via 10.99.0.2 dev rt1" + suffix + " proto 116",
		"10.42.2.0/24 via 10.99.0.3 dev rt1" + suffix + " proto 116",
		"10.77.0.0/24 via 10.99.0.2 dev rt1" + suffix + " proto static",
	})
	waitRoutes(t, ns2, []string{
		"10.42.0.0/24 via 10.99.0.1 dev rt2" + suffix + " proto 116",
		"10.42.2.0/24 via 10.99.0.3 dev rt2" + suffix + " proto 116",
	})

	// Traffic from n1 to n2's pod address follows the route.
	var ln net.Listener
	if err := ns2.Do(func() (err error) { ln, err = net.Listen("tcp", "10.42.1.5:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", c.LocalAddr())
			c.Close()
		}
	}()
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	defer dcancel()
	c, err := ns1.DialContext(dctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("n1 → n2 pod address %s: %v", ln.Addr(), err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if want := "hello from " + ln.Addr().String() + "\n"; string(got) != want {
		t.Errorf("answer %q, want %q", got, want)
	}

	// n3 leaves; n2 moves to another address (its route is replaced).
	n2b := node("n2", "10.42.1.0/24", "10.99.0.22")
	st.set(n1, n2b)
	waitRoutes(t, ns1, []string{
		"10.42.1.0/24 via 10.99.0.22 dev rt1" + suffix + " proto 116",
		"10.77.0.0/24 via 10.99.0.2 dev rt1" + suffix + " proto static",
	})
	waitRoutes(t, ns2, []string{"10.42.0.0/24 via 10.99.0.1 dev rt2" + suffix + " proto 116"})

	// Someone deletes our route: the resync puts it back.
	ipIn(t, ns2, "route", "del", "10.42.0.0/24")
	waitRoutes(t, ns2, []string{"10.42.0.0/24 via 10.99.0.1 dev rt2" + suffix + " proto 116"})

	// A gateway that is not on a connected network fails that route only.
	a := NewApplier(handleIn(t, ns1), nil)
	err = a.Apply([]Route{rt("10.42.1.0/24", "10.99.0.22", "n2"), rt("10.42.3.0/24", "10.200.0.1", "far")})
	if err == nil || !strings.Contains(err.Error(), "10.42.3.0/24 via 10.200.0.1 (node far)") {
		t.Errorf("unreachable gateway: err %v; want one naming the route and node", err)
	}
}
