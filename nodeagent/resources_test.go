package nodeagent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/nodeagent/backoff"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestQOSClass(t *testing.T) {
	ctr := func(req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	tests := []struct {
		name string
		init []corev1.Container
		ctrs []corev1.Container
		want corev1.PodQOSClass
	}{
		{"nothing", nil, []corev1.Container{ctr(nil, nil)}, corev1.PodQOSBestEffort},
		{"zero quantities", nil, []corev1.Container{ctr(res("cpu", "0"), nil)}, corev1.PodQOSBestEffort},
		{"limits only (requests default to them)", nil, []corev1.Container{ctr(nil, res("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
		{"requests equal limits", nil, []corev1.Container{ctr(res("cpu", "1000m", "memory", "1Gi"), res("cpu", "1", "memory", "1024Mi"))}, corev1.PodQOSGuaranteed},
		{"request below limit", nil, []corev1.Container{ctr(res("cpu", "500m", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSBurstable},
		{"memory limit only", nil, []corev1.Container{ctr(nil, res("memory", "1Gi"))}, corev1.PodQOSBurstable},
		{"requests only", nil, []corev1.Container{ctr(res("cpu", "100m"), nil)}, corev1.PodQOSBurstable},
		{"one container without anything", nil, []corev1.Container{ctr(nil, res("cpu", "1", "memory", "1Gi")), ctr(nil, nil)}, corev1.PodQOSBurstable},
		{"an init container counts", []corev1.Container{ctr(res("memory", "10Mi"), nil)}, []corev1.Container{ctr(nil, nil)}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: tt.init, Containers: tt.ctrs}}
			if got := QOSClass(pod); got != tt.want {
				t.Errorf("QOSClass = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const gi = int64(1 << 30)
	ctr := func(req, lim corev1.ResourceList) *corev1.Container {
		return &corev1.Container{Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	tests := []struct {
		name string
		qos  corev1.PodQOSClass
		c    *corev1.Container
		capa int64
		want int
	}{
		{"guaranteed", corev1.PodQOSGuaranteed, ctr(nil, res("cpu", "1", "memory", "1Gi")), 4 * gi, -997},
		{"best effort", corev1.PodQOSBestEffort, ctr(nil, nil), 4 * gi, 1000},
		{"burstable, a quarter of the node", corev1.PodQOSBurstable, ctr(res("memory", "1Gi"), nil), 4 * gi, 750},
		{"burstable, no memory request", corev1.PodQOSBurstable, ctr(res("cpu", "1"), nil), 4 * gi, 999},
		{"burstable, memory limit only", corev1.PodQOSBurstable, ctr(nil, res("memory", "2Gi")), 4 * gi, 500},
		{"burstable, more than the node", corev1.PodQOSBurstable, ctr(res("memory", "8Gi"), nil), 4 * gi, 2},
		{"burstable, capacity unknown", corev1.PodQOSBurstable, ctr(res("memory", "1Gi"), nil), 0, 999},
	}
	for _, tt := range tests {
		if got := oomScoreAdj(tt.qos, tt.c, tt.capa); got != tt.want {
			t.Errorf("%s: oomScoreAdj = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestOOMKilledStatus: a run the OOM killer hit is reported OOMKilled with
// its exit code, now and as the last state after the restart.
func TestOOMKilledStatus(t *testing.T) {
	pod := testPod("a", oneContainer)
	c := exited("a", "app", 137, t0.Add(-time.Second))
	c.OOMKilled = true
	c.Backoff = backoff.State{Delay: 10 * time.Second, Last: t0.Add(-time.Second)}
	st := PodStatus(StatusInput{Pod: pod, Containers: []Container{c}, Now: t0, Backoff: backoff.Default})
	cs := st.ContainerStatuses[0]
	got := cs.State.Terminated
	if got == nil {
		got = cs.LastTerminationState.Terminated
	}
	if got == nil || got.Reason != "OOMKilled" || got.ExitCode != 137 {
		t.Fatalf("terminated state %+v, want OOMKilled 137", cs)
	}

	// Restarted: the labels carry the reason into lastState.
	labels := restartLabels(c, backoff.State{}, t0)
	labels[LabelPodUID], labels[LabelContainer] = "a", "app"
	labels[labelOOMKilled] = formatTime(c.StartedAt) // the old run's
	next, ok := containerFromLabels(c.ID, labels)
	if !ok {
		t.Fatal("labels not decoded")
	}
	if next.OOMKilled {
		t.Error("the new run is marked OOM killed")
	}
	want := &Termination{ExitCode: 137, Reason: "OOMKilled", StartedAt: c.StartedAt, FinishedAt: c.ExitedAt}
	if diff := cmp.Diff(want, next.Last); diff != "" {
		t.Errorf("last termination (-want +got):\n%s", diff)
	}
	next.Task = TaskRunning
	st = PodStatus(StatusInput{Pod: pod, Containers: []Container{next}, Now: t0, Backoff: backoff.Default})
	if lt := st.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.Reason != "OOMKilled" {
		t.Errorf("lastState %+v, want OOMKilled", lt)
	}
}
