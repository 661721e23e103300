package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// goalClusterIPRatio is issue 6's goal: requests through a ClusterIP reach
// at least 95 % of the rate of the same requests sent straight to the pod.
const goalClusterIPRatio = 0.95

// serveHTTP runs an HTTP server answering "pod<i>" on port in pod i.
func (n *testNode) serveHTTP(i, port int) {
	n.t.Helper()
	var ln net.Listener
	if err := n.pods[i].Do(func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "pod%d", i)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	n.t.Cleanup(func() { srv.Close() })
}

// get sends one GET to url with c and checks the answer.
func get(c *http.Client, url, want string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if string(body) != want {
		return fmt.Errorf("GET %s: answer %q, want %q", url, body, want)
	}
	return nil
}

// BenchmarkClusterIPRequests measures HTTP requests/s from the outside
// client to one pod, straight to its address and through a ClusterIP
// (DNAT by tug's rules) in the same run, interleaved in batches so both
// see the same machine load. "new-conn" opens a connection per request,
// so every request's first packet goes through the nat chains;
// "keep-alive" reuses one connection (conntrack only).
func BenchmarkClusterIPRequests(b *testing.B) {
	n := newTestNode(b, 1)
	n.serveHTTP(0, 8080)
	svc := service("default", "web", "ClusterIP", "10.43.0.10", port("http", corev1.ProtocolTCP, 80, 8080, 0))
	eps := endpoints("default", "web", subset([]string{podAddr(0)}, epPort("http", corev1.ProtocolTCP, 8080)))
	if err := n.applier.Apply(Render(serviceCIDR, []*corev1.Service{svc}, []*corev1.Endpoints{eps})); err != nil {
		b.Fatal(err)
	}
	direct := "http://" + podAddr(0) + ":8080/"
	viaSvc := "http://10.43.0.10:80/"
	const batch = 200 // requests per target per iteration
	for _, tc := range []struct {
		name      string
		keepAlive bool
	}{{"new-conn", false}, {"keep-alive", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				Proxy: nil, DisableKeepAlives: !tc.keepAlive, MaxIdleConnsPerHost: 1,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					return n.client.DialContext(ctx, network, addr)
				},
			}}
			defer c.CloseIdleConnections()
			var tDirect, tSvc time.Duration
			for _, u := range []string{direct, viaSvc} { // warm up (ARP, first connection)
				if err := get(c, u, "pod0"); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				for k, u := range []string{direct, viaSvc} {
					start := time.Now()
					for range batch {
						if err := get(c, u, "pod0"); err != nil {
							b.Fatal(err)
						}
					}
					if k == 0 {
						tDirect += time.Since(start)
					} else {
						tSvc += time.Since(start)
					}
				}
			}
			reqs := float64(batch * b.N)
			rpsDirect, rpsSvc := reqs/tDirect.Seconds(), reqs/tSvc.Seconds()
			ratio := rpsSvc / rpsDirect
			b.ReportMetric(rpsDirect, "direct-req/s")
			b.ReportMetric(rpsSvc, "clusterip-req/s")
			b.ReportMetric(ratio, "ratio")
			b.Logf("%s: ClusterIP %.0f req/s | straight to the pod IP %.0f req/s (same run) → ratio %.3f | goal ≥ %.2f → %.2f of goal",
				tc.name, rpsSvc, rpsDirect, ratio, goalClusterIPRatio, ratio/goalClusterIPRatio)
		})
	}
}
