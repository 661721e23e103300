package printers

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string"),
		column("Status", "string"),
		column("Restarts", "string"),
		column("Age", "string"),
		wide("IP"),
		wide("Node"),
	}
}

func podRow(obj manifest.Object, now time.Time) ([]any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("not a pod: %T", obj)
	}
	s := SummarizePod(pod, now)
	ip := ""
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	if ip == "" {
		ip = pod.Status.PodIP
	}
	return []any{pod.Name, s.Ready, s.Status, s.Restarts, age(pod.CreationTimestamp, now), orNone(ip), orNone(pod.Spec.NodeName)}, nil
}

// PodSummary is what kubectl shows about a pod in its READY, STATUS and
// RESTARTS columns.
type PodSummary struct {
	Ready    string // "1/2": ready containers of all (sidecars included)
	Status   string // phase, or a more telling reason: CrashLoopBackOff, Init:0/1, Terminating, ...
	Restarts string // "3", or "3 (2m ago)" when the last restart time is known
}

// SummarizePod computes the READY, STATUS and RESTARTS cells of pod as
// kubectl does.
//
// STATUS starts as the phase (or status.reason when set). While init
// containers have not all finished it is "Init:<reason>" or "Init:i/n".
// After that, a container that is waiting or terminated overrides it with
// its reason (ContainerCreating, CrashLoopBackOff, Error, ...), or with
// ExitCode:N / Signal:N when the runtime gave no reason. A pod being deleted
// shows Terminating (or Unknown when its node was lost).
func SummarizePod(pod *corev1.Pod, now time.Time) PodSummary {
	total := len(pod.Spec.Containers)
	ready := 0
	restarts := 0
	var lastRestart time.Time

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}

	sidecar := map[string]bool{} // init containers that keep running (restartPolicy Always)
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecar[c.Name] = true
			total++
		}
	}

	// Init containers run first, in order; the first one not done explains
	// the status.
	sidecarRestarts := 0
	var sidecarLastRestart time.Time
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		lastRestart = later(lastRestart, lastTermination(cs))
		if sidecar[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			sidecarLastRestart = later(sidecarLastRestart, lastTermination(cs))
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue // finished
		}
		if sidecar[cs.Name] && cs.Started != nil && *cs.Started {
			if cs.Ready {
				ready++
			}
			continue // a started sidecar does not hold up the others
		}
		initializing = true
		switch t, w := cs.State.Terminated, cs.State.Waiting; {
		case t != nil && t.Reason != "":
			reason = "Init:" + t.Reason
		case t != nil && t.Signal != 0:
			reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
		case t != nil:
			reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			reason = "Init:" + w.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		break
	}

	if !initializing || podCondition(pod, corev1.PodInitialized) {
		// Count only sidecars among init containers, then the app containers.
		restarts, lastRestart = sidecarRestarts, sidecarLastRestart
		running := false
		// kubectl walks the statuses backwards, so the first container
		// with something to say wins.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			lastRestart = later(lastRestart, lastTermination(cs))
			switch w, t := cs.State.Waiting, cs.State.Terminated; {
			case w != nil && w.Reason != "":
				reason = w.Reason
			case t != nil && t.Reason != "":
				reason = t.Reason
			case t != nil && t.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", t.Signal)
			case t != nil:
				reason = fmt.Sprintf("ExitCode:%d", t.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				running = true
				ready++
			}
		}
		if reason == "Completed" && running {
			// One container finished but another still runs.
			if podCondition(pod, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == "NodeLost":
			reason = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			reason = "Terminating"
		}
	}

	r := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		r = fmt.Sprintf("%d (%s ago)", restarts, Age(lastRestart, now))
	}
	return PodSummary{Ready: fmt.Sprintf("%d/%d", ready, total), Status: reason, Restarts: r}
}

func lastTermination(cs corev1.ContainerStatus) time.Time {
	if t := cs.LastTerminationState.Terminated; t != nil {
		return t.FinishedAt.Time
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func podCondition(pod *corev1.Pod, typ corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
