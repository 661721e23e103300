package reconciler

import (
	"maps"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels the Job controller puts on its pods, as Kubernetes does.
const (
	LabelJobName       = "batch.kubernetes.io/job-name"
	LabelControllerUID = "batch.kubernetes.io/controller-uid"
)

// Job defaults and limits, as in Kubernetes.
const (
	defaultBackoffLimit = 6
	jobBackoffBase      = 10 * time.Second
	jobBackoffMax       = 6 * time.Minute
)

// planJob runs one Job: it keeps min(parallelism, remaining completions)
// pods active, counts succeeded and failed pods (for restartPolicy
// OnFailure, container restarts count as failures, as in Kubernetes), marks
// the Job Complete or Failed (backoffLimit, activeDeadlineSeconds), stops its
// active pods once it has failed, and deletes a finished Job after
// ttlSecondsAfterFinished. A failed pod is replaced after an exponential
// delay (10 s doubling, at most 6 min).
func planJob(w *Writes, job *batchv1.Job, ix *index, now time.Time, ids IDs) {
	pods := ix.podByOwner[job.UID]
	st := *job.Status.DeepCopy()
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	var active []*corev1.Pod
	var succeeded, failed, restarts, ready int32
	var lastFailure time.Time
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case p.Status.Phase == corev1.PodFailed:
			failed++
			if t := podFinished(p); t.After(lastFailure) {
				lastFailure = t
			}
		case p.DeletionTimestamp != nil:
		default:
			active = append(active, p)
			if podReady(p) {
				ready++
			}
			for _, cs := range p.Status.ContainerStatuses {
				restarts += cs.RestartCount
			}
		}
	}
	if finished, _ := jobFinished(&st); finished {
		// Counts stay as they were when it finished, even once its pods
		// are gone.
		st.Ready = ptr.To[int32](0)
		finishJob(w, job, st, active, ix, now)
		return
	}
	st.Succeeded, st.Failed, st.Ready = succeeded, failed, ptr.To(ready)

	completions := job.Spec.Completions
	backoffLimit := ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit)
	var deadline time.Time
	if a := job.Spec.ActiveDeadlineSeconds; a != nil {
		deadline = st.StartTime.Add(time.Duration(*a) * time.Second)
	}
	switch {
	case failed+restarts > backoffLimit:
		failJob(&st, "BackoffLimitExceeded", "Job has reached the specified backoff limit", now)
	case !deadline.IsZero() && !now.Before(deadline):
		failJob(&st, "DeadlineExceeded", "Job was active longer than specified deadline", now)
	case completions != nil && succeeded >= *completions,
		completions == nil && succeeded > 0 && len(active) == 0:
		st.Conditions = setJobCondition(st.Conditions, batchv1.JobComplete, "", "", now)
		st.CompletionTime = ptr.To(metav1.NewTime(now))
	}
	if finished, _ := jobFinished(&st); finished {
		finishJob(w, job, st, active, ix, now)
		return
	}
	if !deadline.IsZero() {
		w.requeue(deadline.Sub(now))
	}

	want := ptr.Deref(job.Spec.Parallelism, 1)
	switch {
	case completions != nil:
		want = min(want, *completions-succeeded)
	case succeeded > 0:
		// A work queue: once one pod succeeded, start no more and let
		// the others finish.
		want = int32(len(active))
	}
	want = max(want, 0)
	switch n := int32(len(active)); {
	case n < want:
		if failed > 0 && !lastFailure.IsZero() {
			delay := jobBackoffBase << min(failed-1, 10)
			delay = min(delay, jobBackoffMax)
			if wait := lastFailure.Add(delay).Sub(now); wait > 0 {
				w.requeue(wait)
				break
			}
		}
		for i := n; i < want; i++ {
			p := newJobPod(job, ids)
			ix.newPods = append(ix.newPods, p)
			active = append(active, p)
		}
	case n > want:
		sort.SliceStable(active, func(i, j int) bool { return deletionRank(active[i], active[j]) })
		for _, p := range active[:n-want] {
			deletePod(w, p, now)
		}
		active = active[n-want:]
	}
	st.Active = int32(len(active))
	writeJobStatus(w, job, st, ix)
}

// podFinished returns when the pod's last container stopped.
func podFinished(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.Time.After(t) {
			t = term.FinishedAt.Time
		}
	}
	return t
}

func newJobPod(job *batchv1.Job, ids IDs) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelJobName] = job.Name
	labels["job-name"] = job.Name
	labels[LabelControllerUID] = string(job.UID)
	labels["controller-uid"] = string(job.UID)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:         job.Name + "-" + ids.Suffix(),
			GenerateName: job.Name + "-",
			Namespace:    job.Namespace,
			UID:          ids.UID(),
			Labels:       labels,
			Annotations:  maps.Clone(t.Annotations),
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job")),
			},
		},
		Spec:   t.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&t.Spec)},
	}
}

// jobFinished reports whether the Job has a true Complete or Failed
// condition, and when it got it.
func jobFinished(st *batchv1.JobStatus) (bool, time.Time) {
	for _, c := range st.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// jobSucceeded reports whether the Job is Complete.
func jobSucceeded(st *batchv1.JobStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func failJob(st *batchv1.JobStatus, reason, msg string, now time.Time) {
	st.Conditions = setJobCondition(st.Conditions, batchv1.JobFailed, reason, msg, now)
}

func setJobCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType, reason, msg string, now time.Time) []batchv1.JobCondition {
	c := batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
	out := make([]batchv1.JobCondition, 0, len(conds)+1)
	for _, o := range conds {
		if o.Type != t {
			out = append(out, o)
		}
	}
	return append(out, c)
}

// finishJob stops the active pods of a finished Job, writes its status and
// expires it once its time to live has passed.
func finishJob(w *Writes, job *batchv1.Job, st batchv1.JobStatus, active []*corev1.Pod, ix *index, now time.Time) {
	for _, p := range active {
		deletePod(w, p, now)
	}
	st.Active = 0
	if expireJob(w, job, &st, ix, now) {
		return
	}
	writeJobStatus(w, job, st, ix)
}

// expireJob deletes a finished Job once its ttlSecondsAfterFinished has
// passed (its pods go with it, by owner reference), reporting whether it
// did. A Job committed to Git is kept — deleting it would make the cluster
// differ from the repository, and re-applying the commit would run it again
// — and only its pods are deleted.
func expireJob(w *Writes, job *batchv1.Job, st *batchv1.JobStatus, ix *index, now time.Time) bool {
	ttl := job.Spec.TTLSecondsAfterFinished
	_, at := jobFinished(st)
	if ttl == nil || job.ResourceVersion == "" {
		return false
	}
	expire := at.Add(time.Duration(*ttl) * time.Second)
	if now.Before(expire) {
		w.requeue(expire.Sub(now))
		return false
	}
	if controllerOf(job.OwnerReferences) == nil {
		for _, p := range ix.podByOwner[job.UID] {
			deletePod(w, p, now)
		}
		return false
	}
	w.Deletes = append(w.Deletes, job)
	return true
}

func writeJobStatus(w *Writes, job *batchv1.Job, st batchv1.JobStatus, ix *index) {
	if equality.Semantic.DeepEqual(st, job.Status) {
		return
	}
	u := job.DeepCopy()
	u.Status = st
	if job.ResourceVersion == "" {
		w.replace(u) // created in this pass by a CronJob
	} else {
		w.put(u)
	}
	ix.updated[u.UID] = u
}
