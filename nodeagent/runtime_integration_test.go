package nodeagent

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func nodeReady(t *testing.T, st interface {
	Get(manifest.Key) (manifest.Object, error)
}, name string) *corev1.NodeCondition {
	t.Helper()
	obj, err := st.Get(manifest.Key{Kind: manifest.KindNode, Name: name})
	if err != nil {
		return nil
	}
	for _, c := range obj.(*corev1.Node).Status.Conditions {
		if c.Type == corev1.NodeReady {
			return &c
		}
	}
	return nil
}

// TestRuntimeDownIntegration kills containerd (by its PID; containerdproc
// restarts it after its back-off): the node turns Ready=False with
// ContainerRuntimeNotReady, nothing of the running pod is removed, and once
// containerd answers again the node is Ready and the pod's container is
// adopted: same process, no restart.
func TestRuntimeDownIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	const node = "node-1"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref}}},
	}
	if _, err := st.Apply([]manifest.Object{pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.14.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: logger, RuncRoot: ctrd.RuncRoot,
	})
	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, "default", "survivor")
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("not running: %+v", p.Status.ContainerStatuses)
		}
		if c := nodeReady(t, st, node); c == nil || c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("node not ready: %+v", c)
		}
		return ""
	})
	id := ContainerID(p.UID, "app")
	pid := mustTask(t, ctx, ctrd.Client, id).Pid()
	podIP := p.Status.PodIP

	ctrdPid := ctrd.Proc.Pid()
	if err := syscall.Kill(ctrdPid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill containerd %d: %v", ctrdPid, err)
	}
	waitFor(t, 20*time.Second, func() string {
		c := nodeReady(t, st, node)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ContainerRuntimeNotReady" ||
			!strings.HasPrefix(c.Message, "container runtime is down") {
			return fmt.Sprintf("node not NotReady/ContainerRuntimeNotReady: %+v", c)
		}
		return ""
	})
	// Nothing was removed meanwhile.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Errorf("the container's process %d is gone while containerd is down: %v", pid, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "netns", string(p.UID))); err != nil {
		t.Errorf("the pod's netns is gone: %v", err)
	}

	waitFor(t, 60*time.Second, func() string {
		if ctrd.Proc.Pid() == ctrdPid || ctrd.Proc.Pid() == 0 {
			return "containerd not restarted"
		}
		if c := nodeReady(t, st, node); c == nil || c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("node not Ready again: %+v", c)
		}
		return ""
	})
	if got := mustTask(t, ctx, ctrd.Client, id).Pid(); got != pid {
		t.Errorf("container process %d after containerd's restart, want %d (adopted)", got, pid)
	}
	time.Sleep(2 * time.Second) // a few passes after the reconnection
	p = getPod(t, st, "default", "survivor")
	if cs := containerStatusOf(p, "app"); cs == nil || cs.RestartCount != 0 || cs.State.Running == nil || p.Status.PodIP != podIP {
		t.Errorf("pod after containerd's restart: IP %s (want %s), %+v", p.Status.PodIP, podIP, cs)
	}
	for _, want := range []string{"container runtime is down", "container runtime is back"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("agent did not log %q", want)
		}
	}
}
