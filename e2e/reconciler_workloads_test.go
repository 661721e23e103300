package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

const workloadsYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: touch
spec:
  completions: 2
  parallelism: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: touch
        image: tug.local/hello:v1
        args: ["touch", "/tmp/done"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: broken
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: touch
        image: tug.local/hello:v1
        args: ["touch", "/no/such/dir/file"]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: app
        image: tug.local/hello:v1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: app
        image: tug.local/hello:v1
`

// TestJobsAndDaemonSet commits two Jobs and a DaemonSet on real containerd:
// the Job runs its two completions one after the other and becomes
// Complete, the Job whose container fails becomes Failed with
// BackoffLimitExceeded, the StatefulSet's pods db-0 and db-1 start in that
// order with stable hostnames, and the DaemonSet runs one pod on the node; a
// new image rolls that pod.
func TestJobsAndDaemonSet(t *testing.T) {
	repo := newRepo(t)
	repo.write("workloads.yaml", workloadsYAML)
	repo.commit("jobs and a daemonset")
	c := newCluster(t, repo)
	c.start()

	job := func(name string) *batchv1.Job {
		obj, err := c.client.Get(context.Background(), manifest.KindJob, "default", name)
		if err != nil {
			return nil
		}
		return obj.(*batchv1.Job)
	}
	condition := func(j *batchv1.Job) string {
		for _, cond := range j.Status.Conditions {
			if cond.Status == corev1.ConditionTrue {
				return string(cond.Type) + "/" + cond.Reason
			}
		}
		return ""
	}
	c.waitFor("job touch Complete", 120*time.Second, func() (bool, string) {
		j := job("touch")
		if j == nil {
			return false, "no job"
		}
		return condition(j) == "Complete/", fmt.Sprintf("%+v", j.Status)
	})
	if j := job("touch"); j.Status.Succeeded != 2 || j.Status.Failed != 0 || j.Status.CompletionTime == nil {
		t.Errorf("job touch status %+v; want 2 succeeded and a completion time", j.Status)
	}
	c.waitFor("job broken Failed", 120*time.Second, func() (bool, string) {
		j := job("broken")
		if j == nil {
			return false, "no job"
		}
		return condition(j) == "Failed/BackoffLimitExceeded", fmt.Sprintf("%+v", j.Status)
	})
	succeeded := 0
	for _, p := range c.pods("default") {
		if p.Labels["batch.kubernetes.io/job-name"] == "touch" && p.Status.Phase == corev1.PodSucceeded {
			succeeded++
		}
	}
	if succeeded != 2 {
		t.Errorf("%d succeeded pods of job touch, want 2 (kept after completion)", succeeded)
	}

	c.waitFor("statefulset db ready", 90*time.Second, func() (bool, string) {
		obj, err := c.client.Get(context.Background(), manifest.KindStatefulSet, "default", "db")
		if err != nil {
			return false, err.Error()
		}
		st := obj.(*appsv1.StatefulSet).Status
		return st.ReadyReplicas == 2, fmt.Sprintf("%+v", st)
	})
	var db0, db1 *corev1.Pod
	for _, p := range c.pods("default") {
		switch p.Name {
		case "db-0":
			db0 = p
		case "db-1":
			db1 = p
		}
	}
	if db0 == nil || db1 == nil {
		t.Fatalf("pods db-0 and db-1 missing")
	}
	if db0.Spec.Hostname != "db-0" || db0.Spec.Subdomain != "db" {
		t.Errorf("db-0 hostname %q subdomain %q", db0.Spec.Hostname, db0.Spec.Subdomain)
	}
	if !db0.CreationTimestamp.Before(&db1.CreationTimestamp) && !db0.CreationTimestamp.Equal(&db1.CreationTimestamp) {
		t.Errorf("db-1 (%v) was created before db-0 (%v)", db1.CreationTimestamp, db0.CreationTimestamp)
	}
	if ready := readySinceE2E(db0); ready.IsZero() || db1.CreationTimestamp.Time.Before(ready.Truncate(time.Second)) {
		t.Errorf("db-1 created at %v, before db-0 was ready at %v", db1.CreationTimestamp, ready)
	}

	daemonPod := func(image string) *corev1.Pod {
		var found *corev1.Pod
		c.waitFor("daemon pod running "+image, 90*time.Second, func() (bool, string) {
			var desc []string
			for _, p := range c.pods("default") {
				if p.Labels["app"] != "agent" {
					continue
				}
				desc = append(desc, p.Name+":"+string(p.Status.Phase)+":"+p.Spec.Containers[0].Image)
				if p.DeletionTimestamp == nil && isReady(p) && p.Spec.Containers[0].Image == image && p.Spec.NodeName == "node-1" {
					found = p
				}
			}
			return found != nil && len(desc) == 1, strings.Join(desc, " ")
		})
		return found
	}
	first := daemonPod("tug.local/hello:v1")
	ds := strings.Index(workloadsYAML, "kind: DaemonSet")
	repo.write("workloads.yaml", workloadsYAML[:ds]+strings.Replace(workloadsYAML[ds:], "hello:v1", "hello:v2", 1))
	repo.commit("agent v2")
	second := daemonPod("tug.local/hello:v2")
	if second.UID == first.UID {
		t.Errorf("the daemon pod was not replaced")
	}
	c.waitFor("daemonset status", 30*time.Second, func() (bool, string) {
		obj, err := c.client.Get(context.Background(), manifest.KindDaemonSet, "default", "agent")
		if err != nil {
			return false, err.Error()
		}
		st := obj.(*appsv1.DaemonSet).Status
		return st.DesiredNumberScheduled == 1 && st.UpdatedNumberScheduled == 1 && st.NumberAvailable == 1, fmt.Sprintf("%+v", st)
	})
	out, err := c.tug("get", "jobs")
	if err != nil || !strings.Contains(out, "touch") || !strings.Contains(out, "Complete") || !strings.Contains(out, "2/2") {
		t.Errorf("tug get jobs: %v\n%s", err, out)
	}
}

func readySinceE2E(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
