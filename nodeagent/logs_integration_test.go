package nodeagent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLogDriverIntegration runs the demo app with the log driver (the test
// binary, see TestMain) and small rotation limits on a real containerd:
// timestamps, since, tail, rotation by size and count, follow across
// rotations, logs written while the agent is down (adopted, not restarted)
// and the previous run's log.
func TestLogDriverIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd := testenv.StartContainerd(t, "")
	ctx := ctrd.Context(t)
	v1, _ := testenv.HelloImages(t)
	importImage(t, ctx, ctrd.Client, v1)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	dataDir := t.TempDir()
	t.Cleanup(func() {
		for _, m := range slices.Backward(mountsUnder(t, dataDir)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	const ns, name, node = "default", "logger", "node-1"
	grace := int64(2)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref}}},
	}
	if _, err := st.Apply([]manifest.Object{pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.12.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
		LogDriver: exe, ContainerLogMaxSize: 2048, ContainerLogMaxFiles: 3,
	}
	ta := startAgent(t, cfg)

	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, ns, name)
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("not running: %+v", p.Status)
		}
		return ""
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	get := func(path string) {
		t.Helper()
		waitFor(t, 10*time.Second, func() string {
			resp, err := client.Get("http://" + p.Status.PodIP + ":8080" + path) // any status: the request is logged
			if err != nil {
				return err.Error()
			}
			resp.Body.Close()
			return ""
		})
	}
	read := func(agent *Agent, opts *corev1.PodLogOptions) string {
		t.Helper()
		rc, err := agent.Logs(context.Background(), ns, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// waitLog waits until the log holds want (the driver writes
	// asynchronously).
	waitLog := func(agent *Agent, want string) {
		t.Helper()
		waitFor(t, 10*time.Second, func() string {
			if out := read(agent, nil); !strings.Contains(out, want) {
				return fmt.Sprintf("log has no %q", want)
			}
			return ""
		})
	}

	get("/first-1")
	get("/first-2")
	waitLog(ta.agent, "path=/first-2 ")
	time.Sleep(50 * time.Millisecond)
	between := metav1.NewTime(time.Now())
	time.Sleep(50 * time.Millisecond)
	get("/second-1")
	waitLog(ta.agent, "path=/second-1 ")

	// Timestamps: every line starts with its time.
	for _, line := range strings.Split(strings.TrimSuffix(read(ta.agent, &corev1.PodLogOptions{Timestamps: true}), "\n"), "\n") {
		ts, rest, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || strings.HasPrefix(rest, "20") {
			t.Errorf("line without a timestamp: %q", line)
		}
	}
	// Since: only what came after.
	if out := read(ta.agent, &corev1.PodLogOptions{SinceTime: &between}); strings.Contains(out, "/first-") || !strings.Contains(out, "/second-1") {
		t.Errorf("since %s:\n%s", between.Format(time.RFC3339Nano), out)
	}
	// Tail.
	if out := read(ta.agent, &corev1.PodLogOptions{TailLines: ptr(int64(1))}); strings.Count(out, "\n") != 1 || !strings.Contains(out, "/second-1") {
		t.Errorf("tail 1:\n%s", out)
	}

	// Follow while the log rotates: every request shows, in order.
	rc, err := ta.agent.Logs(context.Background(), ns, name, &corev1.PodLogOptions{Follow: true, SinceTime: &between})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	followed := make(chan string, 1)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(b.String(), fmt.Sprintf("path=/rot-%d ", n-1)) {
			k, err := rc.Read(buf)
			b.Write(buf[:k])
			if err != nil {
				break
			}
		}
		followed <- b.String()
	}()
	for i := range n {
		get(fmt.Sprintf("/rot-%d", i))
		time.Sleep(20 * time.Millisecond) // a file (about 13 lines) outlasts the follower's poll
	}
	select {
	case out := <-followed:
		last := -1
		for _, line := range strings.Split(out, "\n") {
			_, after, ok := strings.Cut(line, "path=/rot-")
			var i int
			if _, err := fmt.Sscanf(after, "%d", &i); ok && err == nil {
				if i != last+1 {
					t.Errorf("follow: /rot-%d after /rot-%d", i, last)
				}
				last = i
			}
		}
		if last != n-1 {
			t.Errorf("follow ended at /rot-%d", last)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("follow did not see every request")
	}
	rc.Close()
	podDir := filepath.Join(dataDir, "pods", ns+"_"+name+"_"+string(p.UID), "app")
	files, _ := filepath.Glob(filepath.Join(podDir, "0.log*"))
	slices.Sort(files)
	if want := []string{"0.log", "0.log.1", "0.log.2"}; len(files) != len(want) {
		t.Errorf("log files %v, want %v", files, want)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 2048 {
			t.Errorf("%s: %v bytes, %v", f, fi.Size(), err)
		}
	}

	// The agent goes; the app keeps logging; a new agent adopts it and
	// reads what was written meanwhile.
	ta.stop()
	get("/while-down")
	ta2 := startAgent(t, cfg)
	waitLog(ta2.agent, "path=/while-down ")
	if cs := containerStatusOf(getPod(t, st, ns, name), "app"); cs.RestartCount != 0 {
		t.Errorf("adoption restarted the container: %+v", cs)
	}

	// Previous: the run before the restart.
	get("/exit?code=1")
	waitFor(t, 30*time.Second, func() string {
		if cs := containerStatusOf(getPod(t, st, ns, name), "app"); cs.RestartCount < 1 || cs.State.Running == nil {
			return "not restarted"
		}
		return ""
	})
	waitFor(t, 10*time.Second, func() string {
		if out := read(ta2.agent, &corev1.PodLogOptions{Previous: true}); !strings.Contains(out, "hello exiting on request") {
			return "previous:\n" + out
		}
		return ""
	})
	// The new run logs asynchronously: wait for its first line.
	waitFor(t, 10*time.Second, func() string {
		if out := read(ta2.agent, nil); strings.Contains(out, "exiting on request") || !strings.Contains(out, "hello listening") {
			return "current run:\n" + out
		}
		return ""
	})
}

func ptr[T any](v T) *T { return &v }
