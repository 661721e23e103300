package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// TestNodeagentHostNetworkSysctlsAndGRPC drives tugd through commits: a
// hostNetwork Deployment and a pod asking for an unsafe sysctl are
// rejected (the first under the default baseline level, naming the
// control; the second at any level, naming the unsupported kubelet flag)
// and no pod is created; once the namespace is labelled privileged and the
// sysctl is a safe one, the hostNetwork pod serves on the node's address
// (its podIP is its hostIP), the sysctl reads back from inside, and a pod
// with a gRPC readiness probe on the demo app's health server is Ready.
func TestNodeagentHostNetworkSysctlsAndGRPC(t *testing.T) {
	repo := newRepo(t)
	repo.write("ops.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n")
	repo.write("grpc.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: grpcapp
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: grpcapp}
  template:
    metadata:
      labels: {app: grpcapp}
    spec:
      containers:
        - name: app
          image: tug.local/hello:v1
          env:
            - {name: GRPC_PORT, value: "9090"}
          readinessProbe:
            grpc: {port: 9090}
            periodSeconds: 1
`)
	repo.commit("ops namespace, grpc app")
	c := newCluster(t, repo)
	c.start()

	hostApp := func(sysctl string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hostapp
  namespace: ops
spec:
  replicas: 1
  selector:
    matchLabels: {app: hostapp}
  template:
    metadata:
      labels: {app: hostapp}
    spec:
      hostNetwork: true
      containers:
        - name: app
          image: tug.local/hello:v1
          env:
            - {name: PORT, value: "18090"}
          ports:
            - {containerPort: 18090}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tuned
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: tuned}
  template:
    metadata:
      labels: {app: tuned}
    spec:
      securityContext:
        sysctls:
          - {name: ` + sysctl + `, value: "1"}
      containers:
        - name: app
          image: tug.local/hello:v1
`
	}
	repo.write("host.yaml", hostApp("net.core.somaxconn"))
	sha := repo.commit("hostNetwork app, unsafe sysctl")
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
	errs := strings.Join(rec.Errors, "\n")
	if rec.Outcome != manifest.OutcomeRejected || !strings.Contains(errs, `hostNetwork must not be true (control "Host Namespaces")`) ||
		!strings.Contains(errs, "--allowed-unsafe-sysctls, which tug does not support") || !strings.Contains(errs, "host.yaml:") {
		t.Errorf("commit under baseline: outcome %s, errors %q; want Rejected naming the control, the unsafe sysctl and the file", rec.Outcome, rec.Errors)
	}
	if pods := c.pods("ops"); len(pods) != 0 {
		t.Errorf("a refused pod reached the node: %d pods in ops", len(pods))
	}

	// Privileged namespace and a safe sysctl: both run.
	repo.write("ops.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n")
	repo.write("host.yaml", hostApp("kernel.shm_rmid_forced"))
	repo.commit("ops is privileged, safe sysctl")
	hp := c.runningPods("ops", 1, 90*time.Second)[0]
	if hp.Status.PodIP == "" || hp.Status.PodIP != hp.Status.HostIP {
		t.Errorf("hostNetwork pod: podIP %q, hostIP %q; want the node's address", hp.Status.PodIP, hp.Status.HostIP)
	}
	c.waitFor("hostapp serving on the node's port", 15*time.Second, func() (bool, string) {
		body, err := c.get(fmt.Sprintf("http://%s:18090/", hp.Status.PodIP))
		return err == nil && strings.HasPrefix(body, "hello from "), fmt.Sprint(body, err)
	})
	var tuned *corev1.Pod
	c.waitFor("tuned running", 60*time.Second, func() (bool, string) {
		for _, p := range c.pods("default") {
			if p.Labels["app"] == "tuned" && p.Status.Phase == corev1.PodRunning {
				tuned = p
				return true, ""
			}
		}
		return false, "tuned not running"
	})
	c.waitFor("sysctl read back", 15*time.Second, func() (bool, string) {
		body, err := c.get(fmt.Sprintf("http://%s:8080/file?path=/proc/sys/kernel/shm_rmid_forced", tuned.Status.PodIP))
		return err == nil && strings.TrimSpace(body) == "1", fmt.Sprint(body, err)
	})

	// The gRPC readiness probe makes grpcapp Ready.
	c.waitFor("grpcapp ready", 60*time.Second, func() (bool, string) {
		for _, p := range c.pods("default") {
			if p.Labels["app"] == "grpcapp" && isReady(p) {
				return true, ""
			}
		}
		out, _ := c.tug("get", "pods")
		return false, out
	})
}
