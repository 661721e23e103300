package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/snapshots"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/podnet"
	"github.com/tug-dev/tug/state"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// innerEnv marks the re-run of the test binary inside the test's network
// namespace; its value is the namespace's path.
const innerEnv = "TUG_NODEAGENT_TEST_NETNS"

// runInNetNS re-runs the current test under nsenter --net into a fresh test
// namespace, so the agent's bridge, routes and pod traffic stay inside it
// (the agent runs CNI plugins in its own process's namespace). It returns
// true in the re-run, where the test body must run; in the outer run it
// waits for the inner one, reports its output and returns false.
func runInNetNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv(innerEnv) != "" {
		return true
	}
	testenv.Require(t, "ip", "nsenter", "containerd", "containerd-shim-runc-v2", "runc",
		"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback")
	ns := testenv.NewNetNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), innerEnv+"="+ns.Path)
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns.Name, out)
	if err != nil {
		t.Fatalf("test inside netns %s: %v", ns.Name, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test inside netns %s did not pass (skipped?)", ns.Name)
	}
	return false
}

type testAgent struct {
	agent  *Agent
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t *testing.T, cfg Config) *testAgent {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(ta.stop)
	return ta
}

func (ta *testAgent) stop() {
	ta.cancel()
	if err := <-ta.done; err != nil {
		panic(fmt.Sprintf("agent Run: %v", err))
	}
	ta.done <- nil // later stops return at once
}

func getPod(t *testing.T, st *state.Store, ns, name string) *corev1.Pod {
	t.Helper()
	obj, err := st.Get(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: name})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

