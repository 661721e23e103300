package nodeagent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/nodeagent/backoff"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodStatusPhaseAndStates(t *testing.T) {
	now := t0.Add(500 * time.Millisecond) // truncated to t0 in the status
	backingOff := exited("a", "app", 1, now.Add(-2*time.Second))
	backingOff.RestartCount = 3
	backingOff.Backoff = backoff.State{Delay: 40 * time.Second, Last: now.Add(-time.Minute)}
	backingOff.Last = &Termination{ExitCode: 1, StartedAt: t0.Add(-2 * time.Minute), FinishedAt: t0.Add(-time.Minute)}

	type cs struct {
		waiting, terminated string // reason
		running, ready      bool
		restarts            int32
		lastExit            *int32
	}
	one := int32(1)
	withReadiness := func(p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
	}
	withStartup := func(p *corev1.Pod) {
		p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
	}
	run := running("a", "app").StartedAt
	tests := []struct {
		name   string
		pod    *corev1.Pod
		obs    []Container
		fail   *Failure
		probes map[string]ProbeState
		phase  corev1.PodPhase
		want   []cs
	}{
		{
			name: "readiness probe without a result yet: unready", pod: testPod("a", oneContainer, withReadiness),
			obs: []Container{running("a", "app")}, phase: corev1.PodRunning,
			want: []cs{{running: true}},
		},
		{
			name: "readiness probe succeeded", pod: testPod("a", oneContainer, withReadiness),
			obs: []Container{running("a", "app")}, probes: map[string]ProbeState{"a-app": {StartedAt: run, Started: true, Ready: true}},
			phase: corev1.PodRunning, want: []cs{{running: true, ready: true}},
		},
		{
			name: "readiness result of an older run is ignored", pod: testPod("a", oneContainer, withReadiness),
			obs: []Container{running("a", "app")}, probes: map[string]ProbeState{"a-app": {StartedAt: run.Add(-time.Minute), Started: true, Ready: true}},
			phase: corev1.PodRunning, want: []cs{{running: true}},
		},
		{
			name: "startup probe pending gates readiness", pod: testPod("a", oneContainer, withStartup),
			obs: []Container{running("a", "app")}, probes: map[string]ProbeState{"a-app": {StartedAt: run, Ready: true}},
			phase: corev1.PodRunning, want: []cs{{running: true}},
		},
		{
			name: "nothing yet", pod: testPod("a"), phase: corev1.PodPending,
			want: []cs{{waiting: "ContainerCreating"}, {waiting: "ContainerCreating"}},
		},
		{
			name: "all running", pod: testPod("a"), obs: []Container{running("a", "app"), running("a", "side")}, phase: corev1.PodRunning,
			want: []cs{{running: true, ready: true}, {running: true, ready: true}},
		},
		{
			name: "one running, one creating", pod: testPod("a"), obs: []Container{running("a", "app")}, phase: corev1.PodPending,
			want: []cs{{running: true, ready: true}, {waiting: "ContainerCreating"}},
		},
		{
			name: "crash loop", pod: testPod("a", oneContainer), obs: []Container{backingOff}, phase: corev1.PodRunning,
			want: []cs{{waiting: "CrashLoopBackOff", restarts: 3, lastExit: &one}},
		},
		{
			name: "image pull failure", pod: testPod("a", oneContainer), fail: &Failure{Container: "app", Reason: "ErrImagePull", Message: "no such image"},
			phase: corev1.PodPending, want: []cs{{waiting: "ErrImagePull"}},
		},
		{
			name: "sandbox failure keeps ContainerCreating", pod: testPod("a", oneContainer), fail: &Failure{Reason: "FailedMount", Message: "configmap missing"},
			phase: corev1.PodPending, want: []cs{{waiting: "ContainerCreating"}},
		},
		{
			name: "Never, all succeeded", pod: testPod("a", withPolicy(corev1.RestartPolicyNever)),
			obs: []Container{exited("a", "app", 0, t0), exited("a", "side", 0, t0)}, phase: corev1.PodSucceeded,
			want: []cs{{terminated: "Completed"}, {terminated: "Completed"}},
		},
		{
			name: "Never, one failed", pod: testPod("a", withPolicy(corev1.RestartPolicyNever)),
			obs: []Container{exited("a", "app", 0, t0), exited("a", "side", 3, t0)}, phase: corev1.PodFailed,
			want: []cs{{terminated: "Completed"}, {terminated: "Error"}},
		},
		{
			name: "Never, one still running", pod: testPod("a", withPolicy(corev1.RestartPolicyNever)),
			obs: []Container{exited("a", "app", 3, t0), running("a", "side")}, phase: corev1.PodRunning,
			want: []cs{{terminated: "Error"}, {running: true, ready: true}},
		},
		{
			name: "OnFailure, done", pod: testPod("a", withPolicy(corev1.RestartPolicyOnFailure), oneContainer),
			obs: []Container{exited("a", "app", 0, t0)}, phase: corev1.PodSucceeded,
			want: []cs{{terminated: "Completed"}},
		},
		{
			name: "Always, exited and about to restart", pod: testPod("a", oneContainer),
			obs: []Container{exited("a", "app", 0, now)}, phase: corev1.PodRunning,
			want: []cs{{terminated: "Completed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := PodStatus(StatusInput{Pod: tt.pod, Containers: tt.obs, PodIP: "10.42.0.3", HostIP: "127.0.0.1", Failure: tt.fail, Probes: tt.probes, Now: now, Backoff: backoff.Default})
			if st.Phase != tt.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tt.phase)
			}
			var got []cs
			for _, c := range st.ContainerStatuses {
				g := cs{running: c.State.Running != nil, ready: c.Ready, restarts: c.RestartCount}
				if c.State.Waiting != nil {
					g.waiting = c.State.Waiting.Reason
				}
				if c.State.Terminated != nil {
					g.terminated = c.State.Terminated.Reason
				}
				if lt := c.LastTerminationState.Terminated; lt != nil {
					g.lastExit = &lt.ExitCode
				}
				got = append(got, g)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(cs{})); diff != "" {
				t.Errorf("container states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodStatusStable(t *testing.T) {
	pod := testPod("a", oneContainer)
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}
	pod.Status.Conditions = []corev1.PodCondition{scheduled}
	c := running("a", "app")
	c.StartedAt = t0.Add(-10*time.Minute + 123*time.Millisecond)
	c.ImageID = "sha256:abc"
	in := StatusInput{Pod: pod, Containers: []Container{c}, PodIP: "10.42.0.3", HostIP: "127.0.0.1", Now: t0.Add(300 * time.Millisecond), Backoff: backoff.Default}
	st := PodStatus(in)

	want := corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			scheduled,
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
		},
		HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP: "10.42.0.3", PodIPs: []corev1.PodIP{{IP: "10.42.0.3"}},
		StartTime: timePtr(t0),
		QOSClass:  corev1.PodQOSBestEffort,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "tug.local/hello:v1", ImageID: "sha256:abc", ContainerID: "containerd://a-app",
			Ready: true, Started: func() *bool { b := true; return &b }(),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0.Add(-10 * time.Minute))}},
		}},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// Recomputed later from the stored status: nothing changes, so no write.
	pod.Status = st
	in.Now = t0.Add(time.Minute)
	if again := PodStatus(in); !equality.Semantic.DeepEqual(again, st) {
		t.Errorf("status changed on recompute:\n%s", cmp.Diff(st, again))
	}
	// A container going unready flips Ready and ContainersReady at Now.
	in.Containers[0] = exited("a", "app", 1, t0.Add(50*time.Second))
	in.Containers[0].Backoff = backoff.State{Delay: 10 * time.Second, Last: t0}
	next := PodStatus(in)
	for _, c := range next.Conditions {
		switch c.Type {
		case corev1.PodReady, corev1.ContainersReady:
			if c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Time.Equal(t0.Add(time.Minute)) {
				t.Errorf("%s = %s at %v", c.Type, c.Status, c.LastTransitionTime)
			}
		case corev1.PodInitialized:
			if !c.LastTransitionTime.Time.Equal(t0) {
				t.Errorf("Initialized moved to %v", c.LastTransitionTime)
			}
		}
	}
}

