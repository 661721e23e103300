package nodeagent

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/tug-dev/tug/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
)

// ProbeState is what the probes of one run of a container found. The agent
// keeps it in memory, per container ID, as the kubelet does: after a
// restart of the agent a container with a readiness probe is unready until
// its probe succeeds again.
type ProbeState struct {
	StartedAt time.Time // the run the probes belong to (Container.StartedAt)
	Started   bool      // the startup probe succeeded (or there is none)
	Ready     bool      // the readiness probe succeeded (or there is none)
	// Unhealthy, when set, says why the liveness or startup probe failed:
	// the container is killed and restarted per the restart policy.
	Unhealthy string
}

// probeCheck runs one check of a probe, bounded by ctx.
type probeCheck func(ctx context.Context) (probe.Result, string)

// probeGrid is the step of the probe clock: after its first check, a
// probe's checks are due on multiples of it, so that the checks of many
// containers run in a few bursts a second and the process sleeps in between
// (every wake-up of a Go process costs more than the check it runs: the
// runtime's sysmon thread polls for a millisecond after each). Probe
// periods are whole seconds, so a probe stays on the grid: its checks run
// exactly periodSeconds apart, but the second one, which comes up to a step
// early to join the grid.
const probeGrid = 500 * time.Millisecond

// prober runs the probes of the node's running containers. One scheduler
// goroutine keeps every probe's next check in a queue ordered by time and
// starts the checks that are due on goroutines of their own (a check blocks
// for up to its timeout); a probe is queued again once its check has been
// recorded, periodSeconds after the check was due (a fixed rate, like the
// kubelet's ticker; a check that overran its period is followed by the
// next one at the next step of the grid). Runs are started and stopped by sync.
type prober struct {
	log    *slog.Logger
	clock  func() time.Time
	client *http.Client // lifecycle hooks' httpGet
	exec   func(ctx context.Context, containerID string, cmd []string) (probe.Result, string)
	wake   func()
	grid   time.Duration // probeGrid; tests make it shorter

	mu       sync.Mutex
	runs     map[string]*probeRun // container ID → its current run's probes
	queue    probeQueue           // the probes waiting for their next check
	kick     chan struct{}        // the queue's head changed
	quit     chan struct{}        // closed by stop
	loop     sync.Once            // starts the scheduler
	quitOnce sync.Once
	wg       sync.WaitGroup
}

type probeRun struct {
	startedAt time.Time
	ctx       context.Context
	cancel    context.CancelFunc

	mu       sync.Mutex
	machines map[probe.Kind]*probe.Machine
	gated    []*probeTask // readiness and liveness, until the startup probe succeeds
}

// probeTask is one probe of one container run.
type probeTask struct {
	run   *probeRun
	m     *probe.Machine
	check probeCheck
	log   *slog.Logger
	due   time.Time
	index int // in the queue; -1 when not queued
}

func newProber(log *slog.Logger, clock func() time.Time, wake func(),
	exec func(ctx context.Context, containerID string, cmd []string) (probe.Result, string)) *prober {
	return &prober{log: log, clock: clock, wake: wake, exec: exec, client: probe.NewHTTPClient(), grid: probeGrid,
		runs: map[string]*probeRun{}, kick: make(chan struct{}, 1), quit: make(chan struct{})}
}

func hasProbes(c *corev1.Container) bool {
	return c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil
}

