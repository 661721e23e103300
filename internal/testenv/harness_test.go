package testenv_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tug-dev/tug/internal/testenv"
)

// TestHarnessRunsHelloInNetNS proves the harness end to end: a new netns, a
// private containerd, the hello v1 archive imported and run with runc (on
// this host's cgroup v1) as a container on the test namespace's network,
// answered through the namespace's HTTP client; then that cleanup leaves
// nothing behind.
func TestHarnessRunsHelloInNetNS(t *testing.T) {
	testenv.Require(t, "ip", "nsenter", "containerd", "runc")
	var ns *testenv.NetNS
	var ctrd *testenv.Containerd
	var shimPid int

	t.Run("run", func(t *testing.T) {
		ns = testenv.NewNetNS(t)
		ctrd = testenv.StartContainerd(t, "")
		v1, _ := testenv.HelloImages(t)
		ctx, cancel := context.WithTimeout(ctrd.Context(t), 2*time.Minute)
		defer cancel()

		f, err := os.Open(v1)
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := ctrd.Client.Import(ctx, f)
		f.Close()
		if err != nil {
			t.Fatalf("import %s: %v", v1, err)
		}
		if len(imgs) != 1 || imgs[0].Name != testenv.HelloV1Ref {
			t.Fatalf("imported %+v, want one image named %s", imgs, testenv.HelloV1Ref)
		}
		image := containerd.NewImage(ctrd.Client, imgs[0])
		if err := image.Unpack(ctx, "overlayfs"); err != nil {
			t.Fatalf("unpack: %v", err)
		}

		id := "harness-" + testenv.RandomSuffix()
		container, err := ctrd.Client.NewContainer(ctx, id,
			containerd.WithImage(image),
			containerd.WithSnapshotter("overlayfs"),
			containerd.WithNewSnapshot(id, image),
			containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: ctrd.RuncRoot}),
			containerd.WithNewSpec(
				oci.WithImageConfig(image),
				oci.WithHostname("harness"),
				oci.WithEnv([]string{"MESSAGE=from the harness"}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.Path}),
			),
		)
		if err != nil {
			t.Fatalf("create container: %v", err)
		}
		logPath := filepath.Join(t.TempDir(), "hello.log")
		task, err := container.NewTask(ctx, cio.LogFile(logPath))
		if err != nil {
			t.Fatalf("create task: %v", err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatalf("start task: %v", err)
		}
		shimPid = parentPid(t, int(task.Pid()))

		body := getUntilOK(t, ns.HTTPClient(), "http://127.0.0.1:8080/", 15*time.Second)
		if want := "hello from harness (version v1): from the harness\n"; body != want {
			t.Errorf("GET / = %q, want %q", body, want)
		}
		// The port is on the test namespace's loopback, not the host's: a
		// second namespace cannot reach it.
		other := testenv.NewNetNS(t)
		if _, err := other.HTTPClient().Get("http://127.0.0.1:8080/"); err == nil {
			t.Errorf("GET from another netns succeeded; the container is not confined to %s", ns.Name)
		}
		// The container really logs to stdout.
		if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "path=/") {
			t.Errorf("container log lacks the request line:\n%s", b)
		}
		// Command runs inside the namespace too.
		out, err := ns.Command(ctx, "cat", "/proc/net/tcp", "/proc/net/tcp6").CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter: %v: %s", err, out)
		}
		if !strings.Contains(string(out), ":1F90 ") { // 8080 listening
			t.Errorf("/proc/net/tcp{,6} in %s does not show port 8080:\n%s", ns.Name, out)
		}
	})
	if ns == nil || ctrd == nil {
		return
	}

	// Everything the subtest created is gone.
	if _, err := os.Stat(ns.Path); !os.IsNotExist(err) {
		t.Errorf("netns %s still exists (stat: %v)", ns.Path, err)
	}
	if _, err := os.Stat(ctrd.Dir); !os.IsNotExist(err) {
		t.Errorf("containerd dir %s still exists (stat: %v)", ctrd.Dir, err)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), ctrd.Dir) {
		t.Errorf("mounts left under %s", ctrd.Dir)
	}
	if shimPid > 0 {
		// The shim exits shortly after its task is deleted.
		deadline := time.Now().Add(5 * time.Second)
		for {
			cmdline, err := os.ReadFile(filepath.Join("/proc", itoa(shimPid), "cmdline"))
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("shim %d still runs: %q", shimPid, cmdline)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func getUntilOK(t *testing.T, c *http.Client, url string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return string(b)
			}
			last = err
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: no 200 within %s: %v", url, within, last)
	return ""
}

func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var ppid int
	for _, c := range fields[1] {
		ppid = ppid*10 + int(c-'0')
	}
	return ppid
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func TestNewNetNSIsIsolated(t *testing.T) {
	testenv.Require(t, "ip", "nsenter")
	ns := testenv.NewNetNS(t)
	ctx := context.Background()

	out, err := ns.Command(ctx, "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], ": lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("links in %s = %q, want only lo, up", ns.Name, lines)
	}
	for _, args := range [][]string{{"-4", "route", "show"}, {"-6", "route", "show", "table", "main"}} {
		out, err := ns.Command(ctx, "ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.Contains(l, "dev lo") {
				t.Errorf("ip %v in %s: route %q leaves loopback", args, ns.Name, l)
			}
		}
	}

	host, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := ns.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want, err := os.Stat(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	if inside == host || !strings.Contains(inside, itoa(int(want.Sys().(*syscall.Stat_t).Ino))) {
		t.Errorf("Do ran in %s; host is %s, %s has inode %d", inside, host, ns.Path, want.Sys().(*syscall.Stat_t).Ino)
	}
	// Loopback of the namespace works and is not the host's.
	if _, err := ns.DialContext(ctx, "tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial a closed port in %s = %v, want connection refused", ns.Name, err)
	}
}
