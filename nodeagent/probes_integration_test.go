package nodeagent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestProbesIntegration runs probes against real containers: an HTTP
// readiness probe that fails until a file appears in the pod's emptyDir
// (then passes, then fails again when the file goes), gated by an HTTP
// startup probe, with a tcpSocket liveness probe that keeps passing; and an
// exec liveness probe that fails (the demo binary run a second time cannot
// bind its port), so the container is killed and restarted with its
// restart count raised.
func TestProbesIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	var err error

	const ns, node = "default", "node-1"
	grace := int64(2)
	httpProbe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
	}
	pod := func(name string, c corev1.Container, vols ...corev1.Volume) *corev1.Pod {
		c.Name, c.Image = "app", testenv.HelloV1Ref
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{c}, Volumes: vols},
		}
	}
	// A startup probe that gives the app time to listen (failureThreshold
	// 1 would kill it before it listens, as the kubelet would).
	startup := httpProbe("/healthz")
	startup.FailureThreshold = 30
	readyPod := pod("ready-later", corev1.Container{
		Env:            []corev1.EnvVar{{Name: "READY_FILE", Value: "/data/ready"}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		StartupProbe:   startup,
		ReadinessProbe: httpProbe("/ready"),
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
			PeriodSeconds: 1, FailureThreshold: 1,
		},
	}, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	sickPod := pod("unhealthy", corev1.Container{
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/hello"}}},
			PeriodSeconds: 1, FailureThreshold: 2, TimeoutSeconds: 2,
		},
	})
	if _, err := st.Apply([]manifest.Object{readyPod, sickPod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	readyUID := getPod(t, st, ns, "ready-later").UID

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.8.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})

	// Running but not ready: the readiness probe answers 503, and the
	// startup probe has let it run.
	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, ns, "ready-later")
		cs := containerStatusOf(p, "app")
		if p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil || cs.Started == nil || !*cs.Started {
			return fmt.Sprintf("ready-later not running and started: %+v", p.Status)
		}
		return ""
	})
	time.Sleep(2500 * time.Millisecond) // several readiness periods
	p = getPod(t, st, ns, "ready-later")
	if cs := containerStatusOf(p, "app"); podReady(p) || cs.Ready {
		t.Fatalf("ready-later is ready before its ready file exists: %+v", p.Status)
	}
	if c := conditionOf(p, corev1.ContainersReady); c == nil || c.Reason != "ContainersNotReady" {
		t.Errorf("ContainersReady condition: %+v", c)
	}

	// The file appears: ready within a few periods.
	readyFile := filepath.Join(volume.Dir(filepath.Join(dataDir, "pods", ns+"_ready-later_"+string(readyUID)), "data"), "ready")
	if err := os.WriteFile(readyFile, []byte("yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrote := time.Now()
	waitFor(t, 10*time.Second, func() string {
		if p = getPod(t, st, ns, "ready-later"); !podReady(p) {
			return "ready-later not ready after its ready file appeared"
		}
		return ""
	})
	t.Logf("ready %s after the ready file appeared", time.Since(wrote))

	// The file goes: unready again, never restarted (liveness passes).
	if err := os.Remove(readyFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string {
		if p = getPod(t, st, ns, "ready-later"); podReady(p) {
			return "ready-later still ready after its ready file went"
		}
		return ""
	})
	if cs := containerStatusOf(p, "app"); cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("ready-later restarted or stopped: %+v", cs)
	}

	// The exec liveness probe fails: killed and restarted, counted.
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, ns, "unhealthy")
		cs := containerStatusOf(p, "app")
		if cs == nil || cs.RestartCount < 1 || cs.LastTerminationState.Terminated == nil {
			return fmt.Sprintf("unhealthy not restarted: %+v", p.Status)
		}
		return ""
	})
	t.Logf("unhealthy: %+v", containerStatusOf(p, "app"))

	// Delete both: nothing left.
	for _, name := range []string{"ready-later", "unhealthy"} {
		if err := st.Mutate(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
			p := cur.(*corev1.Pod)
			now := metav1.Now()
			p.DeletionTimestamp = &now
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, func() string {
		for _, name := range []string{"ready-later", "unhealthy"} {
			if getPod(t, st, ns, name) != nil {
				return name + " still in the store"
			}
		}
		return ""
	})
	all, err := ctrd.Client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("%d containers left", len(all))
	}
}

func conditionOf(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
