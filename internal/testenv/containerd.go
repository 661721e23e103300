package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"golang.org/x/sys/unix"

	"github.com/tug-dev/tug/nodeagent/containerdproc"
)

// Namespace is the containerd namespace tug uses, and the one
// StartContainerd's client defaults to and its cleanup empties.
const Namespace = containerdproc.Namespace

// Containerd is a private containerd started for one test.
type Containerd struct {
	Address  string             // gRPC socket
	Dir      string             // everything containerd writes lives here
	RuncRoot string             // pass as runc options Root (see containerdproc.Proc.RuncRoot)
	Client   *containerd.Client // default namespace "tug"
	Proc     *containerdproc.Proc
}

// Context returns a context in namespace "tug" that ends with the test.
func (c *Containerd) Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), Namespace))
	t.Cleanup(cancel)
	return ctx
}

// StartContainerd starts containerd through containerdproc with its files
// under dir (a new short directory in /tmp when dir is ""), waits until it
// answers and returns a client for namespace "tug". t.Cleanup removes every
// task, container and snapshot in that namespace, stops containerd, kills
// its leftover shims, unmounts anything left under dir, and removes dir if
// StartContainerd created it.
func StartContainerd(t testing.TB, dir string) *Containerd {
	t.Helper()
	Require(t, "containerd", "containerd-shim-runc-v2", "runc")

	created := false
	if dir == "" {
		// Short, so socket paths stay under the 107-byte limit.
		d, err := os.MkdirTemp("", "tugctrd-")
		if err != nil {
			t.Fatalf("containerd dir: %v", err)
		}
		dir, created = d, true
	}
	logw := &testLogWriter{t: t}
	p := containerdproc.New(containerdproc.Config{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(logw, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()

	stop := func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("containerd in %s: %v", dir, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("containerd in %s did not stop within 20s", dir)
		}
		killShims(t, p.Address())
		if err := unmountUnder(dir); err != nil {
			t.Errorf("unmount under %s: %v", dir, err)
		}
		if created {
			if err := os.RemoveAll(dir); err != nil {
				t.Errorf("remove %s: %v", dir, err)
			}
		}
		logw.close()
	}

	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := p.WaitReady(readyCtx); err != nil {
		tail := logTail(p.Paths().Log, 20)
		stop()
		t.Fatalf("start containerd: %v\ncontainerd.log:\n%s", err, tail)
	}
	client, err := containerd.New(p.Address(), containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		stop()
		t.Fatalf("connect to containerd at %s: %v", p.Address(), err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), Namespace), time.Minute)
		defer ccancel()
		if err := CleanNamespace(cctx, client, p.Paths().Snapshotter); err != nil {
			t.Errorf("clean containerd namespace %q: %v", Namespace, err)
		}
		client.Close()
		stop()
	})
	return &Containerd{
		Address:  p.Address(),
		Dir:      dir,
		RuncRoot: p.RuncRoot(),
		Client:   client,
		Proc:     p,
	}
}

// CleanNamespace deletes every task (killing it), container and snapshot in
// the namespace of ctx, then the pod cgroups that held those containers
// and are now empty (cgroups.go: rmdir only, only pod<uid> cgroups below
// /tug, in every hierarchy). Images and content are kept.
func CleanNamespace(ctx context.Context, client *containerd.Client, snapshotter string) error {
	var errs []error
	containers, err := client.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	cgroups := containerCgroups(ctx, containers)
	for _, c := range containers {
		if task, err := c.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("container %s: delete task: %w", c.ID(), err))
			}
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("container %s: load task: %w", c.ID(), err))
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("container %s: delete: %w", c.ID(), err))
		}
	}
	// Snapshots form chains; remove leaves first, pass after pass. A
	// snapshot still being released by containerd (an unpack cancelled when
	// the agent stopped) fails for a moment: passes that remove nothing wait
	// a little, for up to 10 s.
	sn := client.SnapshotService(snapshotter)
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for pass := 0; ; pass++ {
		var keys []string
		if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			keys = append(keys, info.Name)
			return nil
		}); err != nil {
			errs = append(errs, fmt.Errorf("walk snapshots: %w", err))
			break
		}
		if len(keys) == 0 {
			break
		}
		if pass >= 50 && time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("%d snapshots left after %d passes: %v (last error: %v)", len(keys), pass, keys, lastErr))
			break
		}
		removed := 0
		for _, k := range keys {
			if err := sn.Remove(ctx, k); err != nil { // a parent fails until its children are gone
				lastErr = err
			} else {
				removed++
			}
		}
		if removed == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The tasks are gone: their pod cgroups are empty (one still in use
	// stays).
	if err := newCgroupCleaner().removePodCgroups(cgroups); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killShims kills, by PID, the runc shims still serving the containerd at
// address, and their children (the containers' init processes). They exist
// only when a test left tasks that containerd could not delete.
func killShims(t testing.TB, address string) {
	procs, err := listProcs()
	if err != nil {
		t.Errorf("list processes: %v", err)
		return
	}
	for _, p := range procs {
		if filepath.Base(p.argv0()) != "containerd-shim-runc-v2" || !p.hasArgPair("-address", address) {
			continue
		}
		for _, c := range procs {
			if c.ppid == p.pid {
				t.Logf("killing leftover container process %d (child of shim %d)", c.pid, p.pid)
				_ = syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
		t.Logf("killing leftover shim %d of %s", p.pid, address)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

type procInfo struct {
	pid, ppid int
	argv      []string
}

func (p procInfo) argv0() string {
	if len(p.argv) == 0 {
		return ""
	}
	return p.argv[0]
}

// hasArgPair tells whether argv sets the Go-style flag (for example
// "-address") to value, in any of the forms -f v, --f v, -f=v and --f=v.
func (p procInfo) hasArgPair(flag, value string) bool {
	for i, a := range p.argv {
		if strings.HasPrefix(a, "--") {
			a = a[1:]
		}
		if a == flag+"="+value || (a == flag && i+1 < len(p.argv) && p.argv[i+1] == value) {
			return true
		}
	}
	return false
}

// listProcs reads pid, ppid and argv of every process from /proc.
func listProcs() ([]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, procInfo{pid: pid, ppid: ppid, argv: argv})
	}
	return out, nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space...) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testLogWriter sends log lines to t.Log until closed, and drops them after,
// so a late line cannot panic a finished test.
type testLogWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
