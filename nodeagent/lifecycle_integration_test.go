package nodeagent

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestLifecycleHooksIntegration runs, on a real containerd:
//   - a pod whose postStart exec hook writes a file into its emptyDir, and
//     whose preStop httpGet hook calls the test (host 127.0.0.1, the agent's
//     own namespace) when the pod is deleted: the app still serves while
//     the hook runs, so the hook comes before the stop signal;
//   - a pod whose postStart hook fails: the container is killed and
//     restarted, and reported Waiting/PostStartHookError.
func TestLifecycleHooksIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	var err error

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	// The preStop hook's target: it checks that the app still serves, then
	// answers after a while (taken from the grace period).
	var podIP atomic.Value
	podIP.Store("")
	preStopCalls := make(chan string, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := httpGet(client, "http://"+podIP.Load().(string)+":8080/healthz")
		time.Sleep(500 * time.Millisecond)
		preStopCalls <- fmt.Sprintf("%s app:%q err:%v", r.URL.Path, body, err)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	const ns, node = "default", "node-1"
	grace := int64(5)
	hooked := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hooked", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: testenv.HelloV1Ref,
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/hello", "touch", "/data/post-start"}}},
					PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
						Host: "127.0.0.1", Port: intstr.FromInt(port), Path: "/pre-stop"}},
				},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	one := int64(1)
	failing := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bad-hook", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &one,
			Containers: []corev1.Container{{
				Name: "app", Image: testenv.HelloV1Ref,
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/hello", "touch", "/no/such/dir/x"}}},
				},
			}},
		},
	}
	if _, err := st.Apply([]manifest.Object{hooked, failing}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.10.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})

	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, ns, "hooked")
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("hooked not running: %+v", p.Status)
		}
		return ""
	})
	podIP.Store(p.Status.PodIP)
	podDir := filepath.Join(dataDir, "pods", ns+"_hooked_"+string(p.UID))
	data, err := os.ReadFile(filepath.Join(volume.Dir(podDir, "data"), "post-start"))
	if err != nil || string(data) != "touched\n" {
		t.Fatalf("postStart hook's file: %q, %v", data, err)
	}
	if cs := containerStatusOf(p, "app"); cs.RestartCount != 0 {
		t.Errorf("hooked restarted %d times", cs.RestartCount)
	}
	// The stop signal is the image's (the demo image sets none: SIGTERM),
	// recorded on the container for containerd.GetStopSignal.
	cont, err := ctrd.Client.LoadContainer(ctx, ContainerID(p.UID, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if labels, err := cont.Labels(ctx); err != nil || labels[containerd.StopSignalLabel] != "SIGTERM" {
		t.Errorf("stop signal label %q, %v", labels[containerd.StopSignalLabel], err)
	}

	// The failing hook: killed, restarted, reported.
	waitFor(t, 30*time.Second, func() string {
		q := getPod(t, st, ns, "bad-hook")
		cs := containerStatusOf(q, "app")
		if cs == nil || cs.RestartCount < 1 || cs.State.Waiting == nil || cs.State.Waiting.Reason != "PostStartHookError" {
			return fmt.Sprintf("bad-hook not restarted and waiting with PostStartHookError: %+v", q.Status)
		}
		return ""
	})

	// Delete hooked: preStop runs while the app still serves, then the
	// app stops on SIGTERM well within the grace period.
	deleteStart := time.Now()
	if err := st.Mutate(manifest.KeyOf(p), func(cur manifest.Object) (manifest.Object, error) {
		q := cur.(*corev1.Pod)
		now := metav1.Now()
		q.DeletionTimestamp = &now
		return q, nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case call := <-preStopCalls:
		if want := `/pre-stop app:"ok\n" err:<nil>`; call != want {
			t.Errorf("preStop call: %s, want %s", call, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("preStop hook never called")
	}
	waitFor(t, 30*time.Second, func() string {
		if getPod(t, st, ns, "hooked") != nil {
			return "hooked still in the store"
		}
		return ""
	})
	took := time.Since(deleteStart)
	t.Logf("hooked deleted after %s", took)
	if took > time.Duration(grace)*time.Second {
		t.Errorf("deletion took %s: SIGTERM did not stop the app before the grace period of %ds", took, grace)
	}
	select {
	case call := <-preStopCalls:
		t.Errorf("preStop hook called again: %s", call)
	default:
	}
}
