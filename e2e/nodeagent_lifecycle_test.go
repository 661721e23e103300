package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestNodeagentLogsAndLifecycle runs, through the real tugd and tug:
// a pod with a postStart hook, memory limits (QoS Burstable) and the log
// driver (tugd itself): `tug logs` with --timestamps, --since-time and
// --tail; logs written while tugd is down read back after kill -9 and a
// restart, with no restart of the container; an OOM kill reported as
// OOMKilled/137 and the previous run's log with --previous; and the node's
// pressure conditions.
func TestNodeagentLogsAndLifecycle(t *testing.T) {
	repo := newRepo(t)
	repo.write("app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: logged
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: logged}
  template:
    metadata:
      labels: {app: logged}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: tug.local/hello:v1
          lifecycle:
            postStart:
              exec: {command: [/hello, touch, /tmp/started]}
          resources:
            requests: {memory: 32Mi, cpu: 100m}
            limits: {memory: 48Mi}
`)
	repo.commit("logged: deploy")
	c := newCluster(t, repo)
	c.start()
	pod := c.runningPods("default", 1, 90*time.Second)[0]
	if pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", pod.Status.QOSClass)
	}
	url := "http://" + pod.Status.PodIP + ":8080"
	hit := func(path string) {
		t.Helper()
		_, _ = c.get(url + path) // any status: the request is logged
	}
	logs := func(args ...string) string {
		t.Helper()
		out, err := c.tug(append([]string{"logs", pod.Name}, args...)...)
		if err != nil {
			t.Fatalf("tug logs %v: %v\n%s", args, err, out)
		}
		return out
	}
	waitLog := func(want string) {
		t.Helper()
		c.waitFor("log line "+want, 20*time.Second, func() (bool, string) {
			return strings.Contains(logs(), want), ""
		})
	}

	hit("/before")
	waitLog("path=/before ")
	time.Sleep(100 * time.Millisecond)
	mark := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(100 * time.Millisecond)
	hit("/after")
	waitLog("path=/after ")
	if out := logs("--since-time", mark); strings.Contains(out, "/before") || !strings.Contains(out, "/after") {
		t.Errorf("tug logs --since-time %s:\n%s", mark, out)
	}
	out := logs("--timestamps", "--tail", "1")
	ts, rest, _ := strings.Cut(strings.TrimSpace(out), " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.Contains(rest, "path=/after") || strings.Count(out, "\n") != 1 {
		t.Errorf("tug logs --timestamps --tail 1:\n%s", out)
	}

	// kill -9: the app keeps logging; the restarted tugd adopts it.
	c.stop(syscall.SIGKILL)
	hit("/while-down")
	c.start()
	waitLog("path=/while-down ")
	time.Sleep(3 * time.Second)
	if p := c.runningPods("default", 1, 30*time.Second)[0]; p.UID != pod.UID || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("pod replaced or restarted across the restart: %+v", p.Status.ContainerStatuses)
	}

	// Past its memory limit: OOMKilled, 137, then restarted.
	hit("/alloc?mb=16")
	hit("/alloc?mb=64")
	c.waitFor("OOMKilled in lastState", 60*time.Second, func() (bool, string) {
		p := c.pods("default")[0]
		cs := p.Status.ContainerStatuses[0]
		lt := cs.LastTerminationState.Terminated
		return cs.RestartCount == 1 && lt != nil && lt.Reason == "OOMKilled" && lt.ExitCode == 137, fmt.Sprintf("%+v", cs)
	})
	if out := logs("--previous"); !strings.Contains(out, "path=/while-down") {
		t.Errorf("tug logs --previous:\n%s", out)
	}

	// The node's conditions.
	out, err := c.tug("get", "node", "node-1", "-o", "yaml")
	if err != nil {
		t.Fatalf("tug get node: %v\n%s", err, out)
	}
	for _, want := range []string{"type: MemoryPressure", "type: DiskPressure", "type: PIDPressure", "KubeletHasSufficientMemory", "containerRuntimeVersion: containerd://", "kernelVersion:"} {
		if !strings.Contains(out, want) {
			t.Errorf("node lacks %q:\n%s", want, out)
		}
	}
}