// sync starts the probes of every running container that has some and is
// not probed yet for its current run, and stops the probes of runs that
// ended.
func (p *prober) sync(ctx context.Context, pods []*corev1.Pod, containers []Container, podIPs map[string]string) {
	type want struct {
		pod  *corev1.Pod
		spec *corev1.Container
		c    Container
	}
	wanted := map[string]want{}
	byUID := map[string]*corev1.Pod{}
	for _, pod := range pods {
		byUID[string(pod.UID)] = pod
	}
	for _, c := range containers {
		pod := byUID[string(c.PodUID)]
		if pod == nil || pod.DeletionTimestamp != nil || c.Task != TaskRunning {
			continue
		}
		spec, err := specOf(pod, c.Name)
		if err != nil || !hasProbes(spec) || (c.Image != "" && c.Image != spec.Image) {
			continue
		}
		wanted[c.ID] = want{pod: pod, spec: spec, c: c}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for id, run := range p.runs {
		if w, ok := wanted[id]; !ok || !w.c.StartedAt.Equal(run.startedAt) {
			run.cancel() // its queued probes are dropped when they come up
			delete(p.runs, id)
		}
	}
	for id, w := range wanted {
		if _, ok := p.runs[id]; ok {
			continue
		}
		p.runs[id] = p.start(ctx, w.pod, w.spec, w.c, podIPs[string(w.pod.UID)])
	}
}

// start queues the probes of one container run. p.mu is held.
func (p *prober) start(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c Container, podIP string) *probeRun {
	run := &probeRun{startedAt: c.StartedAt, machines: map[probe.Kind]*probe.Machine{}}
	run.ctx, run.cancel = context.WithCancel(ctx)
	probes := []struct {
		kind probe.Kind
		pr   *corev1.Probe
	}{{probe.Startup, spec.StartupProbe}, {probe.Readiness, spec.ReadinessProbe}, {probe.Liveness, spec.LivenessProbe}}
	log := p.log.With("pod", pod.Namespace+"/"+pod.Name, "container", c.Name)
	checks := map[probe.Kind]probeCheck{}
	for _, pr := range probes {
		if pr.pr == nil {
			continue
		}
		run.machines[pr.kind] = probe.NewMachine(pr.kind, probe.SpecOf(pr.pr), c.StartedAt)
		checks[pr.kind] = p.check(pr.pr, spec, c.ID, podIP)
	}
	p.queueRun(run, checks, log)
	return run
}

// queueRun queues the probes of run (machines set, one check per machine):
// the startup probe if there is one, the other two at once otherwise.
// p.mu is held.
func (p *prober) queueRun(run *probeRun, checks map[probe.Kind]probeCheck, log *slog.Logger) {
	for _, kind := range []probe.Kind{probe.Startup, probe.Readiness, probe.Liveness} {
		m := run.machines[kind]
		if m == nil {
			continue
		}
		t := &probeTask{run: run, m: m, check: checks[kind], log: log.With("probe", string(kind)), index: -1}
		if kind != probe.Startup && run.machines[probe.Startup] != nil {
			run.gated = append(run.gated, t) // a startup probe gates the other two
			continue
		}
		p.push(t, m.Next(), true)
	}
	p.loop.Do(func() {
		p.wg.Add(1)
		go p.schedule()
	})
}

// push queues t's check for due. The first check of a probe (and the
// first after the startup probe let it run) is due when its machine says;
// the next ones are due on the probe grid, rounded down so that no check
// comes later than its period. A due time that has passed (a check that
// overran its period, a probe the startup probe held back) is now, or the
// next step of the grid. p.mu is held.
func (p *prober) push(t *probeTask, due time.Time, first bool) {
	if !first {
		due = due.Truncate(p.grid)
	}
	if now := p.clock(); due.Before(now) {
		due = now
		if g := now.Truncate(p.grid); !first && g.Before(now) {
			due = g.Add(p.grid)
		}
	}
	t.due = due
	heap.Push(&p.queue, t)
	if t.index == 0 {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// schedule is the scheduler goroutine: it starts every check that is due
// and sleeps until the next one, until stop.
func (p *prober) schedule() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*probeTask
	for {
		p.mu.Lock()
		now := p.clock()
		for len(p.queue) > 0 && !p.queue[0].due.After(now) {
			if t := heap.Pop(&p.queue).(*probeTask); t.run.ctx.Err() == nil {
				due = append(due, t)
			}
		}
		wait := time.Duration(-1)
		if len(p.queue) > 0 {
			wait = p.queue[0].due.Sub(now)
		}
		p.mu.Unlock()
		for i, t := range due {
			p.wg.Add(1)
			go p.run(t)
			due[i] = nil
		}
		due = due[:0]
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-p.quit:
			return
		case <-p.kick:
		case <-timer.C:
		}
	}
}

// run runs one check of t, records its outcome and queues t again unless
// its machine is done or its container run ended.
func (p *prober) run(t *probeTask) {
	defer p.wg.Done()
	run, m := t.run, t.m
	ctx, cancel := context.WithTimeout(run.ctx, m.Spec.Timeout)
	outcome, msg := t.check(ctx)
	cancel()
	if run.ctx.Err() != nil {
		return
	}
	run.mu.Lock()
	changed := m.Record(outcome, msg, t.due) // the check ran when it was due
	result, next := m.Result, m.Next()
	var ungated []*probeTask
	if changed && m.Kind == probe.Startup && result == probe.Success {
		ungated, run.gated = run.gated, nil
	}
	run.mu.Unlock()

	p.mu.Lock()
	if !next.IsZero() {
		p.push(t, next, false)
	}
	for _, g := range ungated {
		p.push(g, g.m.Next(), true)
	}
	p.mu.Unlock()
	if !changed {
		if outcome == probe.Failure {
			t.log.Debug("probe failed", "message", msg)
		}
		return
	}
	t.log.Info("probe result changed", "result", result.String(), "message", msg)
	p.wake()
}

// probeQueue is a min-heap of probe tasks by due time.
type probeQueue []*probeTask

func (q probeQueue) Len() int           { return len(q) }
func (q probeQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q probeQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *probeQueue) Push(x any) {
	t := x.(*probeTask)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *probeQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}

// check returns the function that runs one check of pr. What can be
// prepared once for the run (the port, the HTTP request) is.
func (p *prober) check(pr *corev1.Probe, spec *corev1.Container, containerID, podIP string) probeCheck {
	switch {
	case pr.Exec != nil:
		cmd := pr.Exec.Command
		return func(ctx context.Context) (probe.Result, string) { return p.exec(ctx, containerID, cmd) }
	case pr.HTTPGet != nil:
		target, err := probe.NewHTTPTarget(pr.HTTPGet, spec, podIP)
		if err != nil {
			return func(context.Context) (probe.Result, string) { return probe.Failure, err.Error() }
		}
		return target.Check
	case pr.TCPSocket != nil:
		s := pr.TCPSocket
		port, err := probe.ResolvePort(s.Port, spec)
		if err != nil {
			return func(context.Context) (probe.Result, string) { return probe.Failure, err.Error() }
		}
		host := s.Host
		if host == "" {
			host = podIP
		}
		return func(ctx context.Context) (probe.Result, string) { return probe.TCP(ctx, host, port) }
	case pr.GRPC != nil:
		g := pr.GRPC
		service := ""
		if g.Service != nil {
			service = *g.Service
		}
		return func(ctx context.Context) (probe.Result, string) {
			return probe.GRPC(ctx, podIP, int(g.Port), service)
		}
	}
	return func(context.Context) (probe.Result, string) {
		return probe.Unknown, "" // refused by validation: never reached
	}
}

// states snapshots the probe results of every probed container run.
func (p *prober) states() map[string]ProbeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]ProbeState, len(p.runs))
	for id, run := range p.runs {
		run.mu.Lock()
		st := ProbeState{StartedAt: run.startedAt, Started: true, Ready: true}
		if m := run.machines[probe.Startup]; m != nil {
			st.Started = m.Result == probe.Success
			if m.Result == probe.Failure {
				st.Unhealthy = "Startup probe failed: " + m.Message
			}
		}
		if m := run.machines[probe.Readiness]; m != nil {
			st.Ready = st.Started && m.Result == probe.Success
		}
		if m := run.machines[probe.Liveness]; m != nil && m.Result == probe.Failure {
			st.Unhealthy = "Liveness probe failed: " + m.Message
		}
		run.mu.Unlock()
		out[id] = st
	}
	return out
}

