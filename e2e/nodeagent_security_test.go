package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
)

// TestNodeagentPodSecurityAndReadiness drives tugd through commits:
// a Deployment with an HTTP readiness probe runs but is not ready (tug get
// pods shows 0/1) until a file appears in its emptyDir, then 1/1; a
// privileged Deployment is refused under the default baseline level (the
// commit is rejected naming the control, no pod is created) and accepted
// once its namespace is labelled privileged, where it runs without seccomp.
func TestNodeagentPodSecurityAndReadiness(t *testing.T) {
	repo := newRepo(t)
	repo.write("ops.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n")
	repo.write("slow.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: slow}
  template:
    metadata:
      labels: {app: slow}
    spec:
      containers:
        - name: app
          image: tug.local/hello:v1
          env:
            - {name: READY_FILE, value: /data/ready}
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            httpGet: {path: /ready, port: http}
            periodSeconds: 1
            failureThreshold: 1
          volumeMounts:
            - {name: data, mountPath: /data}
      volumes:
        - name: data
          emptyDir: {}
`)
	repo.commit("ops namespace, slow app")
	c := newCluster(t, repo)
	c.start()

	// Running but unready until the ready file exists.
	var slow *corev1.Pod
	c.waitFor("slow running", 90*time.Second, func() (bool, string) {
		for _, p := range c.pods("default") {
			if p.Labels["app"] == "slow" && p.Status.Phase == corev1.PodRunning {
				slow = p
				return true, ""
			}
		}
		return false, "no running slow pod"
	})
	time.Sleep(2 * time.Second) // a few probe periods
	out, err := c.tug("get", "pods")
	if err != nil || !strings.Contains(firstLine(out, "slow-"), "0/1") || !strings.Contains(firstLine(out, "slow-"), "Running") {
		t.Errorf("before the ready file, tug get pods: %v\n%s", err, out)
	}
	readyFile := filepath.Join(volume.Dir(filepath.Join(c.dataDir, "pods", "default_"+slow.Name+"_"+string(slow.UID)), "data"), "ready")
	if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.waitFor("slow ready", 15*time.Second, func() (bool, string) {
		out, err := c.tug("get", "pods")
		return err == nil && strings.Contains(firstLine(out, "slow-"), "1/1"), out
	})

	// A privileged pod breaks the default level (baseline): rejected.
	priv := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: priv
  namespace: ops
spec:
  replicas: 1
  selector:
    matchLabels: {app: priv}
  template:
    metadata:
      labels: {app: priv}
    spec:
      containers:
        - name: app
          image: tug.local/hello:v1
          securityContext: {privileged: true}
`
	repo.write("priv.yaml", priv)
	sha := repo.commit("privileged app")
	var rec manifest.SyncRecord
	c.waitFor("sync record of "+sha[:7], 30*time.Second, func() (bool, string) {
		recs, err := c.client.Syncs(context.Background(), 20)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range recs {
			if r.SHA == sha {
				rec = r
				return true, ""
			}
		}
		return false, "no record yet"
	})
	if rec.Outcome != manifest.OutcomeRejected || !strings.Contains(strings.Join(rec.Errors, "\n"), `control "Privileged Containers"`) ||
		!strings.Contains(strings.Join(rec.Errors, "\n"), "priv.yaml:") {
		t.Errorf("privileged commit under baseline: outcome %s, errors %q; want Rejected naming the control and the file", rec.Outcome, rec.Errors)
	}
	if pods := c.pods("ops"); len(pods) != 0 {
		t.Errorf("a refused pod reached the node: %d pods in ops", len(pods))
	}

	// Labelled privileged: accepted, and it runs without seccomp.
	repo.write("ops.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n")
	repo.commit("ops is privileged")
	pods := c.runningPods("ops", 1, 90*time.Second)
	c.waitFor("privileged pod serving /caps without seccomp", 20*time.Second, func() (bool, string) {
		body, err := c.get(fmt.Sprintf("http://%s:8080/caps", pods[0].Status.PodIP))
		return err == nil && strings.Contains(body, "Seccomp:\t0"), fmt.Sprintf("%v\n%s", err, body)
	})
	body, err := c.get(fmt.Sprintf("http://%s:8080/caps", slow.Status.PodIP))
	if err != nil || !strings.Contains(body, "Seccomp:\t2") {
		t.Errorf("default pod /caps (RuntimeDefault seccomp expected): %v\n%s", err, body)
	}
}
