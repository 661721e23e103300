package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BenchmarkHTTPCheck measures one httpGet check with the hand-written
// client (HTTPTarget.Check: a plain dial, the prepared request,
// http.ReadResponse) beside its anchor, the same check through Go's
// http.Client with keep-alives off (the kubelet's way, NewHTTPClient),
// measured in the same run against the same local server: process CPU
// (client and server both) and heap allocations per check. A node with 100
// containers probed every second runs 100 checks a second: CPU-µs/check ÷
// 100 is the percentage of a core.
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	g := &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(port)}
	c := &corev1.Container{Name: "app"}
	target, err := NewHTTPTarget(g, c, host)
	if err != nil {
		b.Fatal(err)
	}
	client := NewHTTPClient()
	ctx := context.Background()
	measure := func(n int, check func() Result) (cpu time.Duration, allocs float64) {
		allocs = testing.AllocsPerRun(1, func() {
			cpu0 := cpuTime(b)
			for range n {
				if r := check(); r != Success {
					b.Fatalf("check: %v", r)
				}
			}
			cpu = (cpuTime(b) - cpu0) / time.Duration(n)
		})
		return cpu, allocs / float64(n)
	}
	anchorCPU, anchorAllocs := measure(max(b.N, 200), func() Result {
		req, err := HTTPRequest(ctx, g, c, host)
		if err != nil {
			b.Fatal(err)
		}
		r, _ := HTTP(client, req)
		return r
	})
	b.ResetTimer()
	cpu, allocs := measure(b.N, func() Result {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r, _ := target.Check(cctx)
		return r
	})
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds()), "cpu-µs/check")
	b.ReportMetric(float64(anchorCPU.Microseconds()), "http.Client-cpu-µs/check")
	b.ReportMetric(float64(cpu)/float64(anchorCPU), "cpu-ratio")
	b.ReportMetric(allocs, "allocs/check")
	b.ReportMetric(anchorAllocs, "http.Client-allocs/check")
	b.Logf("httpGet check: %s CPU, %.0f allocs (client and server); http.Client with keep-alives off (anchor): %s CPU, %.0f allocs; CPU ratio %.2f×; 100 checks/s ≈ %.2f%% of a core vs %.2f%%",
		cpu, allocs, anchorCPU, anchorAllocs, float64(cpu)/float64(anchorCPU),
		float64(cpu*100)/float64(time.Second)*100, float64(anchorCPU*100)/float64(time.Second)*100)
}

// BenchmarkTCPCheck measures one tcpSocket check (TCP: a non-blocking
// connect checked at once, the socket closed without the runtime's
// poller) beside its anchor, a net.Dialer dial and close of the same
// listener (what the check did before), in the same run: process CPU
// (client and server's kernel side both) and allocations per check.
func BenchmarkTCPCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	addr := ln.Addr().String()
	ctx := context.Background()
	measure := func(n int, check func() Result) (cpu time.Duration, allocs float64) {
		allocs = testing.AllocsPerRun(1, func() {
			cpu0 := cpuTime(b)
			for range n {
				if r := check(); r != Success {
					b.Fatalf("check: %v", r)
				}
			}
			cpu = (cpuTime(b) - cpu0) / time.Duration(n)
		})
		return cpu, allocs / float64(n)
	}
	var d net.Dialer
	anchorCPU, anchorAllocs := measure(max(b.N, 200), func() Result {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(cctx, "tcp", addr)
		if err != nil {
			return Failure
		}
		c.Close()
		return Success
	})
	b.ResetTimer()
	cpu, allocs := measure(b.N, func() Result {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r, _ := TCP(cctx, "127.0.0.1", port)
		return r
	})
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds()), "cpu-µs/check")
	b.ReportMetric(float64(anchorCPU.Microseconds()), "net.Dialer-cpu-µs/check")
	b.ReportMetric(float64(cpu)/float64(anchorCPU), "cpu-ratio")
	b.ReportMetric(allocs, "allocs/check")
	b.ReportMetric(anchorAllocs, "net.Dialer-allocs/check")
	b.Logf("tcpSocket check: %s CPU, %.0f allocs; net.Dialer dial+close (anchor): %s CPU, %.0f allocs; CPU ratio %.2f×",
		cpu, allocs, anchorCPU, anchorAllocs, float64(cpu)/float64(anchorCPU))
}
