package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func job(name string, completions, parallelism *int32, policy corev1.RestartPolicy) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("j-" + name), ResourceVersion: "1", Generation: 1,
			CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.JobSpec{
			Completions: completions, Parallelism: parallelism,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "work", Image: "busybox"}}},
			},
		},
	}
}

// batchSim runs Plan over an in-memory snapshot with a simulated clock.
type batchSim struct {
	t   testing.TB
	s   Snapshot
	now time.Time
	ids *seqIDs
	w   Writes // the last pass's writes
}

func newBatchSim(t testing.TB, objs ...any) *batchSim {
	m := &batchSim{t: t, now: t0, ids: &seqIDs{}}
	m.s.Nodes = []*corev1.Node{readyNode("n1", "4")}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			m.s.Jobs = append(m.s.Jobs, o)
		case *batchv1.CronJob:
			m.s.CronJobs = append(m.s.CronJobs, o)
		}
	}
	return m
}

// pass plans once, applies the writes and finishes graceful deletions.
func (m *batchSim) pass() {
	m.w = Plan(m.s, m.now, m.ids, FitScheduler{})
	m.s = applyWrites(m.s, m.w)
	var kept []*corev1.Pod
	for _, p := range m.s.Pods {
		if p.DeletionTimestamp == nil {
			kept = append(kept, p)
		}
	}
	m.s.Pods = kept
}

// finish sets the phase of the first n running pods, as the node agent
// reports a pod whose containers exited.
func (m *batchSim) finish(n int, phase corev1.PodPhase) {
	for i, p := range m.s.Pods {
		if n == 0 {
			return
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		u := p.DeepCopy()
		u.Status.Phase = phase
		u.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "work", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(m.now)}}}}
		m.s.Pods[i] = u
		n--
	}
}

func (m *batchSim) advance(d time.Duration) { m.now = m.now.Add(d) }

func (m *batchSim) jobStatus(name string) batchv1.JobStatus {
	for _, j := range m.s.Jobs {
		if j.Name == name {
			return j.Status
		}
	}
	m.t.Fatalf("no job %s", name)
	return batchv1.JobStatus{}
}

