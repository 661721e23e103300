package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

const headlessYAML = `apiVersion: v1
kind: Service
metadata:
  name: hello-pods
  namespace: hello
spec:
  clusterIP: None
  selector:
    app: hello
  ports:
    - name: http
      port: 8080
      targetPort: http
`

// TestClusterDNS checks cluster DNS on real pods: from inside a pod (the
// demo app's /resolve, through the pod's resolv.conf, 10.43.0.10 and the
// proxy's DNAT to the node's server) a service name gives its cluster IP
// and a headless one its pods; from the node, SRV and PTR answer over UDP
// and TCP and unknown cluster names do not exist.
func TestClusterDNS(t *testing.T) {
	repo := newRepo(t)
	repo.copyExample()
	repo.write("headless.yaml", headlessYAML)
	repo.commit("hello: first deploy, with a headless service")
	c := newCluster(t, repo)
	c.start()
	pods := c.runningPods(helloNS, 2, 90*time.Second)
	c.waitEndpoints(pods)
	clusterIP := c.service().Spec.ClusterIP
	var podIPs []string
	for _, p := range pods {
		podIPs = append(podIPs, p.Status.PodIP)
	}
	slices.Sort(podIPs)

	resolve := func(name string) (string, error) {
		return c.get(fmt.Sprintf("http://%s:8080/resolve?name=%s", pods[0].Status.PodIP, name))
	}
	c.waitFor("the service name resolving inside a pod", 20*time.Second, func() (bool, string) {
		body, err := resolve("hello.hello.svc.cluster.local")
		return err == nil && body == clusterIP+"\n", fmt.Sprintf("%q, %v (want %s)", body, err, clusterIP)
	})
	for name, want := range map[string]string{
		"hello":                              clusterIP + "\n", // the search path
		"hello.hello":                        clusterIP + "\n",
		"hello-pods.hello.svc.cluster.local": strings.Join(podIPs, "\n") + "\n",
	} {
		c.waitFor(name+" resolving inside a pod", 10*time.Second, func() (bool, string) {
			body, err := resolve(name)
			return err == nil && body == want, fmt.Sprintf("%q, %v (want %q)", body, err, want)
		})
	}
	if body, err := resolve("nope.hello.svc.cluster.local."); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("an unknown service: %q, %v; want 404 (no such host)", body, err)
	}

	// From the node: 10.43.0.10 over UDP and TCP (a route for the service
	// range over the pod bridge stands in for the default route the test
	// namespace does not have; nothing leaves it).
	if out, err := c.ns.Command(context.Background(), "ip", "route", "add", "10.43.0.0/16", "dev", "tug0").CombinedOutput(); err != nil {
		t.Fatalf("ip route add: %v: %s", err, out)
	}
	ip := netip.MustParseAddr(clusterIP).As4()
	ptr := fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", ip[3], ip[2], ip[1], ip[0])
	tests := []struct {
		network, name string
		qtype         uint16
		want          []string
	}{
		{"udp", "_http._tcp.hello.hello.svc.cluster.local.", mdns.TypeSRV, []string{"NOERROR", "SRV 0 100 80 hello.hello.svc.cluster.local."}},
		{"tcp", "_http._tcp.hello.hello.svc.cluster.local.", mdns.TypeSRV, []string{"NOERROR", "SRV 0 100 80 hello.hello.svc.cluster.local."}},
		{"udp", "_http._tcp.hello-pods.hello.svc.cluster.local.", mdns.TypeSRV, []string{"NOERROR",
			"SRV 0 50 8080 " + strings.ReplaceAll(podIPs[0], ".", "-") + ".hello-pods.hello.svc.cluster.local.",
			"SRV 0 50 8080 " + strings.ReplaceAll(podIPs[1], ".", "-") + ".hello-pods.hello.svc.cluster.local."}},
		{"udp", ptr, mdns.TypePTR, []string{"NOERROR", "PTR hello.hello.svc.cluster.local."}},
		{"udp", "gone.hello.svc.cluster.local.", mdns.TypeA, []string{"NXDOMAIN"}},
	}
	for _, tt := range tests {
		got, err := c.queryDNS(tt.network, tt.name, tt.qtype)
		if err != nil {
			t.Errorf("%s %s: %v", tt.network, tt.name, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %s %s = %q, want %q", tt.network, tt.name, mdns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

// queryDNS asks 10.43.0.10 from the cluster's namespace and returns the
// rcode and each answer's type and data.
func (c *cluster) queryDNS(network, name string, qtype uint16) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.ns.DialContext(ctx, network+"4", "10.43.0.10:53")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	co := &mdns.Conn{Conn: conn}
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	resp, err := co.ReadMsg()
	if err != nil {
		return nil, err
	}
	out := []string{mdns.RcodeToString[resp.Rcode]}
	for _, rr := range resp.Answer {
		h := rr.Header()
		out = append(out, mdns.TypeToString[h.Rrtype]+" "+strings.TrimPrefix(rr.String(), h.String()))
	}
	return out, nil
}
