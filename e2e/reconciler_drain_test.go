package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	drainWebYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: tug.local/hello:v1
          env:
            - {name: MESSAGE, value: drain}
`
	drainPDBYAML = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: default
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
`
)

// TestDrainThroughDisruptionBudget runs tugd on real containerd with two
// web pods under a budget of minAvailable 1, then cordons its only node
// through Git: one pod is evicted, its replacement stays Pending with
// FailedScheduling in kube-scheduler's words, and the budget keeps the
// other one running (EvictionBlocked). Uncordoning binds the pending pod.
func TestDrainThroughDisruptionBudget(t *testing.T) {
	repo := newRepo(t)
	repo.write("web.yaml", drainWebYAML)
	repo.write("pdb.yaml", drainPDBYAML)
	repo.commit("web with a budget")
	c := newCluster(t, repo)
	c.start()
	c.runningPods("default", 2, 90*time.Second)
	tugOut := func(args ...string) string {
		out, err := c.tug(args...)
		if err != nil {
			return "error: " + err.Error() + ": " + out
		}
		return out
	}
	c.waitFor("budget allowing 1 disruption", 30*time.Second, func() (bool, string) {
		out := tugOut("get", "pdb")
		return strings.Contains(out, "ALLOWED DISRUPTIONS") && strings.Fields(strings.SplitN(out, "\n", 3)[1])[3] == "1", out
	})

	repo.write("node.yaml", cordonedNodeYAML)
	c.syncRecord(repo.commit("cordon node-1"))
	c.waitFor("one pod evicted and pending, the other kept by the budget", 60*time.Second, func() (bool, string) {
		events := tugOut("get", "events")
		running, pending := 0, 0
		for _, p := range c.pods("default") {
			switch {
			case p.DeletionTimestamp != nil:
			case p.Spec.NodeName == "node-1" && isReady(p):
				running++
			case p.Spec.NodeName == "":
				pending++
			}
		}
		ok := running == 1 && pending == 1 &&
			strings.Contains(events, "FailedScheduling") && strings.Contains(events, "0/1 nodes are available: 1 node(s) were unschedulable.") &&
			strings.Contains(events, "Evicted") && strings.Contains(events, "EvictionBlocked") &&
			strings.Contains(events, "disruption budget default/web")
		return ok, fmt.Sprintf("running %d pending %d\n%s", running, pending, events)
	})
	time.Sleep(3 * time.Second) // more passes: the budget still holds
	if out := tugOut("get", "pdb"); strings.Fields(strings.SplitN(out, "\n", 3)[1])[3] != "0" {
		t.Errorf("budget during the drain:\n%s", out)
	}
	running := 0
	for _, p := range c.pods("default") {
		if p.DeletionTimestamp == nil && p.Spec.NodeName == "node-1" {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d pods left on the cordoned node; the budget keeps 1", running)
	}

	repo.git("rm", "-q", "node.yaml")
	c.syncRecord(repo.commit("uncordon node-1"))
	c.runningPods("default", 2, 90*time.Second)
	if out := tugOut("get", "events"); !strings.Contains(out, "Scheduled") {
		t.Errorf("no Scheduled event:\n%s", out)
	}
}
