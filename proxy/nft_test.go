package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/internal/testenv"
)

// testNode is a node network namespace holding tug's table, with "pods"
// (namespaces behind veths, 10.42.0.0/24, gateway 10.42.0.1) and one
// "outside host" client (192.168.77.2, node side 192.168.77.1). No
// namespace has a route out of the test's namespaces.
type testNode struct {
	t       testing.TB
	node    *testenv.NetNS
	client  *testenv.NetNS
	pods    []*testenv.NetNS
	applier *Applier
}

const (
	nodeAddr   = "192.168.77.1"
	clientAddr = "192.168.77.2"
	podGateway = "10.42.0.1"
)

func podAddr(i int) string { return fmt.Sprintf("10.42.0.%d", 10+i) }

func newTestNode(t testing.TB, pods int) *testNode {
	t.Helper()
	testenv.Require(t, "ip", "nft", "nsenter")
	n := &testNode{t: t, node: testenv.NewNetNS(t), client: testenv.NewNetNS(t)}
	n.ip(n.node, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", n.client.Name)
	n.ip(n.node, "addr", "add", nodeAddr+"/24", "dev", "vc")
	n.ip(n.node, "link", "set", "vc", "up")
	n.ip(n.client, "addr", "add", clientAddr+"/24", "dev", "eth0")
	n.ip(n.client, "link", "set", "eth0", "up")
	n.ip(n.client, "route", "add", "default", "via", nodeAddr)
	n.run(n.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	for i := range pods {
		p := testenv.NewNetNS(t)
		veth := fmt.Sprintf("vp%d", i)
		n.ip(n.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", p.Name)
		n.ip(n.node, "addr", "add", podGateway+"/32", "dev", veth)
		n.ip(n.node, "link", "set", veth, "up")
		n.ip(n.node, "route", "add", podAddr(i)+"/32", "dev", veth)
		n.ip(p, "addr", "add", podAddr(i)+"/24", "dev", "eth0")
		n.ip(p, "link", "set", "eth0", "up")
		n.ip(p, "route", "add", "default", "via", podGateway)
		n.pods = append(n.pods, p)
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

// on returns n reporting to t (a subtest).
func (n *testNode) on(t *testing.T) *testNode { c := *n; c.t = t; return &c }

func (n *testNode) ip(ns *testenv.NetNS, args ...string) { n.t.Helper(); n.run(ns, "ip", args...) }

func (n *testNode) run(ns *testenv.NetNS, name string, args ...string) string {
	n.t.Helper()
	out, err := ns.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out)
}

// serve listens on port in pod i: each connection gets "pod<i> <remote ip>\n"
// and then its lines echoed back. UDP gets "pod<i>" back for each datagram.
func (n *testNode) serve(i int, port int) {
	n.t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := n.pods[i].Do(func() error {
		var err error
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				remote := c.RemoteAddr().(*net.TCPAddr).IP
				fmt.Fprintf(c, "pod%d %s\n", i, remote)
				io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(fmt.Appendf(nil, "pod%d", i), addr)
		}
	}()
}

// ask connects from ns to addr and returns the greeting's fields.
func ask(ns *testenv.NetNS, addr string) (pod, remote string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	pod, remote, _ = strings.Cut(strings.TrimSpace(line), " ")
	return pod, remote, nil
}

func (n *testNode) apply(svcs []*corev1.Service, eps []*corev1.Endpoints) {
	n.t.Helper()
	if err := n.applier.Apply(Render(serviceCIDR, svcs, eps)); err != nil {
		n.t.Fatal(err)
	}
}

func TestNFTablesIntegration(t *testing.T) {
	n := newTestNode(t, 2)
	n.serve(0, 8080)
	n.serve(1, 8080)
	web := service("default", "web", "NodePort", "10.43.0.10",
		port("http", corev1.ProtocolTCP, 80, 8080, 30080), port("dns", corev1.ProtocolUDP, 53, 8080, 0))
	idle := service("default", "idle", "ClusterIP", "10.43.0.11", port("", "", 80, 8080, 0))
	both := endpoints("default", "web", subset([]string{podAddr(0), podAddr(1)},
		epPort("http", corev1.ProtocolTCP, 8080), epPort("dns", corev1.ProtocolUDP, 8080)))
	n.apply([]*corev1.Service{web, idle}, []*corev1.Endpoints{both})

	out := n.run(n.node, "nft", "list", "table", "ip", TableName)
	for _, want := range []string{
		"dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @endpoints",
		"10.43.0.10 . tcp . 80 : goto dnat_2", "10.43.0.11 . tcp . 80 : goto reject", "tcp . 30080 : goto npdnat_2",
		"10.43.0.10 . tcp . 80 . 0x00000001 : 10.42.0.11 . 8080",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list table ip %s lacks %q:\n%s", TableName, want, out)
		}
	}

	t.Run("clusterIP reaches every endpoint", func(t *testing.T) {
		n := n.on(t)
		seen := map[string]int{}
		for range 300 {
			pod, remote, err := ask(n.client, "10.43.0.10:80")
			if err != nil {
				t.Fatal(err)
			}
			if remote != clientAddr {
				t.Fatalf("pod saw client %s, want %s (not masqueraded)", remote, clientAddr)
			}
			seen[pod]++
		}
		if len(seen) != 2 || seen["pod0"] < 50 || seen["pod1"] < 50 {
			t.Errorf("answers per pod over 300 requests = %v, want both pods, each ≥ 50", seen)
		}
	})
	t.Run("udp", func(t *testing.T) {
		n := n.on(t)
		seen := map[string]bool{}
		for range 40 {
			var c net.Conn
			err := n.client.Do(func() (err error) { c, err = net.Dial("udp4", "10.43.0.10:53"); return err })
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 64)
			_, err = c.Write([]byte("q"))
			if err == nil {
				var k int
				k, err = c.Read(buf)
				seen[string(buf[:k])] = true
			}
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		if !seen["pod0"] || !seen["pod1"] {
			t.Errorf("UDP answers from %v, want pod0 and pod1", seen)
		}
	})
	t.Run("no endpoints refuses at once", func(t *testing.T) {
		n := n.on(t)
		for _, addr := range []string{"10.43.0.11:80", "10.43.0.10:81"} { // no endpoints; allocated IP, unknown port
			start := time.Now()
			_, _, err := ask(n.client, addr)
			took := time.Since(start)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial %s: err = %v, want connection refused", addr, err)
			}
			if took > 100*time.Millisecond {
				t.Errorf("dial %s refused after %v, want < 100ms", addr, took)
			}
			t.Logf("dial %s refused in %v", addr, took)
		}
	})
	t.Run("unallocated service address is dropped", func(t *testing.T) {
		n := n.on(t)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c, err := n.client.DialContext(ctx, "tcp4", "10.43.99.99:80")
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, context.DeadlineExceeded) && !os.IsTimeout(err) {
			t.Errorf("dial 10.43.99.99:80: err = %v, want a time-out (dropped)", err)
		}
	})
	t.Run("nodeport answers, masqueraded", func(t *testing.T) {
		n := n.on(t)
		seen := map[string]bool{}
		for range 40 {
			pod, remote, err := ask(n.client, nodeAddr+":30080")
			if err != nil {
				t.Fatal(err)
			}
			if remote != podGateway {
				t.Fatalf("pod saw NodePort client %s, want masqueraded to %s", remote, podGateway)
			}
			seen[pod] = true
		}
		if len(seen) != 2 {
			t.Errorf("NodePort answers from %v, want both pods", seen)
		}
	})
	t.Run("restart keeps connections in flight", func(t *testing.T) {
		n := n.on(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := n.client.DialContext(ctx, "tcp4", "10.43.0.10:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		// A new proxy rebuilds the whole table: delete and add in one batch.
		n.applier.Close()
		n.applier.tracker = nil
		n.apply([]*corev1.Service{web, idle}, []*corev1.Endpoints{both})
		fmt.Fprintln(c, "still there")
		if line, err := r.ReadString('\n'); err != nil || line != "still there\n" {
			t.Errorf("after rebuild: read %q, %v; want the echo", line, err)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		n := n.on(t)
		only0 := endpoints("default", "web", subset([]string{podAddr(0)}, epPort("http", corev1.ProtocolTCP, 8080)))
		n.apply([]*corev1.Service{web, idle}, []*corev1.Endpoints{only0})
		pod, remote, err := ask(n.pods[0], "10.43.0.10:80")
		if err != nil {
			t.Fatal(err)
		}
		if pod != "pod0" || remote != podGateway {
			t.Errorf("hairpin answer = %s from %s, want pod0 seeing %s", pod, remote, podGateway)
		}
	})
	t.Run("removing an endpoint takes effect", func(t *testing.T) {
		n := n.on(t)
		only1 := endpoints("default", "web", subset([]string{podAddr(1)}, epPort("http", corev1.ProtocolTCP, 8080)))
		n.apply([]*corev1.Service{web, idle}, []*corev1.Endpoints{only1})
		for range 50 {
			pod, _, err := ask(n.client, "10.43.0.10:80")
			if err != nil {
				t.Fatal(err)
			}
			if pod != "pod1" {
				t.Fatalf("answer from %s after pod0's endpoint was removed", pod)
			}
		}
		n.apply([]*corev1.Service{web, idle}, nil)
		if _, _, err := ask(n.client, "10.43.0.10:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("after the last endpoint went: err = %v, want connection refused", err)
		}
		if _, _, err := ask(n.client, nodeAddr+":30080"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("NodePort after the last endpoint went: err = %v, want connection refused", err)
		}
	})
	t.Run("sessionAffinity ClientIP", func(t *testing.T) {
		n := n.on(t)
		sticky := service("default", "sticky", "NodePort", "10.43.0.20", port("", "", 80, 8080, 30090))
		sticky.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		eps := func(ips ...string) []*corev1.Endpoints {
			return []*corev1.Endpoints{endpoints("default", "sticky", subset(ips, epPort("", "", 8080)))}
		}
		n.apply([]*corev1.Service{sticky}, eps(podAddr(0), podAddr(1)))
		out := n.run(n.node, "nft", "list", "table", "ip", TableName) // nft 1.0.6 can list every map
		if !strings.Contains(out, "flags dynamic,timeout") {
			t.Errorf("no dynamic affinity map in:\n%s", out)
		}
		for _, addr := range []string{"10.43.0.20:80", nodeAddr + ":30090"} {
			first := ""
			for k := range 30 {
				pod, _, err := ask(n.client, addr)
				if err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				if k == 0 {
					first = pod
				} else if pod != first {
					t.Fatalf("%s: request %d answered by %s, earlier ones by %s", addr, k, pod, first)
				}
			}
			// The remembered endpoint goes away: the client moves to the
			// other one and stays there.
			other := podAddr(1)
			if first == "pod1" {
				other = podAddr(0)
			}
			n.apply([]*corev1.Service{sticky}, eps(other))
			for k := range 10 {
				if pod, _, err := ask(n.client, addr); err != nil || podAddr(int(pod[3]-'0')) != other {
					t.Fatalf("%s after %s left: request %d answered by %s (%v), want %s", addr, first, k, pod, err, other)
				}
			}
			n.apply([]*corev1.Service{sticky}, eps(podAddr(0), podAddr(1)))
			for k := range 20 {
				if pod, _, err := ask(n.client, addr); err != nil || podAddr(int(pod[3]-'0')) != other {
					t.Fatalf("%s with both back: request %d answered by %s (%v), want the remembered %s", addr, k, pod, err, other)
				}
			}
		}
		n.apply([]*corev1.Service{web, idle}, nil)
	})
	t.Run("sessionAffinityConfig timeout", func(t *testing.T) {
		n := n.on(t)
		brief := service("default", "brief", "ClusterIP", "10.43.0.21", port("", "", 80, 8080, 0))
		brief.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		brief.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(1))}}
		n.apply([]*corev1.Service{brief}, []*corev1.Endpoints{endpoints("default", "brief", subset([]string{podAddr(0), podAddr(1)}, epPort("", "", 8080)))})
		if _, _, err := ask(n.client, "10.43.0.21:80"); err != nil {
			t.Fatal(err)
		}
		out := n.run(n.node, "nft", "list", "map", "ip", TableName, MapAffinity)
		if !strings.Contains(out, clientAddr+" . 0x7e57") || !strings.Contains(out, "timeout 1s") {
			t.Errorf("no remembered client with a 1 s timeout in:\n%s", out)
		}
		time.Sleep(1500 * time.Millisecond)
		if out := n.run(n.node, "nft", "list", "map", "ip", TableName, MapAffinity); strings.Contains(out, clientAddr) {
			t.Errorf("the client is still remembered after its 1 s timeout:\n%s", out)
		}
		n.apply([]*corev1.Service{web, idle}, nil)
	})
	t.Run("deleting the service", func(t *testing.T) {
		n := n.on(t)
		n.apply([]*corev1.Service{idle}, nil)
		out := n.run(n.node, "nft", "list", "table", "ip", TableName)
		if strings.Contains(out, "dnat_2") || strings.Contains(out, "10.43.0.10") {
			t.Errorf("table still mentions the deleted service:\n%s", out)
		}
	})
}
