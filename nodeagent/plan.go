package nodeagent

import (
	"slices"
	"time"

	"github.com/tug-dev/tug/nodeagent/backoff"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultGracePeriod is used when neither the deletion nor the pod spec
// gives one.
const DefaultGracePeriod = 30 * time.Second

// ActionKind names one step of a pod's plan.
type ActionKind string

// Action kinds, in the order a plan lists them.
const (
	// ActStopContainers signals the running tasks: SIGTERM, then SIGKILL
	// after Grace. All containers of the pod are stopped concurrently.
	ActStopContainers ActionKind = "StopContainers"
	// ActRemoveContainers deletes tasks, containers and their snapshots.
	ActRemoveContainers ActionKind = "RemoveContainers"
	// ActTeardownSandbox releases the pod's address (CNI DEL), removes its
	// network namespace and its directory (volumes, /etc files, logs).
	ActTeardownSandbox ActionKind = "TeardownSandbox"
	// ActDeletePod removes the pod object from the store (by UID).
	ActDeletePod ActionKind = "DeletePod"
	// ActSetupSandbox creates the network namespace, wires it with CNI and
	// writes the pod's /etc files and volumes.
	ActSetupSandbox ActionKind = "SetupSandbox"
	// ActSyncVolumes rewrites changed configMap and secret volume files.
	ActSyncVolumes ActionKind = "SyncVolumes"
	// ActStartContainer creates Container (when missing) and its task
	// (when missing), and starts the task.
	ActStartContainer ActionKind = "StartContainer"
	// ActRestartContainer records the exit at ExitedAt in the container's
	// labels (restart count, back-off, last state), deletes the exited task
	// and starts a new one with a new log file.
	ActRestartContainer ActionKind = "RestartContainer"
	// ActKillUnhealthy records in the container's labels that its current
	// run failed its liveness or startup probe, then stops its task
	// (SIGTERM, SIGKILL after Grace); the restart policy then applies, as
	// for any exit, except that OnFailure restarts it whatever its exit
	// code (as the kubelet does).
	ActKillUnhealthy ActionKind = "KillUnhealthy"
)

// Action is one step of a pod's plan.
type Action struct {
	Kind         ActionKind
	Container    string        // StartContainer, RestartContainer: container name
	ContainerIDs []string      // StopContainers, RemoveContainers
	Grace        time.Duration // StopContainers
	ExitedAt     time.Time     // RestartContainer: the exit being answered
	StartedAt    time.Time     // KillUnhealthy: the run to kill
	Message      string        // KillUnhealthy: the probe's failure
}

// Failure is the last failed attempt at a pod's actions, kept by the agent
// until an attempt succeeds.
type Failure struct {
	Container string // empty: the pod's sandbox or the pod as a whole
	Reason    string // e.g. CreateContainerConfigError, ErrImagePull
	Message   string
	At        time.Time
	Attempts  int
}

// retryDelay is how long after a failure the pod is tried again: 1 s,
// doubling per attempt, at most 30 s; for a failed image pull the
// kubelet's image back-off (10 s doubling to 5 min, see pullRetryDelay);
// 1 s while the image waits for an archive import.
func (f Failure) retryDelay() time.Duration {
	switch {
	case f.Reason == reasonErrImagePull:
		return pullRetryDelay(f.Attempts)
	case f.Reason == reasonWaitingForImport && f.Container != "":
		return importRetryDelay
	}
	d := time.Second
	for i := 1; i < f.Attempts && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Input is everything the planner looks at.
type Input struct {
	Pods       []*corev1.Pod         // pods bound to this node
	Containers []Container           // every tug container on the node
	Sandboxes  map[types.UID]string  // pods whose network is set up → pod IP
	Leftovers  []types.UID           // UIDs holding a netns, CNI state or a pod directory
	Failures   map[types.UID]Failure // last failure per pod
	Busy       map[types.UID]bool    // pods whose actions are still running
	Configs    bool                  // ConfigMaps or Secrets changed since the last pass
	Probes     map[string]ProbeState // probe results per container ID
	Now        time.Time
	Backoff    backoff.Policy
}

// PodPlan is what to do for one pod (or for the remains of one).
type PodPlan struct {
	UID          types.UID
	Pod          *corev1.Pod // nil for remains of a pod that is gone
	Actions      []Action
	RequeueAfter time.Duration // plan again after this long (0: no need)
}

// Plan decides, for every pod bound to the node and for the remains of
// every pod that is not, what to do next. It is pure.
func Plan(in Input) []PodPlan {
	byPod := map[types.UID][]Container{}
	for _, c := range in.Containers {
		byPod[c.PodUID] = append(byPod[c.PodUID], c)
	}
	desired := map[types.UID]bool{}
	var out []PodPlan
	for _, pod := range in.Pods {
		desired[pod.UID] = true
		if in.Busy[pod.UID] {
			continue
		}
		p := planPod(in, pod, byPod[pod.UID])
		if len(p.Actions) > 0 || p.RequeueAfter > 0 {
			out = append(out, p)
		}
	}

	// Remains of pods that are gone, or no longer bound here.
	remains := map[types.UID]bool{}
	for uid := range byPod {
		remains[uid] = true
	}
	for _, uid := range in.Leftovers {
		remains[uid] = true
	}
	for _, uid := range slices.Sorted(mapsKeys(remains)) {
		if desired[uid] || in.Busy[uid] {
			continue
		}
		cs := byPod[uid]
		grace := time.Duration(0)
		for _, c := range cs {
			g := c.Grace
			if g == 0 {
				g = DefaultGracePeriod
			}
			grace = max(grace, g)
		}
		p := PodPlan{UID: uid, Actions: teardown(cs, grace, true)}
		if f, ok := in.Failures[uid]; ok {
			if wait := f.At.Add(f.retryDelay()).Sub(in.Now); wait > 0 {
				p.Actions, p.RequeueAfter = nil, wait
			}
		}
		out = append(out, p)
	}
	return out
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// teardown lists the steps that remove everything of a pod.
func teardown(cs []Container, grace time.Duration, sandbox bool) []Action {
	var acts []Action
	var running, all []string
	for _, c := range cs {
		all = append(all, c.ID)
		if c.Task == TaskRunning || c.Task == TaskCreated || c.Task == TaskPaused || c.Task == TaskUnknown {
			running = append(running, c.ID)
		}
	}
	if len(running) > 0 {
		acts = append(acts, Action{Kind: ActStopContainers, ContainerIDs: running, Grace: grace})
	}
	if len(all) > 0 {
		acts = append(acts, Action{Kind: ActRemoveContainers, ContainerIDs: all})
	}
	if sandbox {
		acts = append(acts, Action{Kind: ActTeardownSandbox})
	}
	return acts
}

// GracePeriod is how long pod's containers get between SIGTERM and SIGKILL
// when the pod is deleted.
func GracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	return gracePeriodOf(pod)
}

// gracePeriodOf is the pod spec's termination grace period.
func gracePeriodOf(pod *corev1.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return DefaultGracePeriod
}

func planPod(in Input, pod *corev1.Pod, cs []Container) PodPlan {
	p := PodPlan{UID: pod.UID, Pod: pod}
	if pod.DeletionTimestamp != nil {
		p.Actions = append(teardown(cs, GracePeriod(pod), true), Action{Kind: ActDeletePod})
		return p
	}
	if f, ok := in.Failures[pod.UID]; ok && !in.Configs {
		if wait := f.At.Add(f.retryDelay()).Sub(in.Now); wait > 0 {
			p.RequeueAfter = wait
			return p
		}
	}

	// Containers the spec no longer has, or whose image the spec changed,
	// are replaced: stopped and removed first, then started afresh.
	inSpec := map[string]string{}
	for _, c := range pod.Spec.InitContainers {
		inSpec[c.Name] = c.Image
	}
	for _, c := range pod.Spec.Containers {
		inSpec[c.Name] = c.Image
	}
	byName := map[string]*Container{}
	var stale []Container
	for i := range cs {
		img, ok := inSpec[cs[i].Name]
		if !ok || (cs[i].Image != "" && cs[i].Image != img) {
			stale = append(stale, cs[i])
			continue
		}
		byName[cs[i].Name] = &cs[i]
	}
	if len(stale) > 0 {
		p.Actions = teardown(stale, gracePeriodOf(pod), false)
	}

	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	var starts []Action
	requeue := func(wait time.Duration) {
		if wait > 0 && (p.RequeueAfter == 0 || wait < p.RequeueAfter) {
			p.RequeueAfter = wait
		}
	}
	// Init containers run one at a time, in order; the containers start
	// once every init container has exited 0.
	initialized := true
	for _, spec := range pod.Spec.InitContainers {
		if terminal {
			break
		}
		obs := byName[spec.Name]
		d, done := decideInit(pod.Spec.RestartPolicy, obs, in.Now, in.Backoff)
		if done {
			continue
		}
		initialized = false
		switch {
		case d.start:
			starts = append(starts, Action{Kind: ActStartContainer, Container: spec.Name})
		case d.restart:
			starts = append(starts, Action{Kind: ActRestartContainer, Container: spec.Name, ExitedAt: obs.ExitedAt})
		default:
			requeue(d.wait)
		}
		break
	}
	for _, spec := range pod.Spec.Containers {
		if terminal || !initialized {
			break // a finished pod never runs again
		}
		obs := byName[spec.Name]
		if obs != nil && obs.Task == TaskRunning {
			if ps, ok := in.Probes[obs.ID]; ok && ps.Unhealthy != "" && ps.StartedAt.Equal(obs.StartedAt) {
				p.Actions = append(p.Actions, Action{Kind: ActKillUnhealthy, Container: spec.Name, ContainerIDs: []string{obs.ID},
					Grace: gracePeriodOf(pod), StartedAt: obs.StartedAt, Message: ps.Unhealthy})
			}
			continue
		}
		d := decide(pod, obs, in.Now, in.Backoff)
		switch {
		case d.start:
			starts = append(starts, Action{Kind: ActStartContainer, Container: spec.Name})
		case d.restart:
			starts = append(starts, Action{Kind: ActRestartContainer, Container: spec.Name, ExitedAt: byName[spec.Name].ExitedAt})
		case d.wait > 0:
			requeue(d.wait)
		}
	}
	_, hasSandbox := in.Sandboxes[pod.UID]
	if len(starts) > 0 && !hasSandbox {
		p.Actions = append(p.Actions, Action{Kind: ActSetupSandbox})
	} else if hasSandbox && in.Configs && hasProjectedVolumes(pod) {
		p.Actions = append(p.Actions, Action{Kind: ActSyncVolumes})
	}
	p.Actions = append(p.Actions, starts...)
	return p
}

func hasProjectedVolumes(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil {
			return true
		}
	}
	return false
}

// decision is what to do with one container right now.
type decision struct {
	start   bool          // create and/or start it
	restart bool          // its task exited and the policy restarts it now
	wait    time.Duration // its restart is backing off for this long
}

// decide applies the restart policy and the back-off to one container
// (obs nil: not created yet).
func decide(pod *corev1.Pod, obs *Container, now time.Time, bp backoff.Policy) decision {
	if obs == nil {
		return decision{start: true}
	}
	switch obs.Task {
	case TaskNone, TaskCreated:
		return decision{start: true}
	case TaskStopped:
		if !restarts(pod.Spec.RestartPolicy, obs.ExitCode) &&
			!(obs.ProbeKilled && pod.Spec.RestartPolicy != corev1.RestartPolicyNever) {
			return decision{}
		}
		if exitRecorded(*obs) {
			return decision{restart: true} // already accounted for: finish it
		}
		if wait := bp.Wait(obs.Backoff, obs.ExitedAt, now); wait > 0 {
			return decision{wait: wait}
		}
		return decision{restart: true}
	}
	return decision{}
}

// decideInit applies the init-container rules to one init container (obs
// nil: not created yet): done once it exited 0; a failure is restarted with
// back-off unless the policy is Never (Always counts as OnFailure).
func decideInit(policy corev1.RestartPolicy, obs *Container, now time.Time, bp backoff.Policy) (decision, bool) {
	if obs == nil {
		return decision{start: true}, false
	}
	switch obs.Task {
	case TaskNone, TaskCreated:
		return decision{start: true}, false
	case TaskStopped:
		if obs.ExitCode == 0 {
			return decision{}, true
		}
		if policy == corev1.RestartPolicyNever {
			return decision{}, false
		}
		if exitRecorded(*obs) {
			return decision{restart: true}, false
		}
		if wait := bp.Wait(obs.Backoff, obs.ExitedAt, now); wait > 0 {
			return decision{wait: wait}, false
		}
		return decision{restart: true}, false
	}
	return decision{}, false
}

// restarts reports whether policy restarts a container that exited with
// code.
func restarts(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	default: // Always, and the API default when unset
		return true
	}
}
