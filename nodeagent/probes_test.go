package nodeagent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tug-dev/tug/nodeagent/probe"
)

// TestProberStartupGates runs the probe workers of one container run with
// fast periods: the readiness check never runs before the startup probe
// has succeeded, a liveness failure shows as Unhealthy, and every change of
// result wakes the agent.
func TestProberStartupGates(t *testing.T) {
	var wakes atomic.Int32
	p := newProber(slog.New(slog.DiscardHandler), time.Now, func() { wakes.Add(1) }, nil)
	started := time.Now()
	fast := probe.Spec{Period: 5 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	run := &probeRun{startedAt: started, startupDone: make(chan struct{}), machines: map[probe.Kind]*probe.Machine{
		probe.Startup:   probe.NewMachine(probe.Startup, fast, started),
		probe.Readiness: probe.NewMachine(probe.Readiness, fast, started),
		probe.Liveness:  probe.NewMachine(probe.Liveness, probe.Spec{Period: 5 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1}, started),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.runs["c1"] = run

	var mu sync.Mutex
	var startupDone bool
	var readinessEarly, livenessEarly bool
	startupCalls := 0
	checks := map[probe.Kind]probeCheck{
		probe.Startup: func(context.Context) (probe.Result, string) {
			mu.Lock()
			defer mu.Unlock()
			startupCalls++
			if startupCalls < 3 {
				return probe.Failure, "not yet"
			}
			startupDone = true
			return probe.Success, ""
		},
		probe.Readiness: func(context.Context) (probe.Result, string) {
			mu.Lock()
			defer mu.Unlock()
			readinessEarly = readinessEarly || !startupDone
			return probe.Success, ""
		},
		probe.Liveness: func(context.Context) (probe.Result, string) {
			mu.Lock()
			defer mu.Unlock()
			livenessEarly = livenessEarly || !startupDone
			return probe.Failure, "connection refused"
		},
	}
	var wg sync.WaitGroup
	for kind, m := range run.machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx, run, m, checks[kind], slog.New(slog.DiscardHandler))
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := p.states()["c1"]
		if st.Started && st.Ready && st.Unhealthy != "" {
			if st.Unhealthy != "Liveness probe failed: connection refused" {
				t.Errorf("Unhealthy = %q", st.Unhealthy)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe state never settled: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if readinessEarly || livenessEarly {
		t.Errorf("readiness (%v) or liveness (%v) ran before the startup probe succeeded", readinessEarly, livenessEarly)
	}
	if startupCalls != 3 {
		t.Errorf("startup probe ran %d times, want 3 (it stops once it succeeded)", startupCalls)
	}
	if n := wakes.Load(); n < 3 {
		t.Errorf("agent woken %d times, want one per change of result (3)", n)
	}
}
