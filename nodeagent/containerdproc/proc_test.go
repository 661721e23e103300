package containerdproc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/nodeagent/containerdproc"
)

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tugcp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func alive(pid int) bool {
	// Signal 0 checks existence; a zombie counts as dead.
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunMissingBinaryIsFatal(t *testing.T) {
	p := containerdproc.New(containerdproc.Config{Dir: shortDir(t), Binary: "/nonexistent/containerd", Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	err := p.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/containerd") {
		t.Errorf("WaitReady = %v, want an error naming the binary", err)
	}
	if err := <-errc; err == nil || ctx.Err() != nil {
		t.Errorf("Run = %v (ctx %v), want an immediate error", err, ctx.Err())
	}
}

// TestRunRestartsAfterKill starts containerd, checks its configuration took
// effect, kills it with SIGKILL, sees it restarted, and stops it.
func TestRunRestartsAfterKill(t *testing.T) {
	testenv.Require(t, "containerd")
	dir := shortDir(t)
	p := containerdproc.New(containerdproc.Config{Dir: dir, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()

	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := p.WaitReady(readyCtx); err != nil {
		t.Fatal(err)
	}
	pid1 := p.Pid()
	if pid1 == 0 {
		t.Fatal("Pid() = 0 while ready")
	}
	if pgid, err := syscall.Getpgid(pid1); err != nil || pgid != pid1 {
		t.Errorf("containerd pgid = %d (%v), want its own group %d", pgid, err, pid1)
	}

	client, err := containerd.New(p.Address())
	if err != nil {
		t.Fatal(err)
	}
	plugins, err := client.IntrospectionService().Plugins(namespaces.WithNamespace(ctx, containerdproc.Namespace), nil)
	client.Close()
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	for _, pl := range plugins.Plugins {
		loaded[pl.Type+"."+pl.ID] = pl.InitErr == nil
	}
	for id, want := range map[string]bool{
		"io.containerd.snapshotter.v1.overlayfs": true,
		"io.containerd.runtime.v2.task":          true,
		"io.containerd.service.v1.tasks-service": true,
		"io.containerd.grpc.v1.cri":              false,
		"io.containerd.snapshotter.v1.native":    false,
		"io.containerd.snapshotter.v1.btrfs":     false,
	} {
		if loaded[id] != want {
			t.Errorf("plugin %s loaded = %v, want %v", id, loaded[id], want)
		}
	}
	for _, f := range []string{"config.toml", "containerd.log", "containerd.sock", "root", "state"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new containerd", 15*time.Second, func() bool {
		pid := p.Pid()
		return pid != 0 && pid != pid1
	})
	if err := p.WaitReady(readyCtx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	pid2 := p.Pid()

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	if alive(pid2) {
		t.Errorf("containerd %d still runs after Run returned", pid2)
	}
	if p.Pid() != 0 {
		t.Errorf("Pid() = %d after Run returned, want 0", p.Pid())
	}
}

// TestShimsSurviveContainerdDeath runs hello in a test netns, kills
// containerd with SIGKILL and checks the shim and the container keep
// running and serving, and that the restarted containerd re-attaches to
// the task.
func TestShimsSurviveContainerdDeath(t *testing.T) {
	testenv.Require(t, "containerd", "runc", "ip")
	ns := testenv.NewNetNS(t)
	ctrd := testenv.StartContainerd(t, "")
	v1, _ := testenv.HelloImages(t)
	ctx, cancel := context.WithTimeout(ctrd.Context(t), 2*time.Minute)
	defer cancel()

	f, err := os.Open(v1)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := ctrd.Client.Import(ctx, f)
	f.Close()
	if err != nil || len(imgs) != 1 {
		t.Fatalf("import: %v %v", imgs, err)
	}
	image := containerd.NewImage(ctrd.Client, imgs[0])
	if err := image.Unpack(ctx, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	id := "survive-" + testenv.RandomSuffix()
	container, err := ctrd.Client.NewContainer(ctx, id,
		containerd.WithImage(image),
		containerd.WithSnapshotter("overlayfs"),
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: ctrd.RuncRoot}),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithHostname("survivor"),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.Path})),
	)
	if err != nil {
		t.Fatal(err)
	}
	task, err := container.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	initPid := int(task.Pid())
	shimPid := ppid(t, initPid)
	get := func() error {
		resp, err := ns.HTTPClient().Get("http://127.0.0.1:8080/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	waitFor(t, "hello to answer", 15*time.Second, func() bool { return get() == nil })

	old := ctrd.Proc.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "containerd to die", 5*time.Second, func() bool { return !alive(old) })
	if !alive(shimPid) || !alive(initPid) {
		t.Fatalf("after containerd's death: shim %d alive %v, container %d alive %v", shimPid, alive(shimPid), initPid, alive(initPid))
	}
	if err := get(); err != nil {
		t.Errorf("hello does not answer while containerd is down: %v", err)
	}

	waitFor(t, "containerd to restart", 15*time.Second, func() bool { p := ctrd.Proc.Pid(); return p != 0 && p != old })
	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := ctrd.Proc.WaitReady(readyCtx); err != nil {
		t.Fatal(err)
	}
	// The client reconnects to the new containerd on the same socket.
	c2, err := ctrd.Client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatalf("load container after restart: %v", err)
	}
	task2, err := c2.Task(ctx, nil)
	if err != nil {
		t.Fatalf("re-attach to task after restart: %v", err)
	}
	st, err := task2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != containerd.Running || int(task2.Pid()) != initPid {
		t.Errorf("re-attached task: status %s pid %d, want running pid %d", st.Status, task2.Pid(), initPid)
	}
	if err := get(); err != nil {
		t.Errorf("hello does not answer after the restart: %v", err)
	}
	// Stop it through the new containerd: the shim reports the exit.
	exitc, err := task2.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task2.Kill(ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitc:
		if st.ExitCode() != 0 {
			t.Errorf("hello exit code after SIGTERM = %d, want 0 (graceful)", st.ExitCode())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit event within 15s of SIGTERM")
	}
}

// TestHelperProcessRunsContainerd is not a test: TestContainerdDiesWithParent
// runs the test binary as a stand-in for tugd with it.
func TestHelperProcessRunsContainerd(t *testing.T) {
	dir := os.Getenv("TUG_CONTAINERDPROC_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	p := containerdproc.New(containerdproc.Config{Dir: dir})
	go p.Run(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	// Start goroutines that churn OS threads, so the thread that forked
	// containerd would be at risk if it were not locked.
	for i := 0; i < 8; i++ {
		go func() {
			for {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	fmt.Println("PID", p.Pid())
	select {}
}

// TestContainerdDiesWithParent kills a stand-in tugd with SIGKILL and checks
// that its containerd does not outlive it (parent-death signal).
func TestContainerdDiesWithParent(t *testing.T) {
	testenv.Require(t, "containerd")
	dir := shortDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessRunsContainerd$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TUG_CONTAINERDPROC_HELPER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	var pid int
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, _ = strconv.Atoi(rest)
			break
		}
		if strings.HasPrefix(sc.Text(), "ERROR") {
			t.Fatal(sc.Text())
		}
	}
	if pid == 0 {
		t.Fatal("helper did not report containerd's pid")
	}
	if !alive(pid) {
		t.Fatalf("containerd %d not running", pid)
	}
	go io.Copy(io.Discard, stdout)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // we started it, through the helper
			t.Fatalf("containerd %d outlived its killed parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