// waitFor polls cond until it returns "" or timeout passes; cond returns
// what is still missing.
func waitFor(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containerStatusOf(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func httpGet(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), err
}

// mountsUnder lists mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

func importImage(t *testing.T, ctx context.Context, client *containerd.Client, archive string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := client.Import(ctx, f)
	if err != nil {
		t.Fatalf("import %s: %v", archive, err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(client, img).Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
			t.Fatalf("unpack %s: %v", img.Name, err)
		}
	}
}

// TestAgentIntegration runs a two-container pod on a real containerd with
// CNI inside a test network namespace: configmap env, a secret volume,
// HTTP on the pod IP, a restart after a kill, adoption by a second agent
// without restarting anything, and a graceful delete that leaves nothing
// behind.
func TestAgentIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd := testenv.StartContainerd(t, "")
	ctx := ctrd.Context(t)
	v1, _ := testenv.HelloImages(t)
	importImage(t, ctx, ctrd.Client, v1)

	dataDir := t.TempDir()
	t.Cleanup(func() { // runs before TempDir's removal: never leave mounts behind
		for _, m := range slices.Backward(mountsUnder(t, dataDir)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	const ns, podName, node = "shop", "web-1", "node-1"
	optional := true
	grace := int64(5)
	objects := []manifest.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: ns}, Data: map[string]string{"MESSAGE": "hi from the configmap"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: ns}, Data: map[string][]byte{"token": []byte("s3cret-token\n")}},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns},
			Spec: corev1.PodSpec{
				NodeName:                      node,
				TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{
					{
						Name: "web", Image: testenv.HelloV1Ref,
						Env: []corev1.EnvVar{
							{Name: "MESSAGE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "MESSAGE"}}},
							{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope", Optional: &optional}}},
							{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "GREETING", Value: "$(POD_NAME) says $(MESSAGE)"},
						},
					},
					{
						Name: "side", Image: testenv.HelloV1Ref,
						Env:          []corev1.EnvVar{{Name: "PORT", Value: "8081"}, {Name: "MESSAGE_FILE", Value: "/etc/token/token"}},
						VolumeMounts: []corev1.VolumeMount{{Name: "token", MountPath: "/etc/token"}},
					},
				},
				Volumes: []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "token"}}}},
			},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
		},
	}
	if _, err := st.Apply(objects, nil, nil); err != nil {
		t.Fatal(err)
	}
	uid := getPod(t, st, ns, podName).UID

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.7.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	}
	first := startAgent(t, cfg)

	// Running, ready, with an IP from the pod CIDR.
	start := time.Now()
	var pod *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		pod = getPod(t, st, ns, podName)
		if pod.Status.Phase != corev1.PodRunning || !podReady(pod) || pod.Status.PodIP == "" {
			return fmt.Sprintf("pod not running and ready: %+v", pod.Status)
		}
		return ""
	})
	t.Logf("pod running and ready after %s, IP %s", time.Since(start), pod.Status.PodIP)
	if !strings.HasPrefix(pod.Status.PodIP, "10.42.7.") || pod.Status.HostIP != "127.0.0.1" || pod.Status.StartTime == nil {
		t.Errorf("status: podIP %q hostIP %q startTime %v", pod.Status.PodIP, pod.Status.HostIP, pod.Status.StartTime)
	}
	if c := pod.Status.Conditions; len(c) == 0 || c[0].Type != corev1.PodScheduled {
		t.Errorf("PodScheduled condition not kept: %+v", c)
	}
	ip := pod.Status.PodIP
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var body string
	waitFor(t, 10*time.Second, func() string {
		body, err = httpGet(client, "http://"+ip+":8080/")
		if err != nil {
			return err.Error()
		}
		return ""
	})
	if want := "hello from web-1 (version v1): hi from the configmap"; !strings.Contains(body, want) {
		t.Errorf("web answered %q, want %q", body, want)
	}
	envDump, err := httpGet(client, "http://"+ip+":8080/env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GREETING=web-1 says hi from the configmap", "POD_NAME=web-1"} {
		if !strings.Contains(envDump, want) {
			t.Errorf("env of web lacks %q:\n%s", want, envDump)
		}
	}
	if strings.Contains(envDump, "MISSING=") {
		t.Errorf("optional missing key was set:\n%s", envDump)
	}
	// The sidecar shares the netns and reads the secret volume. Ready means
	// running (no probes), not yet listening: poll.
	waitFor(t, 10*time.Second, func() string {
		body, err = httpGet(client, "http://"+ip+":8081/")
		if err != nil {
			return err.Error()
		}
		return ""
	})
	if !strings.Contains(body, ": s3cret-token") {
		t.Errorf("side answered %q, want the secret", body)
	}
	podDir := filepath.Join(dataDir, "pods", ns+"_"+podName+"_"+string(uid))
	secretFile := filepath.Join(podDir, ".volumes", "token", "token")
	if fi, err := os.Stat(secretFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("secret file %s: %v %v", secretFile, fi, err)
	}

	ids := map[string]string{"web": ContainerID(uid, "web"), "side": ContainerID(uid, "side")}
	pids := map[string]uint32{}
	for name, id := range ids {
		c, err := ctrd.Client.LoadContainer(ctx, id)
		if err != nil {
			t.Fatalf("container %s: %v", id, err)
		}
		labels, _ := c.Labels(ctx)
		for _, l := range []string{LabelPodUID, LabelPodNamespace, LabelPodName, LabelContainer, LabelRestartCount} {
			if labels[l] == "" {
				t.Errorf("container %s lacks label %s", id, l)
			}
		}
		task, err := c.Task(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		pids[name] = task.Pid()
	}

	// Kill web's process: it is restarted at once with restartCount 1.
	webTask := mustTask(t, ctx, ctrd.Client, ids["web"])
	if err := webTask.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string {
		pod = getPod(t, st, ns, podName)
		cs := containerStatusOf(pod, "web")
		if cs == nil || cs.RestartCount != 1 || cs.State.Running == nil || !podReady(pod) {
			return fmt.Sprintf("web not restarted: %+v", cs)
		}
		return ""
	})
	cs := containerStatusOf(pod, "web")
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 || lt.Reason != "Error" {
		t.Errorf("web lastState = %+v, want Terminated 137", cs.LastTerminationState)
	}
	if cs := containerStatusOf(pod, "side"); cs.RestartCount != 0 {
		t.Errorf("side restarted: %+v", cs)
	}
	pids["web"] = mustTask(t, ctx, ctrd.Client, ids["web"]).Pid()
	waitFor(t, 10*time.Second, func() string {
		if _, err := httpGet(client, "http://"+ip+":8080/healthz"); err != nil {
			return err.Error()
		}
		return ""
	})
	for _, n := range []string{"0.log", "1.log"} {
		if _, err := os.Stat(filepath.Join(podDir, "web", n)); err != nil {
			t.Errorf("log file: %v", err)
		}
	}
	rc, err := first.agent.Logs(ctx, ns, podName, &corev1.PodLogOptions{Container: "web", Previous: true})
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(prev), "hello listening") {
		t.Errorf("previous log of web = %q", prev)
	}

	// A new agent adopts everything: same containers, same processes.
	first.stop()
	second := startAgent(t, cfg)
	time.Sleep(1500 * time.Millisecond) // several passes
	for name, id := range ids {
		if got := mustTask(t, ctx, ctrd.Client, id).Pid(); got != pids[name] {
			t.Errorf("container %s: pid %d after adoption, was %d", name, got, pids[name])
		}
	}
	all, err := ctrd.Client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("%d containers after adoption, want 2", len(all))
	}
	pod = getPod(t, st, ns, podName)
	if cs := containerStatusOf(pod, "web"); cs.RestartCount != 1 || !podReady(pod) {
		t.Errorf("after adoption: ready %v web %+v", podReady(pod), cs)
	}
	if _, err := httpGet(client, "http://"+ip+":8080/healthz"); err != nil {
		t.Error(err)
	}

	// A pod that vanishes from the store (the server lost it) is cleaned up.
	one := int64(1)
	lost := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lost", Namespace: ns},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &one,
			Containers: []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref}}},
	}
	lostStart := time.Now()
	if _, err := st.Apply([]manifest.Object{lost}, nil, nil); err != nil {
		t.Fatal(err)
	}
	lostUID := getPod(t, st, ns, "lost").UID
	waitFor(t, 30*time.Second, func() string {
		p := getPod(t, st, ns, "lost")
		if !podReady(p) {
			return fmt.Sprintf("lost pod not ready: %+v", p.Status)
		}
		if _, err := httpGet(client, "http://"+p.Status.PodIP+":8080/healthz"); err != nil {
			return err.Error()
		}
		return ""
	})
	t.Logf("one-container pod: store write to HTTP answer in %s", time.Since(lostStart))
	if err := st.Delete(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: "lost"}, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string {
		if _, err := ctrd.Client.LoadContainer(ctx, ContainerID(lostUID, "app")); err == nil {
			return "container of the lost pod still there"
		}
		if _, err := os.Lstat(filepath.Join(dataDir, "netns", string(lostUID))); err == nil {
			return "netns of the lost pod still there"
		}
		if dirs, _ := filepath.Glob(filepath.Join(dataDir, "pods", "*_"+string(lostUID))); len(dirs) > 0 {
			return "pod dir of the lost pod still there"
		}
		return ""
	})
	for name, id := range ids {
		if got := mustTask(t, ctx, ctrd.Client, id).Pid(); got != pids[name] {
			t.Errorf("container %s: pid %d after the lost pod's cleanup, was %d", name, got, pids[name])
		}
	}

	// Follow streams the current log until the reader is closed.
	follow, err := second.agent.Logs(ctx, ns, podName, &corev1.PodLogOptions{Container: "side", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(follow).ReadString('\n')
	if err != nil || !strings.Contains(line, "hello listening") {
		t.Errorf("follow: %q %v", line, err)
	}
	follow.Close()

	// Delete: everything goes, then the pod object.
	deleteStart := time.Now()
	if err := st.Mutate(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: podName}, func(cur manifest.Object) (manifest.Object, error) {
		p := cur.(*corev1.Pod)
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.DeletionGracePeriodSeconds = &grace
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string {
		if getPod(t, st, ns, podName) != nil {
			return "pod still in the store"
		}
		return ""
	})
	t.Logf("pod deleted after %s", time.Since(deleteStart))
	all, err = ctrd.Client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("%d containers left", len(all))
	}
	err = ctrd.Client.SnapshotService(containerd.DefaultSnapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive {
			t.Errorf("active snapshot left: %s", info.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dataDir, "netns", string(uid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns file left: %v", err)
	}
	allocs, _ := os.ReadDir(filepath.Join(dataDir, "cni", "ipam", podnet.NetworkName))
	for _, e := range allocs {
		if e.Name() == ip {
			t.Errorf("IPAM allocation %s left", ip)
		}
	}
	if _, err := os.Stat(podDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod dir left: %v", err)
	}
	if m := mountsUnder(t, dataDir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	nodeObj, err := st.Get(manifest.Key{Kind: manifest.KindNode, Name: node})
	if err != nil {
		t.Fatal(err)
	}
	if n := nodeObj.(*corev1.Node); n.Spec.PodCIDR != "10.42.7.0/24" || len(n.Status.Conditions) == 0 {
		t.Errorf("node: %+v", n)
	}
}

func mustTask(t *testing.T, ctx context.Context, client *containerd.Client, id string) containerd.Task {
	t.Helper()
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatalf("container %s: %v", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatalf("container %s: task: %v", id, err)
	}
	return task
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
