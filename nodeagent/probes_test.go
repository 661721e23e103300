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
	p.grid = time.Millisecond
	started := time.Now()
	fast := probe.Spec{Period: 5 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	run := &probeRun{startedAt: started, machines: map[probe.Kind]*probe.Machine{
		probe.Startup:   probe.NewMachine(probe.Startup, fast, started),
		probe.Readiness: probe.NewMachine(probe.Readiness, fast, started),
		probe.Liveness:  probe.NewMachine(probe.Liveness, probe.Spec{Period: 5 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1}, started),
	}}
	run.ctx, run.cancel = context.WithCancel(context.Background())

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
	p.mu.Lock()
	p.runs["c1"] = run
	p.queueRun(run, checks, slog.New(slog.DiscardHandler))
	p.mu.Unlock()
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
	p.stop()
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

// TestProberFixedRate runs a probe whose check takes 40% of its period:
// checks after the first start on the grid, one period apart (not a period
// after the last check ended), and a probe that always fails is Unhealthy within
// period × failureThreshold of its first check.
func TestProberFixedRate(t *testing.T) {
	const period, grid, took = 200 * time.Millisecond, 50 * time.Millisecond, 80 * time.Millisecond
	p := newProber(slog.New(slog.DiscardHandler), time.Now, func() {}, nil)
	p.grid = grid
	started := time.Now()
	spec := probe.Spec{Period: period, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	run := &probeRun{startedAt: started, machines: map[probe.Kind]*probe.Machine{
		probe.Liveness: probe.NewMachine(probe.Liveness, spec, started),
	}}
	run.ctx, run.cancel = context.WithCancel(context.Background())
	var mu sync.Mutex
	var starts []time.Time
	check := func(context.Context) (probe.Result, string) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(took)
		return probe.Failure, "refused"
	}
	p.mu.Lock()
	p.runs["c1"] = run
	p.queueRun(run, map[probe.Kind]probeCheck{probe.Liveness: check}, slog.New(slog.DiscardHandler))
	p.mu.Unlock()

	var unhealthyAt time.Time
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p.states()["c1"].Unhealthy != "" {
			unhealthyAt = time.Now()
			break
		}
	}
	p.stop()
	mu.Lock()
	defer mu.Unlock()
	if unhealthyAt.IsZero() || len(starts) != 3 {
		t.Fatalf("after %d checks: unhealthy at %v; want Unhealthy after 3 checks (a failed liveness probe stops)", len(starts), unhealthyAt)
	}
	// The first check runs when due; the next ones on the grid, a
	// period apart (a fixed rate: not a period after the last check
	// ended), the second one up to a step early to join the grid.
	for i, s := range starts[1:] {
		if off := s.Sub(s.Truncate(grid)); off > grid/2 {
			t.Errorf("check %d started %s after a grid step of %s", i+1, off, grid)
		}
	}
	if gap := starts[1].Sub(starts[0]); gap < period-grid || gap > period+grid/2 {
		t.Errorf("first to second check: %s, want a period (%s) less up to a grid step", gap, period)
	}
	if gap := starts[2].Sub(starts[1]); gap < period-grid/2 || gap > period+grid/2 {
		t.Errorf("second to third check: %s, want a period (%s)", gap, period)
	}
	if d := unhealthyAt.Sub(starts[0]); d > 3*period {
		t.Errorf("Unhealthy %s after the first check, want within period × failureThreshold (%s)", d, 3*period)
	}
}
