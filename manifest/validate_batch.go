package manifest

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // CronJob time zones resolve without the host's zoneinfo

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// job checks a Job spec (f is "spec" for a Job, "spec.jobTemplate.spec" for
// a CronJob's template).
func (c *checker) job(f string, spec *batchv1.JobSpec) {
	c.nonNegative(f+".completions", spec.Completions)
	c.nonNegative(f+".parallelism", spec.Parallelism)
	c.nonNegative(f+".backoffLimit", spec.BackoffLimit)
	c.nonNegative(f+".ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished)
	if a := spec.ActiveDeadlineSeconds; a != nil && *a <= 0 {
		c.add(f+".activeDeadlineSeconds", "must be more than 0")
	}
	c.labels(f+".template.metadata.labels", spec.Template.Labels)
	c.annotations(f+".template.metadata.annotations", spec.Template.Annotations)
	c.podSpec(f+".template.spec", &spec.Template.Spec)
}

func (c *checker) cronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if len(cj.Name) > 52 {
		c.add("metadata.name", "must be no more than 52 characters (the Jobs it creates add 11)")
	}
	if _, err := ParseSchedule(spec.Schedule); err != nil {
		c.add("spec.schedule", "%v", err)
	}
	if tz := spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "" || *tz == "Local" {
			c.add("spec.timeZone", "unknown time zone %q; use an IANA name such as Europe/Paris or Etc/UTC", *tz)
		}
	}
	switch spec.ConcurrencyPolicy {
	case "", batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		c.add("spec.concurrencyPolicy", "must be Allow, Forbid or Replace")
	}
	c.nonNegative64("spec.startingDeadlineSeconds", spec.StartingDeadlineSeconds)
	c.nonNegative("spec.successfulJobsHistoryLimit", spec.SuccessfulJobsHistoryLimit)
	c.nonNegative("spec.failedJobsHistoryLimit", spec.FailedJobsHistoryLimit)
	c.labels("spec.jobTemplate.metadata.labels", spec.JobTemplate.Labels)
	c.annotations("spec.jobTemplate.metadata.annotations", spec.JobTemplate.Annotations)
	c.job("spec.jobTemplate.spec", &spec.JobTemplate.Spec)
}

// ParseSchedule parses a CronJob schedule as Kubernetes does: five fields
// (minute hour day-of-month month day-of-week) or a macro such as @hourly.
// The time zone belongs in spec.timeZone, not in a TZ= prefix.
func ParseSchedule(s string) (cron.Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`schedule is required, e.g. "*/5 * * * *"`)
	}
	if strings.Contains(s, "TZ") {
		return nil, errors.New("TZ and CRON_TZ are not allowed in the schedule; set spec.timeZone")
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %w", s, err)
	}
	return sched, nil
}

func (c *checker) daemonSet(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	if spec.MinReadySeconds < 0 {
		c.add("spec.minReadySeconds", "must be 0 or more")
	}
	c.selector(spec.Selector, spec.Template.Labels)
	switch spec.UpdateStrategy.Type {
	case "", appsv1.RollingUpdateDaemonSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			if zero := c.percentOrCount("spec.updateStrategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable); zero {
				c.add("spec.updateStrategy.rollingUpdate.maxUnavailable", "must be more than 0 (maxSurge is not supported by tug yet)")
			}
		}
	case appsv1.OnDeleteDaemonSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			c.add("spec.updateStrategy.rollingUpdate", "must be left out when type is OnDelete")
		}
	default:
		c.add("spec.updateStrategy.type", "must be RollingUpdate or OnDelete")
	}
	c.labels("spec.template.metadata.labels", spec.Template.Labels)
	c.annotations("spec.template.metadata.annotations", spec.Template.Annotations)
	c.podSpec("spec.template.spec", &spec.Template.Spec)
}

func (c *checker) statefulSet(sts *appsv1.StatefulSet) {
	spec := &sts.Spec
	if len(sts.Name) > 52 {
		c.add("metadata.name", "must be no more than 52 characters (its pods' controller-revision-hash label adds 11)")
	}
	if spec.Replicas != nil && *spec.Replicas < 0 {
		c.add("spec.replicas", "must be 0 or more")
	}
	if spec.MinReadySeconds < 0 {
		c.add("spec.minReadySeconds", "must be 0 or more")
	}
	if spec.ServiceName != "" {
		c.addAll("spec.serviceName", content.IsDNS1123Label(spec.ServiceName))
	}
	switch spec.PodManagementPolicy {
	case "", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		c.add("spec.podManagementPolicy", "must be OrderedReady or Parallel")
	}
	switch spec.UpdateStrategy.Type {
	case "", appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			c.nonNegative("spec.updateStrategy.rollingUpdate.partition", ru.Partition)
		}
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			c.add("spec.updateStrategy.rollingUpdate", "must be left out when type is OnDelete")
		}
	default:
		c.add("spec.updateStrategy.type", "must be RollingUpdate or OnDelete")
	}
	c.selector(spec.Selector, spec.Template.Labels)
	c.labels("spec.template.metadata.labels", spec.Template.Labels)
	c.annotations("spec.template.metadata.annotations", spec.Template.Annotations)
	c.claimVolumes = c.claimTemplates(sts)
	c.podSpec("spec.template.spec", &spec.Template.Spec)
}