func (m *batchSim) activePods() int {
	n := 0
	for _, p := range m.s.Pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

type jobView struct {
	Active, Succeeded, Failed int32
	Condition, Reason         string
}

func viewJob(st batchv1.JobStatus) jobView {
	v := jobView{Active: st.Active, Succeeded: st.Succeeded, Failed: st.Failed}
	for _, c := range st.Conditions {
		if c.Status == corev1.ConditionTrue {
			v.Condition, v.Reason = string(c.Type), c.Reason
		}
	}
	return v
}

func TestJob(t *testing.T) {
	type step struct {
		advance  time.Duration
		succeed  int
		fail     int
		want     jobView
		requeue  time.Duration // 0: not checked
		wantPods int           // live pods after the pass
	}
	tests := []struct {
		name  string
		job   func() *batchv1.Job
		steps []step
	}{{
		name: "completions 3, parallelism 2",
		job: func() *batchv1.Job {
			return job("batch", ptr.To[int32](3), ptr.To[int32](2), corev1.RestartPolicyNever)
		},
		steps: []step{
			{want: jobView{Active: 2}, wantPods: 2},
			{succeed: 2, want: jobView{Active: 1, Succeeded: 2}, wantPods: 1},
			{succeed: 1, want: jobView{Succeeded: 3, Condition: "Complete"}, wantPods: 0},
		},
	}, {
		name: "work queue: no completions, the first success ends it",
		job:  func() *batchv1.Job { return job("queue", nil, ptr.To[int32](3), corev1.RestartPolicyNever) },
		steps: []step{
			{want: jobView{Active: 3}, wantPods: 3},
			{succeed: 1, want: jobView{Active: 2, Succeeded: 1}, wantPods: 2},
			{succeed: 2, want: jobView{Succeeded: 3, Condition: "Complete"}, wantPods: 0},
		},
	}, {
		name: "failed pods replaced after backoff, then backoffLimit",
		job: func() *batchv1.Job {
			j := job("flaky", nil, nil, corev1.RestartPolicyNever)
			j.Spec.BackoffLimit = ptr.To[int32](1)
			return j
		},
		steps: []step{
			{want: jobView{Active: 1}, wantPods: 1},
			{fail: 1, want: jobView{Failed: 1}, requeue: 10 * time.Second, wantPods: 0},
			{advance: 10 * time.Second, want: jobView{Active: 1, Failed: 1}, wantPods: 1},
			{fail: 1, want: jobView{Failed: 2, Condition: "Failed", Reason: "BackoffLimitExceeded"}, wantPods: 0},
		},
	}, {
		name: "activeDeadlineSeconds stops the running pods",
		job: func() *batchv1.Job {
			j := job("slow", nil, ptr.To[int32](2), corev1.RestartPolicyOnFailure)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
			return j
		},
		steps: []step{
			{want: jobView{Active: 2}, requeue: 30 * time.Second, wantPods: 2},
			{advance: 29 * time.Second, want: jobView{Active: 2}, requeue: time.Second, wantPods: 2},
			{advance: time.Second, want: jobView{Condition: "Failed", Reason: "DeadlineExceeded"}, wantPods: 0},
		},
	}, {
		name: "ttlSecondsAfterFinished: a Job from Git keeps its status, its pods go",
		job: func() *batchv1.Job {
			j := job("once", nil, nil, corev1.RestartPolicyNever)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
			return j
		},
		steps: []step{
			{want: jobView{Active: 1}, wantPods: 1},
			{succeed: 1, want: jobView{Succeeded: 1, Condition: "Complete"}, requeue: time.Minute},
			{advance: time.Minute, want: jobView{Succeeded: 1, Condition: "Complete"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job()
			m := newBatchSim(t, j)
			for i, st := range tt.steps {
				m.advance(st.advance)
				m.finish(st.succeed, corev1.PodSucceeded)
				m.finish(st.fail, corev1.PodFailed)
				m.pass()
				var got jobView
				if len(m.s.Jobs) > 0 {
					got = viewJob(m.jobStatus(j.Name))
				}
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Errorf("step %d: job status (-want +got):\n%s", i, diff)
				}
				if st.requeue != 0 && m.w.RequeueAfter != st.requeue {
					t.Errorf("step %d: requeue after %v, want %v", i, m.w.RequeueAfter, st.requeue)
				}
				if got := m.activePods(); got != st.wantPods {
					t.Errorf("step %d: %d live pods, want %d", i, got, st.wantPods)
				}
			}
		})
	}
}

func TestJobTTL(t *testing.T) {
	for _, fromGit := range []bool{false, true} {
		t.Run(fmt.Sprintf("fromGit=%v", fromGit), func(t *testing.T) {
			j := job("once", nil, nil, corev1.RestartPolicyNever)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
			cj := cronJob("@yearly", nil)
			objs := []any{j}
			if !fromGit {
				j.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}
				objs = append(objs, cj)
			}
			m := newBatchSim(t, objs...)
			m.pass()
			m.finish(1, corev1.PodSucceeded)
			m.pass() // Complete
			m.pass() // expired
			m.pass() // garbage collection
			if fromGit {
				if len(m.s.Jobs) != 1 || viewJob(m.s.Jobs[0].Status) != (jobView{Succeeded: 1, Condition: "Complete"}) {
					t.Errorf("a Job committed to Git was deleted or lost its status: %v", m.s.Jobs)
				}
			} else if len(m.s.Jobs) != 0 {
				t.Errorf("job not deleted after its TTL: %v", viewJob(m.s.Jobs[0].Status))
			}
			if len(m.s.Pods) != 0 {
				t.Errorf("%d pods left after the job expired", len(m.s.Pods))
			}
		})
	}
}

func TestJobOnFailureRestartsCount(t *testing.T) {
	j := job("crashy", nil, nil, corev1.RestartPolicyOnFailure)
	j.Spec.BackoffLimit = ptr.To[int32](2)
	m := newBatchSim(t, j)
	m.pass()
	u := m.s.Pods[0].DeepCopy()
	u.Status.Phase = corev1.PodRunning
	u.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "work", RestartCount: 3}}
	m.s.Pods[0] = u
	m.pass()
	if got := viewJob(m.jobStatus("crashy")); got.Reason != "BackoffLimitExceeded" {
		t.Errorf("3 restarts with backoffLimit 2: got %+v, want Failed BackoffLimitExceeded", got)
	}
	if m.activePods() != 0 {
		t.Errorf("the failed job's pod was not stopped")
	}
}

func TestJobPodLabels(t *testing.T) {
	m := newBatchSim(t, job("lab", nil, nil, corev1.RestartPolicyNever))
	m.pass()
	p := m.s.Pods[0]
	want := map[string]string{"app": "lab", LabelJobName: "lab", "job-name": "lab", LabelControllerUID: "j-lab", "controller-uid": "j-lab"}
	if diff := cmp.Diff(want, p.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	if p.Spec.NodeName != "n1" {
		t.Errorf("pod not scheduled: node %q", p.Spec.NodeName)
	}
}
