package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
)

// goalReadiness is issue 6's bound from an Endpoints change to the rules.
const goalReadiness = 100 * time.Millisecond

// TestReadinessLatency measures, end to end with the real pieces, how long
// an Endpoints change takes to reach traffic: a write to the real state
// store → Notify → the real Proxy.Run renders and the real Applier programs
// the node's table → a new connection from the outside client to the
// ClusterIP is answered by the new endpoint. The service's one endpoint
// moves between pod0 and pod1, so the first answer from the new pod proves
// the new set is in the kernel.
func TestReadinessLatency(t *testing.T) {
	const rounds = 20
	median, worst := measureReadiness(t, rounds)
	t.Logf("readiness change → traffic (store write, Run, nftables, new connection), %d rounds: median %v, max %v | goal ≤ %v → max is %.2f of goal",
		rounds, median.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), goalReadiness, float64(worst)/float64(goalReadiness))
	// The goal is judged on the median; the failure bound on the slowest
	// round is generous, as the test shares a loaded machine.
	if median > goalReadiness || worst > 10*goalReadiness {
		t.Errorf("readiness changes took median %v, max %v; want median ≤ %v, max ≤ %v", median, worst, goalReadiness, 10*goalReadiness)
	}
}

// BenchmarkReadinessLatency is TestReadinessLatency's figure for make
// bench: b.N endpoint moves, each timed from the store write to the first
// answer from the new endpoint.
func BenchmarkReadinessLatency(b *testing.B) {
	median, worst := measureReadiness(b, b.N)
	b.ReportMetric(float64(median.Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(worst)/float64(goalReadiness), "max-of-goal")
	b.Logf("readiness change → traffic, %d rounds: median %v, max %v | goal ≤ %v → max is %.2f of goal",
		b.N, median.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), goalReadiness, float64(worst)/float64(goalReadiness))
}

// measureReadiness moves the endpoint rounds times and returns the median
// and the slowest time from store write to traffic.
func measureReadiness(t testing.TB, rounds int) (median, worst time.Duration) {
	n := newTestNode(t, 2)
	n.serve(0, 8080)
	n.serve(1, 8080)
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := service("default", "web", "ClusterIP", "10.43.0.10", port("http", corev1.ProtocolTCP, 80, 8080, 0))
	on := func(i int) *corev1.Endpoints {
		return endpoints("default", "web", subset([]string{podAddr(i)}, epPort("http", corev1.ProtocolTCP, 8080)))
	}
	if _, err := st.Apply([]manifest.Object{svc, on(0)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := New(Config{Store: st, Applier: n.applier, ServiceCIDR: serviceCIDR, Logger: slog.New(slog.DiscardHandler)})
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// waitFor polls new connections until pod answers; it returns the time
	// from since to the first such answer.
	waitFor := func(pod string, since time.Time, limit time.Duration) time.Duration {
		t.Helper()
		for {
			got, _, err := ask(n.client, "10.43.0.10:80")
			if got == pod {
				return time.Since(since)
			}
			if time.Since(since) > limit {
				t.Fatalf("no answer from %s %v after the change (last: %q, %v)", pod, limit, got, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("pod0", time.Now(), 5*time.Second) // Run's first sync

	var took []time.Duration
	for k := range rounds {
		next := (k + 1) % 2
		start := time.Now()
		if _, err := st.Apply([]manifest.Object{on(next)}, nil, nil); err != nil {
			t.Fatal(err)
		}
		took = append(took, waitFor(fmt.Sprintf("pod%d", next), start, 2*time.Second))
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)-1]
}
