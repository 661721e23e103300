package probe

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/health"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGRPCCheck measures one gRPC probe check (a new connection, the
// HTTP/2 handshake and Health/Check, as the kubelet does every period)
// beside its anchor, a tcpSocket check of the same server measured in the
// same run: wall time and process CPU time (client and server both) per
// check. A node with 100 containers probed every second runs 100 checks a
// second: CPU-µs/check ÷ 100 is the percentage of a core (goal ≤ 2% for
// the agent's side).
func BenchmarkGRPCCheck(b *testing.B) {
	port := serveGRPC(b, health.NewServer())
	ctx := context.Background()
	measure := func(n int, check func() Result) (wall, cpu time.Duration) {
		start, cpu0 := time.Now(), cpuTime(b)
		for range n {
			if r := check(); r != Success {
				b.Fatalf("check: %v", r)
			}
		}
		return time.Since(start) / time.Duration(n), (cpuTime(b) - cpu0) / time.Duration(n)
	}
	tcpWall, tcpCPU := measure(max(b.N, 50), func() Result { r, _ := TCP(ctx, "127.0.0.1", port); return r })
	b.ResetTimer()
	wall, cpu := measure(b.N, func() Result { r, _ := GRPC(ctx, "127.0.0.1", port, ""); return r })
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds()), "grpc-cpu-µs/check")
	b.ReportMetric(float64(tcpCPU.Microseconds()), "tcp-cpu-µs/check")
	b.ReportMetric(float64(cpu)/float64(tcpCPU), "grpc/tcp-cpu")
	b.Logf("gRPC check: %s wall, %s CPU; tcpSocket check (anchor): %s wall, %s CPU; CPU ratio %.1f×; 100 gRPC probes/s ≈ %.2f%% of a core (client and server)",
		wall, cpu, tcpWall, tcpCPU, float64(cpu)/float64(tcpCPU), float64(cpu*100)/float64(time.Second)*100)
}
