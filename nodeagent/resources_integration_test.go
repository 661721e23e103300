package nodeagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestResourcesIntegration runs a Burstable pod with CPU and memory limits
// on a real containerd: its cgroup (v1) holds the memory limit, the CFS
// quota and the shares, its process the oom_score_adj of its class, and
// its status the QoS class. Asked to allocate more than its limit, it is
// OOM-killed: reported exit code 137, reason OOMKilled (then as lastState
// after the restart).
func TestResourcesIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)

	const ns, name, node = "default", "limited", "node-1"
	grace := int64(2)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: testenv.HelloV1Ref,
				Resources: corev1.ResourceRequirements{
					Requests: res("cpu", "250m", "memory", "32Mi"),
					Limits:   res("cpu", "500m", "memory", "48Mi"),
				},
			}},
		},
	}
	if _, err := st.Apply([]manifest.Object{pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ta := startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.11.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})

	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, ns, name)
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("not running: %+v", p.Status)
		}
		return ""
	})
	if p.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", p.Status.QOSClass)
	}
	task := mustTask(t, ctx, ctrd.Client, ContainerID(p.UID, "app"))
	pid := int(task.Pid())
	for _, c := range []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(48 << 20)},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "256"},
	} {
		if got := cgroupFile(t, pid, c.controller, c.file); got != c.want {
			t.Errorf("%s: %s, want %s", c.file, got, c.want)
		}
	}
	wantAdj := strconv.Itoa(oomScoreAdj(corev1.PodQOSBurstable, &pod.Spec.Containers[0], ta.agent.host.MemoryBytes))
	if got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); strings.TrimSpace(string(got)) != wantAdj {
		t.Errorf("oom_score_adj %q, want %s", got, wantAdj)
	}

	// Past the limit: OOM-killed.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	waitFor(t, 10*time.Second, func() string { // Running: started, maybe not listening yet
		if body, err := httpGet(client, "http://"+p.Status.PodIP+":8080/alloc?mb=16"); err != nil {
			return fmt.Sprintf("alloc within the limit: %q %v", body, err)
		}
		return ""
	})
	_, _ = httpGet(client, "http://"+p.Status.PodIP+":8080/alloc?mb=64") // dies answering
	waitFor(t, 30*time.Second, func() string {
		p = getPod(t, st, ns, name)
		cs := containerStatusOf(p, "app")
		term := cs.LastTerminationState.Terminated
		if cs.State.Terminated != nil {
			term = cs.State.Terminated
		}
		if cs.RestartCount < 1 || term == nil || term.ExitCode != 137 || term.Reason != "OOMKilled" {
			return fmt.Sprintf("not restarted after an OOM kill (137, OOMKilled): %+v", cs)
		}
		return ""
	})
}

// cgroupFile reads file of process pid's cgroup v1 controller.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), controller) {
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f[1], f[2], file))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("process %d has no %s cgroup: %s", pid, controller, data)
	return ""
}
