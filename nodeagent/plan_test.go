package nodeagent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tug-dev/tug/nodeagent/backoff"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func testPod(uid types.UID, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + string(uid), Namespace: "default", UID: uid},
		Spec: corev1.PodSpec{
			NodeName:   "n1",
			Containers: []corev1.Container{{Name: "app", Image: "tug.local/hello:v1"}, {Name: "side", Image: "tug.local/hello:v1"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withPolicy(rp corev1.RestartPolicy) podOpt {
	return func(p *corev1.Pod) { p.Spec.RestartPolicy = rp }
}
func oneContainer(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }
func deleting(grace int64) podOpt {
	return func(p *corev1.Pod) {
		ts := metav1.NewTime(t0)
		p.DeletionTimestamp = &ts
		p.DeletionGracePeriodSeconds = &grace
	}
}

func withInits(p *corev1.Pod) {
	p.Spec.InitContainers = []corev1.Container{{Name: "init1", Image: "tug.local/hello:v1"}, {Name: "init2", Image: "tug.local/hello:v1"}}
}

func withLiveness(p *corev1.Pod) {
	p.Spec.Containers = p.Spec.Containers[:1]
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
}

func probeKilled(c Container) Container {
	c.ProbeKilled = true
	return c
}

func running(uid types.UID, name string) Container {
	return Container{ID: ContainerID(uid, name), PodUID: uid, Name: name, Task: TaskRunning, StartedAt: t0.Add(-time.Hour)}
}

func exited(uid types.UID, name string, code int32, at time.Time) Container {
	c := running(uid, name)
	c.Task, c.ExitCode, c.ExitedAt = TaskStopped, code, at
	return c
}

func TestPlan(t *testing.T) {
	now := t0
	sb := func(uids ...types.UID) map[types.UID]string {
		m := map[types.UID]string{}
		for _, u := range uids {
			m[u] = "10.42.0.9"
		}
		return m
	}
	inBackoff := exited("a", "app", 1, now.Add(-2*time.Second))
	inBackoff.RestartCount = 1
	inBackoff.Backoff = backoff.State{Delay: 10 * time.Second, Last: now.Add(-5 * time.Second)}
	recorded := inBackoff
	recorded.Last = &Termination{ExitCode: 1, FinishedAt: inBackoff.ExitedAt}
	orphan := running("gone", "app")
	orphan.Grace = 5 * time.Second
	configPod := testPod("a", oneContainer, func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}
	})

	tests := []struct {
		name string
		in   Input
		want []PodPlan
	}{
		{
			name: "new pod: sandbox, then every container",
			in:   Input{Pods: []*corev1.Pod{testPod("a")}},
			want: []PodPlan{{UID: "a", Actions: []Action{
				{Kind: ActSetupSandbox},
				{Kind: ActStartContainer, Container: "app"},
				{Kind: ActStartContainer, Container: "side"},
			}}},
		},
		{
			name: "all running: nothing to do",
			in:   Input{Pods: []*corev1.Pod{testPod("a")}, Containers: []Container{running("a", "app"), running("a", "side")}, Sandboxes: sb("a"), Leftovers: []types.UID{"a"}},
		},
		{
			name: "adoption: container without task, and a task created but not started",
			in: Input{Pods: []*corev1.Pod{testPod("a")}, Sandboxes: sb("a"), Containers: []Container{
				{ID: "a-app", PodUID: "a", Name: "app", Task: TaskNone},
				{ID: "a-side", PodUID: "a", Name: "side", Task: TaskCreated},
			}},
			want: []PodPlan{{UID: "a", Actions: []Action{
				{Kind: ActStartContainer, Container: "app"},
				{Kind: ActStartContainer, Container: "side"},
			}}},
		},
		{
			name: "first exit restarts at once (Always)",
			in:   Input{Pods: []*corev1.Pod{testPod("a", oneContainer)}, Sandboxes: sb("a"), Containers: []Container{exited("a", "app", 0, now.Add(-time.Second))}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActRestartContainer, Container: "app", ExitedAt: now.Add(-time.Second)}}}},
		},
		{
			name: "backing off: requeue when the delay ends",
			in:   Input{Pods: []*corev1.Pod{testPod("a", oneContainer)}, Sandboxes: sb("a"), Containers: []Container{inBackoff}},
			want: []PodPlan{{UID: "a", RequeueAfter: 8 * time.Second}},
		},
		{
			name: "an exit already recorded is finished at once",
			in:   Input{Pods: []*corev1.Pod{testPod("a", oneContainer)}, Sandboxes: sb("a"), Containers: []Container{recorded}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActRestartContainer, Container: "app", ExitedAt: recorded.ExitedAt}}}},
		},
		{
			name: "OnFailure: success stays, failure restarts",
			in: Input{Pods: []*corev1.Pod{testPod("a", withPolicy(corev1.RestartPolicyOnFailure))}, Sandboxes: sb("a"), Containers: []Container{
				exited("a", "app", 0, now), exited("a", "side", 2, now),
			}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActRestartContainer, Container: "side", ExitedAt: now}}}},
		},
		{
			name: "Never: nothing restarts",
			in: Input{Pods: []*corev1.Pod{testPod("a", withPolicy(corev1.RestartPolicyNever))}, Sandboxes: sb("a"), Containers: []Container{
				exited("a", "app", 0, now), exited("a", "side", 2, now),
			}},
		},
		{
			name: "terminal pod never starts again",
			in: Input{Pods: []*corev1.Pod{testPod("a", withPolicy(corev1.RestartPolicyNever), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
				Containers: []Container{exited("a", "app", 0, now)}},
		},
		{
			name: "deleting: stop with the deletion's grace, remove, tear down, delete",
			in: Input{Pods: []*corev1.Pod{testPod("a", deleting(7))}, Sandboxes: sb("a"), Containers: []Container{
				running("a", "app"), exited("a", "side", 0, now),
			}},
			want: []PodPlan{{UID: "a", Actions: []Action{
				{Kind: ActStopContainers, ContainerIDs: []string{"a-app"}, Grace: 7 * time.Second},
				{Kind: ActRemoveContainers, ContainerIDs: []string{"a-app", "a-side"}},
				{Kind: ActTeardownSandbox},
				{Kind: ActDeletePod},
			}}},
		},
		{
			name: "deleting with nothing left: tear down and delete",
			in:   Input{Pods: []*corev1.Pod{testPod("a", deleting(0))}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActTeardownSandbox}, {Kind: ActDeletePod}}}},
		},
		{
			name: "remains of a gone pod are removed with the recorded grace",
			in:   Input{Containers: []Container{orphan}, Leftovers: []types.UID{"gone", "netns-only"}},
			want: []PodPlan{
				{UID: "gone", Actions: []Action{
					{Kind: ActStopContainers, ContainerIDs: []string{"gone-app"}, Grace: 5 * time.Second},
					{Kind: ActRemoveContainers, ContainerIDs: []string{"gone-app"}},
					{Kind: ActTeardownSandbox},
				}},
				{UID: "netns-only", Actions: []Action{{Kind: ActTeardownSandbox}}},
			},
		},
		{
			name: "replaced pod: the old UID is removed, the new one started",
			in: Input{Pods: []*corev1.Pod{testPod("new", oneContainer)}, Containers: []Container{running("old", "app")}, Sandboxes: sb("old"),
				Leftovers: []types.UID{"old"}},
			want: []PodPlan{
				{UID: "new", Actions: []Action{{Kind: ActSetupSandbox}, {Kind: ActStartContainer, Container: "app"}}},
				{UID: "old", Actions: []Action{
					{Kind: ActStopContainers, ContainerIDs: []string{"old-app"}, Grace: DefaultGracePeriod},
					{Kind: ActRemoveContainers, ContainerIDs: []string{"old-app"}},
					{Kind: ActTeardownSandbox},
				}},
			},
		},
		{
			name: "a container the spec lost is removed; a changed image is replaced",
			in: Input{Pods: []*corev1.Pod{testPod("a", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "tug.local/hello:v2" })}, Sandboxes: sb("a"),
				Containers: []Container{
					func() Container { c := running("a", "app"); c.Image = "tug.local/hello:v1"; return c }(),
					func() Container { c := running("a", "side"); c.Image = "tug.local/hello:v1"; return c }(),
					running("a", "old"),
				}},
			want: []PodPlan{{UID: "a", Actions: []Action{
				{Kind: ActStopContainers, ContainerIDs: []string{"a-app", "a-old"}, Grace: DefaultGracePeriod},
				{Kind: ActRemoveContainers, ContainerIDs: []string{"a-app", "a-old"}},
				{Kind: ActStartContainer, Container: "app"},
			}}},
		},
		{
			name: "busy pods wait for their running actions",
			in:   Input{Pods: []*corev1.Pod{testPod("a")}, Leftovers: []types.UID{"b"}, Busy: map[types.UID]bool{"a": true, "b": true}},
		},
		{
			name: "a recent failure delays the retry",
			in: Input{Pods: []*corev1.Pod{testPod("a")}, Now: now,
				Failures: map[types.UID]Failure{"a": {Reason: "RunContainerError", At: now.Add(-time.Second), Attempts: 2}}},
			want: []PodPlan{{UID: "a", RequeueAfter: time.Second}},
		},
		{
			name: "a failed image pull backs off 10 s doubling",
			in: Input{Pods: []*corev1.Pod{testPod("a")}, Now: now,
				Failures: map[types.UID]Failure{"a": {Reason: "ErrImagePull", Container: "app", At: now.Add(-time.Second), Attempts: 2}}},
			want: []PodPlan{{UID: "a", RequeueAfter: 19 * time.Second}},
		},
		{
			name: "a config change retries at once",
			in: Input{Pods: []*corev1.Pod{testPod("a", oneContainer)}, Now: now, Configs: true,
				Failures: map[types.UID]Failure{"a": {Reason: "CreateContainerConfigError", At: now, Attempts: 1}}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActSetupSandbox}, {Kind: ActStartContainer, Container: "app"}}}},
		},
		{
			name: "failed liveness probe of the current run: kill it",
			in: Input{Pods: []*corev1.Pod{testPod("a", withLiveness)}, Sandboxes: sb("a"), Containers: []Container{running("a", "app")},
				Probes: map[string]ProbeState{"a-app": {StartedAt: t0.Add(-time.Hour), Unhealthy: "Liveness probe failed: 503"}}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActKillUnhealthy, Container: "app", ContainerIDs: []string{"a-app"},
				Grace: DefaultGracePeriod, StartedAt: t0.Add(-time.Hour), Message: "Liveness probe failed: 503"}}}},
		},
		{
			name: "failed probe of an older run: nothing",
			in: Input{Pods: []*corev1.Pod{testPod("a", withLiveness)}, Sandboxes: sb("a"), Containers: []Container{running("a", "app")},
				Probes: map[string]ProbeState{"a-app": {StartedAt: t0.Add(-2 * time.Hour), Unhealthy: "Liveness probe failed: 503"}}},
		},
		{
			name: "OnFailure restarts a probe-killed container that exited 0",
			in: Input{Pods: []*corev1.Pod{testPod("a", oneContainer, withPolicy(corev1.RestartPolicyOnFailure))}, Sandboxes: sb("a"),
				Containers: []Container{probeKilled(exited("a", "app", 0, now))}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActRestartContainer, Container: "app", ExitedAt: now}}}},
		},
		{
			name: "Never does not restart a probe-killed container",
			in: Input{Pods: []*corev1.Pod{testPod("a", oneContainer, withPolicy(corev1.RestartPolicyNever))}, Sandboxes: sb("a"),
				Containers: []Container{probeKilled(exited("a", "app", 137, now))}},
		},
		{
			name: "init containers: the first one starts alone, with the sandbox",
			in:   Input{Pods: []*corev1.Pod{testPod("a", withInits)}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActSetupSandbox}, {Kind: ActStartContainer, Container: "init1"}}}},
		},
		{
			name: "init containers: a running one is waited for",
			in:   Input{Pods: []*corev1.Pod{testPod("a", withInits)}, Sandboxes: sb("a"), Containers: []Container{running("a", "init1")}},
		},
		{
			name: "init containers: the next one after an exit 0",
			in: Input{Pods: []*corev1.Pod{testPod("a", withInits)}, Sandboxes: sb("a"),
				Containers: []Container{exited("a", "init1", 0, now)}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActStartContainer, Container: "init2"}}}},
		},
		{
			name: "init containers: all done, the containers start",
			in: Input{Pods: []*corev1.Pod{testPod("a", withInits)}, Sandboxes: sb("a"),
				Containers: []Container{exited("a", "init1", 0, now), exited("a", "init2", 0, now)}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActStartContainer, Container: "app"}, {Kind: ActStartContainer, Container: "side"}}}},
		},
		{
			name: "init containers: a failure restarts (Always acts as OnFailure)",
			in: Input{Pods: []*corev1.Pod{testPod("a", withInits)}, Sandboxes: sb("a"),
				Containers: []Container{exited("a", "init1", 0, now), exited("a", "init2", 1, now)}},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActRestartContainer, Container: "init2", ExitedAt: now}}}},
		},
		{
			name: "init containers: a failure backs off",
			in: Input{Pods: []*corev1.Pod{testPod("a", withInits)}, Sandboxes: sb("a"),
				Containers: []Container{exited("a", "init1", 0, now), func() Container {
					c := inBackoff
					c.Name, c.ID = "init2", "a-init2"
					return c
				}()}},
			want: []PodPlan{{UID: "a", RequeueAfter: 8 * time.Second}},
		},
		{
			name: "init containers: Never leaves a failure alone",
			in: Input{Pods: []*corev1.Pod{testPod("a", withInits, withPolicy(corev1.RestartPolicyNever))}, Sandboxes: sb("a"),
				Containers: []Container{exited("a", "init1", 2, now)}},
		},
		{
			name: "a config change refreshes projected volumes",
			in:   Input{Pods: []*corev1.Pod{configPod}, Sandboxes: sb("a"), Containers: []Container{running("a", "app")}, Configs: true},
			want: []PodPlan{{UID: "a", Actions: []Action{{Kind: ActSyncVolumes}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Now.IsZero() {
				tt.in.Now = now
			}
			tt.in.Backoff = backoff.Default
			got := Plan(tt.in)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(PodPlan{}, "Pod"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureRetryDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 7; n++ {
		got = append(got, Failure{Attempts: n}.retryDelay())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGracePeriod(t *testing.T) {
	ten, three := int64(10), int64(3)
	tests := []struct {
		pod  *corev1.Pod
		want time.Duration
	}{
		{testPod("a"), DefaultGracePeriod},
		{testPod("a", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &ten }), 10 * time.Second},
		{testPod("a", deleting(three), func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &ten }), 3 * time.Second},
	}
	for i, tt := range tests {
		if got := GracePeriod(tt.pod); got != tt.want {
			t.Errorf("%d: GracePeriod = %v, want %v", i, got, tt.want)
		}
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	c := exited("u1", "app", 137, t0.Add(123456789))
	c.RestartCount = 2
	c.StartedAt = t0.Add(-time.Minute)
	b := backoff.State{Delay: 20 * time.Second, Last: t0.Add(time.Second)}
	labels := restartLabels(c, b, t0.Add(time.Second))
	for k, v := range map[string]string{LabelPodUID: "u1", LabelContainer: "app", LabelPodNamespace: "ns", LabelPodName: "p"} {
		labels[k] = v
	}
	got, ok := containerFromLabels("u1-app", labels)
	if !ok {
		t.Fatal("labels not recognised")
	}
	want := Container{
		ID: "u1-app", PodUID: "u1", PodNamespace: "ns", PodName: "p", Name: "app",
		RestartCount: 3, StartedAt: t0.Add(time.Second), Backoff: b,
		Last: &Termination{ExitCode: 137, StartedAt: c.StartedAt, FinishedAt: c.ExitedAt},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got.Task, got.ExitedAt = TaskStopped, c.ExitedAt
	if !exitRecorded(got) {
		t.Error("exitRecorded = false after recording the exit")
	}
	got.ExitedAt = got.ExitedAt.Add(time.Nanosecond)
	if exitRecorded(got) {
		t.Error("exitRecorded = true for a later exit")
	}
	if _, ok := containerFromLabels("x", map[string]string{"other": "1"}); ok {
		t.Error("a foreign container was recognised")
	}
}