// stop ends the scheduler and every check and waits for them.
func (p *prober) stop() {
	p.mu.Lock()
	for id, run := range p.runs {
		run.cancel()
		delete(p.runs, id)
	}
	p.queue = nil
	p.mu.Unlock()
	p.loop.Do(func() {}) // no scheduler starts after this
	p.quitOnce.Do(func() { close(p.quit) })
	p.wg.Wait()
}

var execSeq atomic.Uint64

// execProbe runs cmd in the container's task (containerd task.Exec, with
// the container's user, environment and working directory). Exit code 0 is
// Success, any other Failure, and so is a command that does not finish
// within ctx's deadline (it is killed). A container or task that cannot be
// reached gives Unknown: the result is thrown away, as the kubelet does.
func (a *Agent) execProbe(ctx context.Context, containerID string, cmd []string) (probe.Result, string) {
	cont, err := a.cfg.Client.LoadContainer(ctx, containerID)
	if err != nil {
		return probe.Unknown, err.Error()
	}
	spec, err := cont.Spec(ctx)
	if err != nil || spec.Process == nil {
		return probe.Unknown, fmt.Sprintf("container %s: spec: %v", containerID, err)
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		return probe.Unknown, fmt.Sprintf("container %s: task: %v", containerID, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false
	out := &limitedBuffer{max: 10 << 10}
	execID := "probe-" + strconv.FormatUint(execSeq.Add(1), 10)
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return probe.Failure, fmt.Sprintf("exec %q: %v", strings.Join(cmd, " "), err)
	}
	// The process is deleted even when ctx timed out.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx, containerd.WithProcessKill)
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return probe.Unknown, fmt.Sprintf("exec %q: wait: %v", strings.Join(cmd, " "), err)
	}
	if err := proc.Start(ctx); err != nil {
		return probe.Failure, fmt.Sprintf("exec %q: %v", strings.Join(cmd, " "), err)
	}
	select {
	case st := <-exited:
		code, _, err := st.Result()
		if err != nil {
			return probe.Unknown, err.Error()
		}
		if code == 0 {
			return probe.Success, ""
		}
		return probe.Failure, fmt.Sprintf("command %q exited with %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(out.String()))
	case <-ctx.Done():
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = proc.Kill(kctx, syscall.SIGKILL)
		return probe.Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))
	}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
