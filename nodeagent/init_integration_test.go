package nodeagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/printers"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInitContainersIntegration runs a pod with two init containers on a
// real containerd. Each init container is the demo app, told to exit over
// HTTP on the pod IP: the first fails once (restarted, counted), then
// succeeds; the second succeeds; only then does the app container start.
// The status shows Init:0/2, Init:1/2 and finally Running through the
// printers, with the Initialized condition following.
func TestInitContainersIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	var err error

	const ns, name, node = "default", "with-init", "node-1"
	grace := int64(2)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			InitContainers: []corev1.Container{
				{Name: "first", Image: testenv.HelloV1Ref, Env: []corev1.EnvVar{{Name: "MESSAGE", Value: "first"}}},
				{Name: "second", Image: testenv.HelloV1Ref, Env: []corev1.EnvVar{{Name: "MESSAGE", Value: "second"}}},
			},
			Containers: []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref, Env: []corev1.EnvVar{{Name: "MESSAGE", Value: "app"}}}},
		},
	}
	if _, err := st.Apply([]manifest.Object{pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.9.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

	// summary waits until the printers show status (and the pod satisfies
	// cond, when given).
	var p *corev1.Pod
	summary := func(status string, cond func(*corev1.Pod) string) {
		t.Helper()
		waitFor(t, 30*time.Second, func() string {
			p = getPod(t, st, ns, name)
			if s := printers.SummarizePod(p, time.Now()); s.Status != status {
				return fmt.Sprintf("STATUS %q, want %q: %+v", s.Status, status, p.Status)
			}
			if cond != nil {
				return cond(p)
			}
			return ""
		})
	}
	initRunning := func(i int, restarts int32) func(*corev1.Pod) string {
		return func(p *corev1.Pod) string {
			if len(p.Status.InitContainerStatuses) != 2 {
				return "no init container statuses"
			}
			cs := p.Status.InitContainerStatuses[i]
			if cs.State.Running == nil || cs.RestartCount != restarts {
				return fmt.Sprintf("init container %s not running with %d restarts: %+v", cs.Name, restarts, cs)
			}
			return ""
		}
	}
	// exit asks the init container listening on the pod IP to exit with
	// code, checking first that it is the one expected.
	exit := func(who string, code int) {
		t.Helper()
		waitFor(t, 10*time.Second, func() string {
			body, err := httpGet(client, "http://"+p.Status.PodIP+":8080/")
			if err != nil {
				return err.Error()
			}
			if want := "(version v1): " + who + "\n"; !strings.HasSuffix(body, want) {
				t.Fatalf("GET / answered %q, want the %s init container", body, who)
			}
			if _, err := httpGet(client, fmt.Sprintf("http://%s:8080/exit?code=%d", p.Status.PodIP, code)); err != nil {
				return err.Error()
			}
			return ""
		})
	}

	summary("Init:0/2", initRunning(0, 0))
	if c := conditionOf(p, corev1.PodInitialized); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" {
		t.Errorf("Initialized condition while the first init container runs: %+v", c)
	}
	if cs := containerStatusOf(p, "app"); cs == nil || cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("app container status while initializing: %+v", cs)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase while initializing: %s", p.Status.Phase)
	}

	exit("first", 1) // a failure: restarted at once (first restart), counted
	summary("Init:0/2", initRunning(0, 1))
	if lt := p.Status.InitContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 {
		t.Errorf("first init container's last state: %+v", p.Status.InitContainerStatuses[0].LastTerminationState)
	}
	exit("first", 0)
	summary("Init:1/2", initRunning(1, 0))
	if cs := p.Status.InitContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || !cs.Ready {
		t.Errorf("first init container after exit 0: %+v", cs)
	}
	exit("second", 0)
	summary("Running", func(p *corev1.Pod) string {
		if !podReady(p) {
			return "not ready"
		}
		return ""
	})
	if c := conditionOf(p, corev1.PodInitialized); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Initialized condition after the init containers: %+v", c)
	}
	// Ready without a readiness probe means started, not yet listening.
	waitFor(t, 10*time.Second, func() string {
		body, err := httpGet(client, "http://"+p.Status.PodIP+":8080/")
		if err != nil || !strings.HasSuffix(body, "(version v1): app\n") {
			return fmt.Sprintf("app answered %q, %v", body, err)
		}
		return ""
	})

	if err := st.Mutate(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
		p := cur.(*corev1.Pod)
		now := metav1.Now()
		p.DeletionTimestamp = &now
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string {
		if getPod(t, st, ns, name) != nil {
			return "pod still in the store"
		}
		return ""
	})
	all, err := ctrd.Client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("%d containers left (init containers included)", len(all))
	}
}
