package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"
	"github.com/tug-dev/tug/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
)

// postStartTimeout bounds a postStart hook. The kubelet sets none, but a
// hook that never returns would keep the pod busy (not even deletable).
const postStartTimeout = 2 * time.Minute

// minStopGrace is what SIGTERM still gets when a preStop hook used up the
// whole grace period (the kubelet's minimumGracePeriodInSeconds).
const minStopGrace = 2 * time.Second

// hookKind names a lifecycle hook in messages.
type hookKind string

const (
	hookPostStart hookKind = "PostStart"
	hookPreStop   hookKind = "PreStop"
)

// runHook runs a lifecycle handler of container spec (id: its containerd
// ID): exec in the container, or httpGet to the pod IP from the agent's
// network namespace (a 2xx or 3xx answer is success, as for probes). It
// returns nil on success.
func (a *Agent) runHook(ctx context.Context, kind hookKind, id string, spec *corev1.Container, h *corev1.LifecycleHandler, podIP string) error {
	var res probe.Result
	var msg string
	switch {
	case h.Exec != nil:
		res, msg = a.execProbe(ctx, id, h.Exec.Command)
	case h.HTTPGet != nil:
		req, err := probe.HTTPRequest(ctx, h.HTTPGet, spec, podIP)
		if err != nil {
			return fmt.Errorf("%s hook of container %q: %w", kind, spec.Name, err)
		}
		res, msg = probe.HTTP(a.probes.client, req)
	default:
		return fmt.Errorf("%s hook of container %q: no exec or httpGet handler", kind, spec.Name) // refused by validation
	}
	if res == probe.Success {
		return nil
	}
	if msg == "" {
		msg = "failed"
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !strings.Contains(msg, "timed out") {
		msg += " (timed out)"
	}
	return fmt.Errorf("%s hook of container %q: %s", kind, spec.Name, msg)
}

// postStart runs the postStart hook of container name of pod, if any,
// right after its task started. When the hook fails the container is
// stopped (preStop, then its stop signal and SIGKILL after the grace
// period) and the error is a PostStartHookError; the restart policy then
// applies to the exit, as in the kubelet.
func (a *Agent) postStart(ctx context.Context, pod *corev1.Pod, spec *corev1.Container) error {
	if spec.Lifecycle == nil || spec.Lifecycle.PostStart == nil {
		return nil
	}
	id := ContainerID(pod.UID, spec.Name)
	ip, _ := a.sandboxIP(pod)
	a.mu.Lock()
	a.hooks[id] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.hooks, id)
		a.mu.Unlock()
	}()
	hctx, cancel := context.WithTimeout(ctx, postStartTimeout)
	err := a.runHook(hctx, hookPostStart, id, spec, spec.Lifecycle.PostStart, ip)
	cancel()
	if err == nil {
		return nil
	}
	a.log.Info("postStart hook failed; stopping the container", "pod", pod.Namespace+"/"+pod.Name,
		"container", spec.Name, "error", err)
	if serr := a.stopContainer(ctx, pod, id, gracePeriodOf(pod)); serr != nil {
		err = errors.Join(err, serr)
	}
	return &actionError{container: spec.Name, reason: "PostStartHookError", err: err}
}

// preStop runs the preStop hook of the container id of pod (nil: the pod
// is gone, so no hook is known) within grace, and returns what is left of
// grace for the stop signal: at least minStopGrace when the hook used it
// up. A failed hook is logged and the stop goes on, as in the kubelet.
func (a *Agent) preStop(ctx context.Context, pod *corev1.Pod, id string, grace time.Duration) time.Duration {
	if pod == nil || grace <= 0 {
		return grace
	}
	name, ok := strings.CutPrefix(id, string(pod.UID)+"-")
	if !ok {
		return grace
	}
	spec, err := specOf(pod, name)
	if err != nil || spec.Lifecycle == nil || spec.Lifecycle.PreStop == nil {
		return grace
	}
	start := time.Now()
	ip, _ := a.sandboxIP(pod)
	hctx, cancel := context.WithTimeout(ctx, grace)
	err = a.runHook(hctx, hookPreStop, id, spec, spec.Lifecycle.PreStop, ip)
	cancel()
	if err != nil {
		a.log.Info("preStop hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", name, "error", err)
	}
	return remainingGrace(grace, time.Since(start))
}

// remainingGrace is the grace left for the stop signal after a preStop
// hook took used of it.
func remainingGrace(grace, used time.Duration) time.Duration {
	return max(grace-used, minStopGrace)
}

// recordExit puts a task exit event into the task cache: the exit of a
// container's init process (an exec's exit names the exec).
func (a *Agent) recordExit(env *events.Envelope) {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		a.log.Warn("undecodable task exit event", "err", err)
		return
	}
	ev, ok := v.(*apievents.TaskExit)
	if !ok || (ev.ID != "" && ev.ID != ev.ContainerID) {
		return
	}
	var at time.Time
	if ev.ExitedAt != nil {
		at = ev.ExitedAt.AsTime()
	}
	a.tasks.exited(ev.ContainerID, ev.Pid, ev.ExitStatus, at)
}

// recordOOM records on the container of an OOM event that the kernel's
// OOM killer hit its current run (the tug.dev/oom-killed label holds that
// run's start), so that its termination is reported OOMKilled. An OOM while
// the agent is down is not seen: that exit is reported Error (137).
func (a *Agent) recordOOM(ctx context.Context, env *events.Envelope) {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		a.log.Warn("undecodable OOM event", "err", err)
		return
	}
	ev, ok := v.(*apievents.TaskOOM)
	if !ok {
		return
	}
	cont, err := a.cfg.Client.LoadContainer(ctx, ev.ContainerID)
	if err != nil {
		return // not ours, or gone
	}
	labels, err := cont.Labels(ctx)
	if err != nil || labels[LabelNode] != a.cfg.NodeName || labels[LabelPodUID] == "" {
		return
	}
	if _, err := cont.SetLabels(ctx, map[string]string{labelOOMKilled: labels[labelStartedAt]}); err != nil {
		a.log.Warn("record OOM kill", "container", ev.ContainerID, "err", err)
		return
	}
	a.log.Info("container hit its memory limit (OOM killed)", "container", ev.ContainerID)
}
