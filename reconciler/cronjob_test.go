package reconciler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func cronJob(schedule string, mod func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default", UID: "cj-tick", ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "work", Image: "busybox"}}},
			}}},
		},
	}
	if mod != nil {
		mod(cj)
	}
	return cj
}

// jobNames lists the CronJob's Jobs as "HH:MM" of their schedule time.
func (m *batchSim) jobTimes() []string {
	var out []string
	for _, j := range m.s.Jobs {
		out = append(out, jobStart(j).UTC().Format("15:04"))
	}
	return out
}

func TestCronJob(t *testing.T) {
	type step struct {
		advance    time.Duration
		finishJobs bool // the pods of every active job succeed
		jobs       []string
		last       string // LastScheduleTime as HH:MM, "" if unset
	}
	tests := []struct {
		name  string
		mod   func(*batchv1.CronJob)
		steps []step
	}{{
		name: "every 5 minutes, Allow",
		steps: []step{
			{jobs: nil},
			{advance: 4 * time.Minute, jobs: nil},
			{advance: time.Minute, jobs: []string{"10:05"}, last: "10:05"},
			{advance: 5 * time.Minute, jobs: []string{"10:05", "10:10"}, last: "10:10"},
		},
	}, {
		name: "Forbid skips while a job runs, then starts late",
		mod:  func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent },
		steps: []step{
			{advance: 5 * time.Minute, jobs: []string{"10:05"}, last: "10:05"},
			{advance: 5 * time.Minute, jobs: []string{"10:05"}, last: "10:05"},
			{advance: 2 * time.Minute, finishJobs: true, jobs: []string{"10:05", "10:10"}, last: "10:10"},
		},
	}, {
		name: "Replace deletes the active job",
		mod:  func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent },
		steps: []step{
			{advance: 5 * time.Minute, jobs: []string{"10:05"}, last: "10:05"},
			{advance: 5 * time.Minute, jobs: []string{"10:10"}, last: "10:10"},
		},
	}, {
		name: "startingDeadlineSeconds: a run missed by more is skipped",
		mod:  func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) },
		steps: []step{
			{advance: 11*time.Minute + 30*time.Second, jobs: nil},
			{advance: 3*time.Minute + 40*time.Second, jobs: []string{"10:15"}, last: "10:15"},
		},
	}, {
		name: "suspend",
		mod:  func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) },
		steps: []step{
			{advance: 30 * time.Minute, jobs: nil},
		},
	}, {
		name: "successfulJobsHistoryLimit 1",
		mod:  func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1) },
		steps: []step{
			{advance: 5 * time.Minute, jobs: []string{"10:05"}, last: "10:05"},
			{advance: time.Minute, finishJobs: true, jobs: []string{"10:05"}, last: "10:05"},
			{advance: 4 * time.Minute, jobs: []string{"10:05", "10:10"}, last: "10:10"},
			{advance: time.Minute, finishJobs: true, jobs: []string{"10:10"}, last: "10:10"},
		},
	}, {
		name: "timeZone",
		mod: func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "0 20 * * *" // 20:00 in Tokyo is 11:00 UTC
			cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
		},
		steps: []step{
			{advance: 59 * time.Minute, jobs: nil},
			{advance: time.Minute, jobs: []string{"11:00"}, last: "11:00"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newBatchSim(t, cronJob("*/5 * * * *", tt.mod))
			for i, st := range tt.steps {
				m.advance(st.advance)
				if st.finishJobs {
					m.finish(len(m.s.Pods), corev1.PodSucceeded)
				}
				m.pass()
				m.pass() // the Jobs' own controller settles
				if diff := cmp.Diff(st.jobs, m.jobTimes()); diff != "" {
					t.Errorf("step %d (%s): jobs (-want +got):\n%s", i, m.now.Format("15:04:05"), diff)
				}
				var last string
				if lt := m.s.CronJobs[0].Status.LastScheduleTime; lt != nil {
					last = lt.UTC().Format("15:04")
				}
				if last != st.last {
					t.Errorf("step %d: lastScheduleTime %q, want %q", i, last, st.last)
				}
			}
		})
	}
}

func TestCronJobRequeuesAtNextSchedule(t *testing.T) {
	m := newBatchSim(t, cronJob("*/5 * * * *", nil))
	m.advance(90 * time.Second)
	m.pass()
	if want := 3*time.Minute + 30*time.Second; m.w.RequeueAfter != want {
		t.Errorf("requeue after %v, want %v", m.w.RequeueAfter, want)
	}
}

func TestCronJobJobShape(t *testing.T) {
	m := newBatchSim(t, cronJob("*/5 * * * *", func(cj *batchv1.CronJob) {
		cj.Spec.JobTemplate.Labels = map[string]string{"team": "a"}
	}))
	m.advance(5 * time.Minute)
	m.pass()
	if len(m.s.Jobs) != 1 {
		t.Fatalf("%d jobs, want 1", len(m.s.Jobs))
	}
	j := m.s.Jobs[0]
	want := metav1.ObjectMeta{
		Name: "tick-29923805", Namespace: "default", UID: j.UID, ResourceVersion: "1", Generation: 1,
		Labels:      map[string]string{"team": "a"},
		Annotations: map[string]string{AnnotationCronJobScheduled: "2026-11-23T10:05:00Z"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "tick", UID: "cj-tick",
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
	}
	if diff := cmp.Diff(want, j.ObjectMeta); diff != "" {
		t.Errorf("job metadata (-want +got):\n%s", diff)
	}
	if len(m.s.Pods) != 1 {
		t.Errorf("the new Job's pod was not created in the same pass: %d pods", len(m.s.Pods))
	}
	if got := m.s.CronJobs[0].Status.Active; len(got) != 1 || got[0].Name != j.Name {
		t.Errorf("status.active = %v, want the new job", got)
	}
}

func TestMostRecentScheduleManyMissed(t *testing.T) {
	sched, err := manifest.ParseSchedule("* * * * *")
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(30 * time.Second)
	got, ok := mostRecentSchedule(sched, t0.AddDate(-1, 0, 0), now)
	if !ok || !got.Equal(t0) {
		t.Errorf("got %v %v, want %v", got, ok, t0)
	}
	if _, ok := mostRecentSchedule(sched, now, now); ok {
		t.Errorf("a schedule time found in an empty interval")
	}
}

// Replace deletes the active Job in the same pass that creates the next: the
// deleted Job must not also be written, and its pods go with it.
func TestCronJobReplaceWritesNoDeletedJob(t *testing.T) {
	m := newBatchSim(t, cronJob("*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }))
	m.advance(5 * time.Minute)
	m.pass()
	m.pass()
	old := m.s.Jobs[0]
	m.advance(5 * time.Minute)
	w := Plan(m.s, m.now, m.ids, FitScheduler{})
	deleted := map[string]bool{}
	for _, d := range w.Deletes {
		deleted[string(d.GetUID())] = true
	}
	if !deleted[string(old.UID)] {
		t.Fatalf("the active job was not deleted")
	}
	for _, p := range w.Puts {
		if deleted[string(p.GetUID())] {
			t.Errorf("%s %s is both written and deleted", manifest.KindOf(p), p.GetName())
		}
	}
	var oldPodsGone bool
	for _, p := range m.s.Pods {
		if p.OwnerReferences[0].UID == old.UID {
			for _, o := range w.Puts {
				if o.GetUID() == p.UID && o.(*corev1.Pod).DeletionTimestamp != nil {
					oldPodsGone = true
				}
			}
		}
	}
	if !oldPodsGone {
		t.Errorf("the replaced job's pod was not deleted with it")
	}
}
