package reconciler

import (
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/tug-dev/tug/manifest"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// AnnotationCronJobScheduled records on a Job the schedule time it was
// created for, as Kubernetes does.
const AnnotationCronJobScheduled = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// maxMissedSchedules is how many missed start times Kubernetes looks back
// over before giving up on counting (it then starts the latest one anyway).
const maxMissedSchedules = 100

// planCronJob runs one CronJob as Kubernetes' CronJob controller v2 does:
// at each schedule time (in spec.timeZone, UTC by default) it creates the
// Job <name>-<minutes since the epoch>, unless suspended or the time is
// older than startingDeadlineSeconds; concurrencyPolicy Forbid skips a run
// while a Job is active (the run starts late once it ends, if still within
// the deadline), Replace deletes the active Jobs first. Finished Jobs beyond
// successfulJobsHistoryLimit (3) and failedJobsHistoryLimit (1) are deleted,
// oldest first. The pass asks to be requeued at the next schedule time.
func planCronJob(w *Writes, cj *batchv1.CronJob, ix *index, now time.Time, ids IDs) {
	st := *cj.Status.DeepCopy()
	jobs := ix.jobByOwner[cj.UID]
	var active, succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if ok, _ := jobFinished(&j.Status); !ok {
			active = append(active, j)
		} else if jobSucceeded(&j.Status) {
			succeeded = append(succeeded, j)
			if t := j.Status.CompletionTime; t != nil && (st.LastSuccessfulTime == nil || st.LastSuccessfulTime.Before(t)) {
				st.LastSuccessfulTime = t.DeepCopy()
			}
		} else {
			failed = append(failed, j)
		}
	}
	pruneJobs(w, succeeded, ptr.Deref(cj.Spec.SuccessfulJobsHistoryLimit, 3))
	pruneJobs(w, failed, ptr.Deref(cj.Spec.FailedJobsHistoryLimit, 1))

	sched, err := manifest.ParseSchedule(cj.Spec.Schedule)
	loc := time.UTC
	if tz := cj.Spec.TimeZone; tz != nil {
		if l, lerr := time.LoadLocation(*tz); lerr == nil {
			loc = l
		} else {
			err = lerr
		}
	}
	if err == nil && !ptr.Deref(cj.Spec.Suspend, false) {
		earliest := cj.CreationTimestamp.Time
		if st.LastScheduleTime != nil {
			earliest = st.LastScheduleTime.Time
		}
		if earliest.IsZero() {
			earliest = now
		}
		if d := cj.Spec.StartingDeadlineSeconds; d != nil {
			if from := now.Add(-time.Duration(*d) * time.Second); from.After(earliest) {
				earliest = from
			}
		}
		scheduled, ok := mostRecentSchedule(sched, earliest.In(loc), now.In(loc))
		tooLate := ok && cj.Spec.StartingDeadlineSeconds != nil &&
			scheduled.Add(time.Duration(*cj.Spec.StartingDeadlineSeconds)*time.Second).Before(now)
		switch {
		case !ok || tooLate:
		case cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(active) > 0:
			// Skipped for now; the run starts once the active Job ends
			// (LastScheduleTime is left alone), as in Kubernetes.
		default:
			if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
				for _, j := range active {
					w.Deletes = append(w.Deletes, j)
				}
				active = nil
			}
			name := cronJobName(cj, scheduled)
			if !hasJob(jobs, name) {
				j := newCronJobJob(cj, name, scheduled, ids)
				ix.jobs = append(ix.jobs, j)
				w.put(j)
				active = append(active, j)
			}
			st.LastScheduleTime = ptr.To(metav1.NewTime(scheduled))
		}
		if next := sched.Next(now.In(loc)); !next.IsZero() {
			w.requeue(next.Sub(now))
		}
	}

	st.Active = nil
	sort.Slice(active, func(i, j int) bool { return active[i].Name < active[j].Name })
	for _, j := range active {
		st.Active = append(st.Active, corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1",
			Namespace: j.Namespace, Name: j.Name, UID: j.UID})
	}
	if equality.Semantic.DeepEqual(st, cj.Status) {
		return
	}
	u := cj.DeepCopy()
	u.Status = st
	w.put(u)
}

// mostRecentSchedule returns the latest schedule time in (earliest, now],
// if any. After maxMissedSchedules missed times it stops walking from
// earliest and looks back from now in doubling windows instead.
func mostRecentSchedule(sched interface{ Next(time.Time) time.Time }, earliest, now time.Time) (time.Time, bool) {
	t := sched.Next(earliest)
	if t.IsZero() || t.After(now) {
		return time.Time{}, false
	}
	for range maxMissedSchedules {
		next := sched.Next(t)
		if next.IsZero() || next.After(now) {
			return t, true
		}
		t = next
	}
	for win := time.Minute; now.Add(-win).After(t); win *= 2 {
		if u := sched.Next(now.Add(-win)); !u.IsZero() && !u.After(now) {
			t = u
			break
		}
	}
	for n := sched.Next(t); !n.IsZero() && !n.After(now); n = sched.Next(t) {
		t = n
	}
	return t, true
}

// cronJobName is the name of the Job for a schedule time: the CronJob's
// name and the time in minutes since the epoch.
func cronJobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

func hasJob(jobs []*batchv1.Job, name string) bool {
	for _, j := range jobs {
		if j.Name == name {
			return true
		}
	}
	return false
}

func newCronJobJob(cj *batchv1.CronJob, name string, scheduled time.Time, ids IDs) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	ann := maps.Clone(t.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationCronJobScheduled] = scheduled.UTC().Format(time.RFC3339)
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			UID:         ids.UID(),
			Labels:      maps.Clone(t.Labels),
			Annotations: ann,
			Generation:  1,
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob")),
			},
		},
		Spec: t.Spec,
	}
	manifest.SetTypeMeta(j)
	return j
}

// pruneJobs deletes the oldest finished Jobs beyond limit.
func pruneJobs(w *Writes, jobs []*batchv1.Job, limit int32) {
	if int32(len(jobs)) <= limit {
		return
	}
	sort.Slice(jobs, func(i, j int) bool { return jobStart(jobs[i]).Before(jobStart(jobs[j])) })
	for _, j := range jobs[:int32(len(jobs))-limit] {
		w.Deletes = append(w.Deletes, j)
	}
}

// jobStart orders a CronJob's Jobs: by schedule time, else start time.
func jobStart(j *batchv1.Job) time.Time {
	if s, ok := j.Annotations[AnnotationCronJobScheduled]; ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
	}
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
