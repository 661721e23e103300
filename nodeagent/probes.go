package nodeagent

import (
	"bytes"
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

// prober runs the probes of the node's running containers: one goroutine
// per probe per container run, started and stopped by sync.
type prober struct {
	log    *slog.Logger
	clock  func() time.Time
	client *http.Client
	exec   func(ctx context.Context, containerID string, cmd []string) (probe.Result, string)
	wake   func()

	mu   sync.Mutex
	runs map[string]*probeRun // container ID → its current run's probes
	wg   sync.WaitGroup
}

type probeRun struct {
	startedAt   time.Time
	cancel      context.CancelFunc
	startupDone chan struct{} // closed when the startup probe succeeds

	mu       sync.Mutex
	machines map[probe.Kind]*probe.Machine
}

func newProber(log *slog.Logger, clock func() time.Time, wake func(),
	exec func(ctx context.Context, containerID string, cmd []string) (probe.Result, string)) *prober {
	return &prober{log: log, clock: clock, wake: wake, exec: exec, client: probe.NewHTTPClient(), runs: map[string]*probeRun{}}
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
			run.cancel()
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

// start launches the probe goroutines of one container run.
func (p *prober) start(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c Container, podIP string) *probeRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &probeRun{startedAt: c.StartedAt, cancel: cancel, startupDone: make(chan struct{}), machines: map[probe.Kind]*probe.Machine{}}
	probes := []struct {
		kind probe.Kind
		pr   *corev1.Probe
	}{{probe.Startup, spec.StartupProbe}, {probe.Readiness, spec.ReadinessProbe}, {probe.Liveness, spec.LivenessProbe}}
	if spec.StartupProbe == nil {
		close(run.startupDone)
	}
	log := p.log.With("pod", pod.Namespace+"/"+pod.Name, "container", c.Name)
	for _, pr := range probes {
		if pr.pr == nil {
			continue
		}
		m := probe.NewMachine(pr.kind, probe.SpecOf(pr.pr), c.StartedAt)
		run.machines[pr.kind] = m
		check := p.check(pr.pr, spec, c.ID, podIP)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.work(ctx, run, m, check, log.With("probe", string(pr.kind)))
		}()
	}
	return run
}

// check returns the function that runs one check of pr.
func (p *prober) check(pr *corev1.Probe, spec *corev1.Container, containerID, podIP string) probeCheck {
	switch {
	case pr.Exec != nil:
		cmd := pr.Exec.Command
		return func(ctx context.Context) (probe.Result, string) { return p.exec(ctx, containerID, cmd) }
	case pr.HTTPGet != nil:
		g := pr.HTTPGet
		return func(ctx context.Context) (probe.Result, string) {
			req, err := probe.HTTPRequest(ctx, g, spec, podIP)
			if err != nil {
				return probe.Failure, err.Error()
			}
			return probe.HTTP(p.client, req)
		}
	case pr.TCPSocket != nil:
		s := pr.TCPSocket
		return func(ctx context.Context) (probe.Result, string) {
			port, err := probe.ResolvePort(s.Port, spec)
			if err != nil {
				return probe.Failure, err.Error()
			}
			host := s.Host
			if host == "" {
				host = podIP
			}
			return probe.TCP(ctx, host, port)
		}
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

// work runs one probe of one container run until ctx ends or the probe
// needs no more checks.
func (p *prober) work(ctx context.Context, run *probeRun, m *probe.Machine, check probeCheck, log *slog.Logger) {
	if m.Kind != probe.Startup {
		select { // a startup probe gates the other two
		case <-run.startupDone:
		case <-ctx.Done():
			return
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		run.mu.Lock()
		next := m.Next()
		timeout := m.Spec.Timeout
		run.mu.Unlock()
		if next.IsZero() {
			return
		}
		timer.Reset(max(next.Sub(p.clock()), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		outcome, msg := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		run.mu.Lock()
		changed := m.Record(outcome, msg, p.clock())
		result := m.Result
		run.mu.Unlock()
		if !changed {
			if outcome == probe.Failure {
				log.Debug("probe failed", "message", msg)
			}
			continue
		}
		log.Info("probe result changed", "result", result.String(), "message", msg)
		if m.Kind == probe.Startup && result == probe.Success {
			close(run.startupDone)
		}
		p.wake()
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

// stop ends every probe goroutine and waits for them.
func (p *prober) stop() {
	p.mu.Lock()
	for id, run := range p.runs {
		run.cancel()
		delete(p.runs, id)
	}
	p.mu.Unlock()
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
