package nodeagent

import (
	"strconv"
	"time"

	"github.com/tug-dev/tug/nodeagent/backoff"
	"k8s.io/apimachinery/pkg/types"
)

// Container labels. The first five identify the container; the rest carry
// what the agent must remember across its own restarts (restart count,
// back-off, the last termination), so that everything it reports can be
// rebuilt from containerd alone.
const (
	LabelPodUID       = "tug.dev/pod-uid"
	LabelPodNamespace = "tug.dev/pod-namespace"
	LabelPodName      = "tug.dev/pod-name"
	LabelContainer    = "tug.dev/container"
	LabelRestartCount = "tug.dev/restart-count"
	LabelNode         = "tug.dev/node" // the agent that owns the container

	labelImage          = "tug.dev/image"            // image reference from the pod spec
	labelImageID        = "tug.dev/image-id"         // image digest
	labelGrace          = "tug.dev/grace"            // termination grace period, Go duration
	labelStartedAt      = "tug.dev/started-at"       // when the current task was started
	labelBackoff        = "tug.dev/backoff"          // back-off delay, Go duration
	labelBackoffAt      = "tug.dev/backoff-at"       // when the back-off was last stepped
	labelLastExitCode   = "tug.dev/last-exit-code"   // previous task's exit code
	labelLastStartedAt  = "tug.dev/last-started-at"  // previous task's start
	labelLastFinishedAt = "tug.dev/last-finished-at" // previous task's exit
	labelProbeKilled    = "tug.dev/probe-killed"     // started-at of the run a failed liveness or startup probe killed
	labelOOMKilled      = "tug.dev/oom-killed"       // started-at of the run the kernel's OOM killer hit
	labelLastReason     = "tug.dev/last-reason"      // previous task's termination reason when not Completed/Error (OOMKilled)
)

// TaskState is the state of a container's task as containerd reports it.
type TaskState string

// Task states. TaskNone means the container has no task.
const (
	TaskNone    TaskState = ""
	TaskCreated TaskState = "created"
	TaskRunning TaskState = "running"
	TaskStopped TaskState = "stopped"
	TaskPaused  TaskState = "paused"
	TaskUnknown TaskState = "unknown"
)

// Termination is one finished run of a container.
type Termination struct {
	ExitCode   int32
	Reason     string // OOMKilled, or empty: Completed or Error by the exit code
	StartedAt  time.Time
	FinishedAt time.Time
}

// Container is one observed containerd container of a pod, with its task.
type Container struct {
	ID           string
	PodUID       types.UID
	PodNamespace string
	PodName      string
	Name         string
	Image        string
	ImageID      string
	RestartCount int
	Grace        time.Duration
	StartedAt    time.Time    // start of the current (or last) task
	Last         *Termination // the run before the current task
	Backoff      backoff.State
	ProbeKilled  bool // the current (or last) run was killed by a failed liveness or startup probe
	OOMKilled    bool // the kernel's OOM killer hit the current (or last) run

	Task     TaskState
	Pid      uint32
	ExitCode int32
	ExitedAt time.Time
}

// ContainerID is the deterministic containerd ID of container name of the
// pod with uid: a crash between create and start can never make a second
// one.
func ContainerID(uid types.UID, name string) string {
	return string(uid) + "-" + name
}

// containerFromLabels decodes the labels tug put on a container. ok is false
// for containers tug did not create.
func containerFromLabels(id string, l map[string]string) (Container, bool) {
	uid := l[LabelPodUID]
	name := l[LabelContainer]
	if uid == "" || name == "" {
		return Container{}, false
	}
	c := Container{
		ID:           id,
		PodUID:       types.UID(uid),
		PodNamespace: l[LabelPodNamespace],
		PodName:      l[LabelPodName],
		Name:         name,
		Image:        l[labelImage],
		ImageID:      l[labelImageID],
		StartedAt:    parseTime(l[labelStartedAt]),
	}
	if killed := parseTime(l[labelProbeKilled]); !killed.IsZero() && killed.Equal(c.StartedAt) {
		c.ProbeKilled = true
	}
	if oom := parseTime(l[labelOOMKilled]); !oom.IsZero() && oom.Equal(c.StartedAt) {
		c.OOMKilled = true
	}
	c.RestartCount, _ = strconv.Atoi(l[LabelRestartCount])
	c.Grace, _ = time.ParseDuration(l[labelGrace])
	c.Backoff.Delay, _ = time.ParseDuration(l[labelBackoff])
	c.Backoff.Last = parseTime(l[labelBackoffAt])
	if code, err := strconv.ParseInt(l[labelLastExitCode], 10, 32); err == nil {
		c.Last = &Termination{
			ExitCode:   int32(code),
			StartedAt:  parseTime(l[labelLastStartedAt]),
			FinishedAt: parseTime(l[labelLastFinishedAt]),
			Reason:     l[labelLastReason],
		}
	}
	return c, true
}

// restartLabels are the label changes that record the restart of c after
// its task exited: the exit becomes the last termination, the restart count
// and back-off step, and the new task's start time is now.
func restartLabels(c Container, b backoff.State, now time.Time) map[string]string {
	return map[string]string{
		LabelRestartCount:   strconv.Itoa(c.RestartCount + 1),
		labelStartedAt:      formatTime(now),
		labelBackoff:        b.Delay.String(),
		labelBackoffAt:      formatTime(b.Last),
		labelLastExitCode:   strconv.Itoa(int(c.ExitCode)),
		labelLastStartedAt:  formatTime(c.StartedAt),
		labelLastFinishedAt: formatTime(c.ExitedAt),
		labelLastReason:     terminationReason(c.OOMKilled),
	}
}

// terminationReason is the reason recorded for a run beside its exit code.
func terminationReason(oomKilled bool) string {
	if oomKilled {
		return "OOMKilled"
	}
	return ""
}

// exitRecorded reports whether c's labels already record its current exit
// (the agent crashed between recording a restart and starting the task).
func exitRecorded(c Container) bool {
	return c.Last != nil && !c.ExitedAt.IsZero() && c.Last.FinishedAt.Equal(c.ExitedAt)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
