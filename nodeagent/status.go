package nodeagent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tug-dev/tug/nodeagent/backoff"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatusInput is what a pod's status is computed from.
type StatusInput struct {
	Pod        *corev1.Pod
	Containers []Container // the pod's observed containers
	PodIP      string      // empty until the network is set up
	HostIP     string
	Failure    *Failure
	Probes     map[string]ProbeState // probe results per container ID
	PostStart  map[string]bool       // container IDs whose postStart hook runs
	Now        time.Time
	Backoff    backoff.Policy
}

// PodStatus computes the status the agent reports for a pod. It is pure.
// Times are truncated to seconds (what the API serialises), and conditions
// keep their transition time while their status holds, so recomputing an
// unchanged pod yields an equal status and no write.
func PodStatus(in StatusInput) corev1.PodStatus {
	pod := in.Pod
	now := in.Now.Truncate(time.Second)
	cur := pod.Status
	st := corev1.PodStatus{
		HostIP:    in.HostIP,
		StartTime: cur.StartTime,
		QOSClass:  QOSClass(pod),
	}
	if in.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: in.HostIP}}
	}
	if st.StartTime == nil {
		st.StartTime = timePtr(now)
	}
	if in.PodIP != "" {
		st.PodIP = in.PodIP
		st.PodIPs = []corev1.PodIP{{IP: in.PodIP}}
	}

	byName := map[string]*Container{}
	for i := range in.Containers {
		byName[in.Containers[i].Name] = &in.Containers[i]
	}
	for _, spec := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c := byName[spec.Name]; c != nil && c.Image != "" && c.Image != spec.Image {
			delete(byName, spec.Name) // being replaced
		}
	}
	// Init containers: done once exited 0, in order.
	var incomplete []string
	initFailed := false
	for _, spec := range pod.Spec.InitContainers {
		cs := initContainerStatus(in, spec, byName[spec.Name])
		if !cs.Ready {
			incomplete = append(incomplete, spec.Name)
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			initFailed = true
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	initialized := len(incomplete) == 0
	var unready []string
	for _, spec := range pod.Spec.Containers {
		var cs corev1.ContainerStatus
		if initialized || byName[spec.Name] != nil {
			cs = containerStatus(in, spec, byName[spec.Name])
		} else {
			cs = corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(bool),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
		}
		if !cs.Ready {
			unready = append(unready, spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case initialized:
		st.Phase = phase(pod.Spec.RestartPolicy, st.ContainerStatuses)
	case initFailed && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		st.Phase = corev1.PodFailed // an init container failed for good
	default:
		st.Phase = corev1.PodPending
	}
	if cur.Phase == corev1.PodSucceeded || cur.Phase == corev1.PodFailed {
		st.Phase = cur.Phase // terminal phases never change
	}

	ready := corev1.ConditionTrue
	reason, message := "", ""
	if len(unready) > 0 {
		ready = corev1.ConditionFalse
		reason = "ContainersNotReady"
		message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		reason = "PodCompleted"
		message = ""
	}
	for _, c := range cur.Conditions {
		if c.Type == corev1.PodScheduled {
			st.Conditions = append(st.Conditions, c) // the scheduler's
		}
	}
	st.Conditions = append(st.Conditions,
		initCondition(cur, incomplete, st.Phase, now),
		condition(cur, corev1.ContainersReady, ready, reason, message, now),
		condition(cur, corev1.PodReady, ready, reason, message, now),
	)
	return st
}

// initCondition is the Initialized condition: False, naming the init
// containers that have not exited 0 yet, until they all have.
func initCondition(cur corev1.PodStatus, incomplete []string, ph corev1.PodPhase, now time.Time) corev1.PodCondition {
	if len(incomplete) == 0 {
		return condition(cur, corev1.PodInitialized, corev1.ConditionTrue, "", "", now)
	}
	reason := "ContainersNotInitialized"
	if ph == corev1.PodFailed || ph == corev1.PodSucceeded {
		reason = "PodCompleted"
	}
	return condition(cur, corev1.PodInitialized, corev1.ConditionFalse, reason,
		fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")), now)
}

// initContainerStatus is the status of an init container: ready once it
// exited 0; a failure waits in CrashLoopBackOff per the back-off unless the
// restart policy is Never.
func initContainerStatus(in StatusInput, spec corev1.Container, obs *Container) corev1.ContainerStatus {
	if obs == nil || obs.Task != TaskStopped {
		cs := containerStatus(in, spec, obs)
		cs.Ready = false // running is not done
		return cs
	}
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(bool),
		ContainerID: "containerd://" + obs.ID, ImageID: obs.ImageID, RestartCount: int32(obs.RestartCount)}
	if obs.Last != nil {
		cs.LastTerminationState.Terminated = terminated(obs.ID, *obs.Last)
	}
	exit := terminated(obs.ID, Termination{ExitCode: obs.ExitCode, StartedAt: obs.StartedAt, FinishedAt: obs.ExitedAt,
		Reason: terminationReason(obs.OOMKilled)})
	failed := in.Failure != nil && in.Failure.Container == spec.Name
	d, done := decideInit(in.Pod.Spec.RestartPolicy, obs, in.Now, in.Backoff)
	switch {
	case done:
		cs.State.Terminated = exit
		cs.Ready = true
	case failed:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: in.Failure.Reason, Message: in.Failure.Message}
		cs.LastTerminationState.Terminated = exit
	case d.wait > 0:
		cs.State.Waiting = &corev1.ContainerStateWaiting{
			Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				obs.Backoff.Delay, spec.Name, in.Pod.Name, in.Pod.Namespace, in.Pod.UID),
		}
		cs.LastTerminationState.Terminated = exit
	default:
		cs.State.Terminated = exit
	}
	return cs
}

func condition(cur corev1.PodStatus, typ corev1.PodConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) corev1.PodCondition {
	c := corev1.PodCondition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)}
	for _, old := range cur.Conditions {
		if old.Type == typ && old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	return c
}

