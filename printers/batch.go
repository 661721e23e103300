package printers

import (
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Job, CronJob, DaemonSet and StatefulSet tables have kubectl's columns.

func jobColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string"),
		column("Completions", "string"),
		column("Duration", "string"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
		wide("Selector"),
	}
}

func jobRow(obj manifest.Object, now time.Time) ([]any, error) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, fmt.Errorf("not a job: %T", obj)
	}
	var completions string
	switch par := replicas(j.Spec.Parallelism); {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case par > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, par)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var duration string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime != nil:
		duration = Age(j.Status.StartTime.Time, j.Status.CompletionTime.Time)
	default:
		duration = Age(j.Status.StartTime.Time, now)
	}
	selector := j.Spec.Selector
	if selector == nil && j.UID != "" {
		selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(j.UID)}}
	}
	names, images := containerCells(j.Spec.Template.Spec.Containers)
	return []any{
		j.Name, jobStatus(j), completions, duration, age(j.CreationTimestamp, now),
		names, images, orNone(selectorString(selector)),
	}, nil
}

// jobStatus is kubectl's STATUS column of a Job.
func jobStatus(j *batchv1.Job) string {
	status := "Running"
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "Complete"
		case batchv1.JobFailed:
			return "Failed"
		case batchv1.JobSuspended:
			status = "Suspended"
		}
	}
	if j.DeletionTimestamp != nil {
		return "Terminating"
	}
	return status
}

func cronJobColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Schedule", "string"),
		column("Timezone", "string"),
		column("Suspend", "boolean"),
		column("Active", "integer"),
		column("Last Schedule", "string"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
		wide("Selector"),
	}
}

func cronJobRow(obj manifest.Object, now time.Time) ([]any, error) {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return nil, fmt.Errorf("not a cronjob: %T", obj)
	}
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	last := "<none>"
	if t := cj.Status.LastScheduleTime; t != nil {
		last = age(*t, now)
	}
	suspend := "False" // kubectl's printBoolPtr
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		suspend = "True"
	}
	names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return []any{
		cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp, now),
		names, images, orNone(selectorString(cj.Spec.JobTemplate.Spec.Selector)),
	}, nil
}

func daemonSetColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer"),
		column("Current", "integer"),
		column("Ready", "integer"),
		column("Up-to-date", "integer"),
		column("Available", "integer"),
		column("Node Selector", "string"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
		wide("Selector"),
	}
}

func daemonSetRow(obj manifest.Object, now time.Time) ([]any, error) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil, fmt.Errorf("not a daemonset: %T", obj)
	}
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []any{
		ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		orNone(labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector)), age(ds.CreationTimestamp, now),
		names, images, orNone(selectorString(ds.Spec.Selector)),
	}, nil
}

func statefulSetColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
	}
}

func statefulSetRow(obj manifest.Object, now time.Time) ([]any, error) {
	sts, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil, fmt.Errorf("not a statefulset: %T", obj)
	}
	names, images := containerCells(sts.Spec.Template.Spec.Containers)
	return []any{
		sts.Name, fmt.Sprintf("%d/%d", sts.Status.ReadyReplicas, replicas(sts.Spec.Replicas)), age(sts.CreationTimestamp, now),
		names, images,
	}, nil
}
