package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds tugd and tug once per test binary.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tug-e2e-bin-")
		if buildErr != nil {
			return
		}
		// As make build: tug-logdriver beside tugd is the containers' log
		// driver (else tugd itself, a much bigger process per container).
		for _, name := range []string{"tugd", "tug", "tug-logdriver"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "github.com/tug-dev/tug/cmd/"+name).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// cluster is one tugd under test: its network namespace, data directory,
// repository and process.
type cluster struct {
	t       testing.TB
	ns      *testenv.NetNS
	dataDir string
	repo    *gitRepo
	cmd     *exec.Cmd
	done    chan error
	client  *api.Client
	logPath string
}

const listen = "127.0.0.1:7443" // inside the test's own network namespace

func newCluster(t testing.TB, repo *gitRepo) *cluster {
	t.Helper()
	testenv.Require(t, "containerd", "runc", "nsenter", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback")
	bin := binaries(t)
	v1, v2 := testenv.HelloImages(t)
	c := &cluster{t: t, ns: testenv.NewNetNS(t), repo: repo}
	c.dataDir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(c.dataDir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{v1, v2} {
		copyFile(t, img, filepath.Join(c.dataDir, "images", filepath.Base(img)))
	}
	c.logPath = filepath.Join(t.TempDir(), "tugd.log")
	c.client = api.NewClient("http://" + listen)
	c.client.HTTP = c.ns.HTTPClient()
	t.Cleanup(func() { c.cleanup(bin) })
	return c
}

// start runs tugd in the cluster's network namespace.
func (c *cluster) start() {
	c.t.Helper()
	bin := binaries(c.t)
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	c.cmd = exec.Command("nsenter", "--net="+c.ns.Path, "--",
		filepath.Join(bin, "tugd"), "--repo", c.repo.dir, "--data-dir", c.dataDir,
		"--listen", listen, "--poll-interval", "1s", "--node-name", "node-1", "--log-level", "debug")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Pdeathsig: a test binary that dies takes tugd (and its containerd) with it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start tugd: %v", err)
	}
	c.done = make(chan error, 1)
	go func(cmd *exec.Cmd) { c.done <- cmd.Wait(); logf.Close() }(c.cmd)
	c.waitFor("API answering", 30*time.Second, func() (bool, string) {
		_, err := c.client.Status(context.Background())
		return err == nil, fmt.Sprint(err)
	})
}

// stop ends tugd with sig and waits for it. nsenter execs tugd, so the
// process is tugd itself.
func (c *cluster) stop(sig syscall.Signal) {
	c.t.Helper()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Errorf("tugd did not stop within 30s of %v", sig)
	}
	c.cmd = nil
}

func (c *cluster) cleanup(bin string) {
	c.stop(syscall.SIGTERM)
	if c.t.Failed() {
		if data, err := os.ReadFile(c.logPath); err == nil {
			lines := strings.Split(string(data), "\n")
			if len(lines) > 150 {
				lines = lines[len(lines)-150:]
			}
			c.t.Logf("tugd log (last lines):\n%s", strings.Join(lines, "\n"))
		}
	}
	// Containers outlive tugd by design; remove them, their shims, mounts
	// and network namespaces so the test leaves nothing behind.
	testenv.CleanupDataDir(c.t, c.dataDir)
}

// waitFor polls cond until it holds or the timeout passes.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		select {
		case err := <-c.done:
			c.t.Fatalf("tugd exited (%v) while waiting for %s", err, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cluster) pods(namespace string) []*corev1.Pod {
	c.t.Helper()
	objs, err := c.client.List(context.Background(), manifest.KindPod, namespace, "")
	if err != nil {
		c.t.Fatalf("list pods: %v", err)
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// runningPods waits until exactly n pods in namespace are Running and ready
// with an IP, and no other pods exist there.
func (c *cluster) runningPods(namespace string, n int, timeout time.Duration) []*corev1.Pod {
	c.t.Helper()
	var pods []*corev1.Pod
	c.waitFor(fmt.Sprintf("%d running pods in %s", n, namespace), timeout, func() (bool, string) {
		pods = c.pods(namespace)
		var desc []string
		ready := 0
		for _, p := range pods {
			desc = append(desc, fmt.Sprintf("%s:%s:%s:ready=%v", p.Name, p.Status.Phase, p.Status.PodIP, isReady(p)))
			if p.Status.Phase == corev1.PodRunning && isReady(p) && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				ready++
			}
		}
		return ready == n && len(pods) == n, strings.Join(desc, " ")
	})
	return pods
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// get fetches url from inside the cluster's network namespace.
func (c *cluster) get(url string) (string, error) {
	resp, err := c.ns.HTTPClient().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

// serving waits until url answers 200 with a body containing want and
// returns the body. A container without a readiness probe is Ready once
// its process started (as in Kubernetes), a moment before it listens.
func (c *cluster) serving(url, want string, timeout time.Duration) string {
	c.t.Helper()
	var body string
	c.waitFor("GET "+url+" answering "+strconv.Quote(want), timeout, func() (bool, string) {
		var err error
		body, err = c.get(url)
		return err == nil && strings.Contains(body, want), fmt.Sprintf("%q, %v", body, err)
	})
	return body
}

// tug runs the tug CLI against the cluster, from inside its namespace.
func (c *cluster) tug(args ...string) (string, error) {
	cmd := c.ns.Command(context.Background(), filepath.Join(binaries(c.t), "tug"), append([]string{"--server", "http://" + listen}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gitRepo is a real Git repository driven through the git CLI.
type gitRepo struct {
	t   testing.TB
	dir string
}

func newRepo(t testing.TB) *gitRepo {
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Tug Test", "-c", "user.email=test@tug.invalid"}, args...)...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *gitRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// commit stages everything and commits; it returns the new SHA.
func (r *gitRepo) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// copyExample copies examples/hello/deploy into the repository root.
func (r *gitRepo) copyExample() {
	r.t.Helper()
	src := filepath.Join("..", "examples", "hello", "deploy")
	entries, err := os.ReadDir(src)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			r.t.Fatal(err)
		}
		r.write(e.Name(), string(data))
	}
}

func (r *gitRepo) read(name string) string {
	data, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(data)
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// firstLine returns the first line of s that contains substr.
func firstLine(s, substr string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			return sc.Text()
		}
	}
	return ""
}

// appliedSHA is the commit the cluster has applied, per the status API.
func appliedSHA(st *api.Status) string {
	if st == nil || st.Applied == nil {
		return ""
	}
	return st.Applied.SHA
}
