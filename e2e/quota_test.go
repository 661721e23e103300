package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/health"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const quotaYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: quota
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: quota
spec:
  hard:
    pods: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: quota
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: tug.local/hello:v1
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: quota
spec:
  ports:
  - {name: pg, port: 5432}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: db
  namespace: quota
subsets:
- addresses:
  - ip: 192.0.2.10
  ports:
  - {name: pg, port: 5432}
`

// TestQuotaAdmission commits a namespace with a quota of one pod and a
// Deployment of two replicas on real containerd: one pod runs, the
// ReplicaSet gets a FailedCreate event and a ReplicaFailure condition naming
// the quota, the quota's status shows pods 1/1, and tug status shows the
// Deployment Progressing with that reason. A Service without a selector
// keeps the Endpoints committed beside it, mirrored into an EndpointSlice.
func TestQuotaAdmission(t *testing.T) {
	repo := newRepo(t)
	repo.write("quota.yaml", quotaYAML)
	repo.commit("a namespace with a quota of one pod")
	c := newCluster(t, repo)
	c.start()

	pods := c.runningPods("quota", 1, 90*time.Second)
	var rs *appsv1.ReplicaSet
	c.waitFor("ReplicaFailure on the ReplicaSet", 30*time.Second, func() (bool, string) {
		objs, err := c.client.List(context.Background(), manifest.KindReplicaSet, "quota", "")
		if err != nil || len(objs) != 1 {
			return false, fmt.Sprint(len(objs), err)
		}
		rs = objs[0].(*appsv1.ReplicaSet)
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", rs.Status)
	})
	want := fmt.Sprintf(`pods %q is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1`, rs.Name+"-")
	for _, cond := range rs.Status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure && (cond.Reason != "FailedCreate" || cond.Message != want) {
			t.Errorf("ReplicaFailure %s: %s; want FailedCreate: %s", cond.Reason, cond.Message, want)
		}
	}
	if got := c.pods("quota"); len(got) != 1 || got[0].UID != pods[0].UID {
		t.Errorf("pods changed under the quota: %d pods", len(got))
	}

	out, err := c.tug("get", "events", "-n", "quota")
	if err != nil || !strings.Contains(out, "FailedCreate") || !strings.Contains(out, "exceeded quota: compute") || !strings.Contains(out, rs.Name) {
		t.Errorf("tug get events: %v\n%s", err, out)
	}
	c.waitFor("quota status", 10*time.Second, func() (bool, string) {
		out, err := c.tug("get", "quota", "-n", "quota")
		return err == nil && strings.Contains(out, "pods: 1/1"), out
	})

	st, err := c.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var web *health.Result
	for i, r := range st.Health.Unhealthy {
		if r.Kind == manifest.KindDeployment && r.Namespace == "quota" && r.Name == "web" {
			web = &st.Health.Unhealthy[i]
		}
	}
	if web == nil || web.Status != health.Progressing || web.Reason != "FailedCreate" || web.Message != want {
		t.Errorf("health of Deployment quota/web: %+v; want Progressing: FailedCreate: %s", web, want)
	}
	out, err = c.tug("status")
	if line := firstLine(out, "Health:"); err != nil || !strings.Contains(line, "Progressing — Deployment quota/web: FailedCreate: "+want) {
		t.Errorf("tug status: %v\n%s", err, out)
	}

	// The committed Endpoints stay as committed, mirrored into a slice.
	obj, err := c.client.Get(context.Background(), manifest.KindEndpoints, "quota", "db")
	if err != nil {
		t.Fatal(err)
	}
	if ep := obj.(*corev1.Endpoints); len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.10" {
		t.Errorf("committed endpoints changed: %+v", ep.Subsets)
	}
	c.waitFor("mirrored EndpointSlice", 10*time.Second, func() (bool, string) {
		objs, err := c.client.List(context.Background(), manifest.KindEndpointSlice, "quota", "")
		if err != nil {
			return false, err.Error()
		}
		var desc []string
		for _, o := range objs {
			s := o.(*discoveryv1.EndpointSlice)
			desc = append(desc, s.Name)
			if s.Labels[discoveryv1.LabelServiceName] == "db" && len(s.Endpoints) == 1 && s.Endpoints[0].Addresses[0] == "192.0.2.10" {
				return true, ""
			}
		}
		return false, strings.Join(desc, " ")
	})
	if out, err := c.tug("get", "endpointslices", "-n", "quota"); err != nil || !strings.Contains(out, "192.0.2.10") {
		t.Errorf("tug get endpointslices: %v\n%s", err, out)
	}
}