func TestPodStatusInitContainers(t *testing.T) {
	now := t0
	type want struct {
		phase       corev1.PodPhase
		initialized corev1.ConditionStatus
		initMsg     string
		inits       []string // state per init container: reason, with "+" when ready
		containers  []string
	}
	state := func(cs corev1.ContainerStatus) string {
		r := ""
		switch {
		case cs.State.Waiting != nil:
			r = cs.State.Waiting.Reason
		case cs.State.Running != nil:
			r = "Running"
		case cs.State.Terminated != nil:
			r = cs.State.Terminated.Reason
		}
		if cs.Ready {
			r += "+"
		}
		return r
	}
	backingOff := exited("a", "init2", 1, now.Add(-time.Second))
	backingOff.Backoff = backoff.State{Delay: 10 * time.Second, Last: now}
	tests := []struct {
		name string
		pod  *corev1.Pod
		obs  []Container
		want want
	}{
		{
			name: "first init running", pod: testPod("a", oneContainer, withInits), obs: []Container{running("a", "init1")},
			want: want{corev1.PodPending, corev1.ConditionFalse, "containers with incomplete status: [init1 init2]",
				[]string{"Running", "ContainerCreating"}, []string{"PodInitializing"}},
		},
		{
			name: "second init backing off", pod: testPod("a", oneContainer, withInits), obs: []Container{exited("a", "init1", 0, now), backingOff},
			want: want{corev1.PodPending, corev1.ConditionFalse, "containers with incomplete status: [init2]",
				[]string{"Completed+", "CrashLoopBackOff"}, []string{"PodInitializing"}},
		},
		{
			name: "init failed under Never", pod: testPod("a", oneContainer, withInits, withPolicy(corev1.RestartPolicyNever)),
			obs: []Container{exited("a", "init1", 3, now)},
			want: want{corev1.PodFailed, corev1.ConditionFalse, "containers with incomplete status: [init1 init2]",
				[]string{"Error", "ContainerCreating"}, []string{"PodInitializing"}},
		},
		{
			name: "initialized and running", pod: testPod("a", oneContainer, withInits),
			obs:  []Container{exited("a", "init1", 0, now), exited("a", "init2", 0, now), running("a", "app")},
			want: want{corev1.PodRunning, corev1.ConditionTrue, "", []string{"Completed+", "Completed+"}, []string{"Running+"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := PodStatus(StatusInput{Pod: tt.pod, Containers: tt.obs, Now: now, Backoff: backoff.Default})
			got := want{phase: st.Phase}
			for _, c := range st.Conditions {
				if c.Type == corev1.PodInitialized {
					got.initialized, got.initMsg = c.Status, c.Message
				}
			}
			for _, cs := range st.InitContainerStatuses {
				got.inits = append(got.inits, state(cs))
			}
			for _, cs := range st.ContainerStatuses {
				got.containers = append(got.containers, state(cs))
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