func containerStatus(in StatusInput, spec corev1.Container, obs *Container) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(bool)}
	failed := in.Failure != nil && (in.Failure.Container == spec.Name || in.Failure.Container == "")
	waitingForFailure := func() *corev1.ContainerStateWaiting {
		if in.Failure.Container == "" {
			return &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: in.Failure.Message}
		}
		return &corev1.ContainerStateWaiting{Reason: in.Failure.Reason, Message: in.Failure.Message}
	}
	if obs == nil {
		if failed {
			cs.State.Waiting = waitingForFailure()
		} else {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		return cs
	}
	cs.ContainerID = "containerd://" + obs.ID
	cs.ImageID = obs.ImageID
	cs.RestartCount = int32(obs.RestartCount)
	if obs.Last != nil {
		cs.LastTerminationState.Terminated = terminated(obs.ID, *obs.Last)
	}
	switch obs.Task {
	case TaskRunning:
		if in.PostStart[obs.ID] {
			// Not running until its postStart hook returns, as in the kubelet.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			break
		}
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(obs.StartedAt.Truncate(time.Second))}
		// Without results for this run yet, a container with a startup
		// probe is not started and one with a readiness probe not ready.
		ps, ok := in.Probes[obs.ID]
		if !ok || !ps.StartedAt.Equal(obs.StartedAt) {
			ps = ProbeState{}
		}
		*cs.Started = spec.StartupProbe == nil || ps.Started
		cs.Ready = *cs.Started && (spec.ReadinessProbe == nil || ps.Ready)
	case TaskStopped:
		exit := Termination{ExitCode: obs.ExitCode, StartedAt: obs.StartedAt, FinishedAt: obs.ExitedAt,
			Reason: terminationReason(obs.OOMKilled)}
		d := decide(in.Pod, obs, in.Now, in.Backoff)
		switch {
		case failed:
			cs.State.Waiting = waitingForFailure()
			cs.LastTerminationState.Terminated = terminated(obs.ID, exit)
		case d.wait > 0:
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
					obs.Backoff.Delay, spec.Name, in.Pod.Name, in.Pod.Namespace, in.Pod.UID),
			}
			cs.LastTerminationState.Terminated = terminated(obs.ID, exit)
		default:
			cs.State.Terminated = terminated(obs.ID, exit)
		}
	case TaskPaused, TaskUnknown:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerStatusUnknown", Message: "task is " + string(obs.Task)}
	default: // created, or no task yet
		if failed {
			cs.State.Waiting = waitingForFailure()
		} else {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
	}
	return cs
}

func terminated(id string, t Termination) *corev1.ContainerStateTerminated {
	reason := "Completed"
	switch {
	case t.Reason != "":
		reason = t.Reason
	case t.ExitCode != 0:
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    t.ExitCode,
		Reason:      reason,
		StartedAt:   metav1.NewTime(t.StartedAt.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(t.FinishedAt.Truncate(time.Second)),
		ContainerID: "containerd://" + id,
	}
}

// phase follows the kubelet's getPhase for pods without init containers.
func phase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var waiting, running, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if policy == corev1.RestartPolicyAlways || policy == "" {
			return corev1.PodRunning // restarting
		}
		if stopped == succeeded && !slices.ContainsFunc(statuses, func(cs corev1.ContainerStatus) bool { return cs.State.Terminated == nil }) {
			return corev1.PodSucceeded
		}
		if policy == corev1.RestartPolicyNever && !slices.ContainsFunc(statuses, func(cs corev1.ContainerStatus) bool { return cs.State.Terminated == nil }) {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

func timePtr(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
