package e2e

import (
	"context"
	"fmt"
	"github.com/containerd/containerd/contrib/seccomp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/nodeagent/images"
	"github.com/tug-dev/tug/nodeagent/podnet"
	"k8s.io/apimachinery/pkg/types"
)

// deploymentYAML renders a one-container Deployment of the demo app.
func deploymentYAML(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: default
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: app
          image: tug.local/hello:v1
          env:
            - {name: MESSAGE, value: bench}
`, name, replicas)
}

// syncStarted waits for the sync record of sha and returns when that sync
// started, so the poll interval does not count.
func (c *cluster) syncStarted(sha string) time.Time {
	c.t.Helper()
	var started time.Time
	c.waitFor("sync record of "+sha[:7], 30*time.Second, func() (bool, string) {
		recs, err := c.client.Syncs(context.Background(), 20)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range recs {
			if r.SHA == sha {
				started = r.Started
				return true, ""
			}
		}
		return false, "no record yet"
	})
	return started
}

// serveAll waits until n pods of the deployment answer HTTP and returns
// when the last one first answered.
func (c *cluster) serveAll(app string, n int, timeout time.Duration) time.Time {
	c.t.Helper()
	answered := map[string]time.Time{}
	c.waitFor(fmt.Sprintf("%d pods of %s serving", n, app), timeout, func() (bool, string) {
		for _, p := range c.pods("default") {
			if p.Labels["app"] != app || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
				continue
			}
			if _, ok := answered[p.Name]; ok {
				continue
			}
			if _, err := c.get("http://" + p.Status.PodIP + ":8080/healthz"); err == nil {
				answered[p.Name] = time.Now()
			}
		}
		return len(answered) >= n, fmt.Sprintf("%d serving", len(answered))
	})
	var last time.Time
	for _, t := range answered {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// direct starts n copies of the demo app the way tug's floor is measured:
// a new network namespace wired by the same CNI plugins, then a container
// created and started through the containerd client, until each answers
// HTTP. It returns the wall time and cleans up.
type direct struct {
	t    testing.TB
	ns   *testenv.NetNS
	ctrd *testenv.Containerd
	net  *podnet.Network
	img  containerd.Image
	http func(url string) error
}

func newDirect(b *testing.B) *direct {
	d := &direct{t: b, ns: testenv.NewNetNS(b)}
	d.ctrd = testenv.StartContainerd(b, "")
	dataDir := b.TempDir()
	var err error
	d.net, err = podnet.New(podnet.Config{DataDir: dataDir, PodCIDR: "10.42.0.0/24"})
	if err != nil {
		b.Fatal(err)
	}
	v1, _ := testenv.HelloImages(b)
	imgDir := b.TempDir()
	copyFile(b, v1, filepath.Join(imgDir, filepath.Base(v1)))
	ctx := d.ctrd.Context(b)
	imp := &images.Importer{Client: d.ctrd.Client, Dir: imgDir, Namespace: testenv.Namespace}
	if err := imp.ImportAll(ctx); err != nil {
		b.Fatal(err)
	}
	d.img, err = images.Ensure(ctx, d.ctrd.Client, testenv.HelloV1Ref, "IfNotPresent", nil)
	if err != nil {
		b.Fatal(err)
	}
	client := d.ns.HTTPClient()
	d.http = func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	}
	b.Cleanup(func() {
		uids, _ := d.net.Pods()
		for _, uid := range uids {
			_ = d.ns.Do(func() error { return d.net.Teardown(context.Background(), uid) })
		}
	})
	return d
}

// run starts n pods concurrently and returns how long until all answered.
// opts are added to each container's spec (seccomp.WithDefaultProfile:
// the same container tug runs, whose default is RuntimeDefault).
func (d *direct) run(n int, opts ...oci.SpecOpts) time.Duration {
	d.t.Helper()
	ctx := d.ctrd.Context(d.t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	ctrs := make([]containerd.Container, n)
	uids := make([]types.UID, n)
	for i := range n {
		uids[i] = types.UID("direct-" + testenv.RandomSuffix())
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctrs[i], errs[i] = d.start(ctx, uids[i], opts...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			d.t.Fatalf("direct pod %d: %v", i, err)
		}
	}
	for i, c := range ctrs {
		if task, err := c.Task(ctx, nil); err == nil {
			task.Delete(ctx, containerd.WithProcessKill)
		}
		c.Delete(ctx, containerd.WithSnapshotCleanup)
		_ = d.ns.Do(func() error { return d.net.Teardown(ctx, uids[i]) })
	}
	return elapsed
}

func (d *direct) start(ctx context.Context, uid types.UID, opts ...oci.SpecOpts) (containerd.Container, error) {
	var nsPath, ip string
	err := d.ns.Do(func() error {
		var err error
		nsPath, ip, err = d.net.Setup(ctx, uid)
		return err
	})
	if err != nil {
		return nil, err
	}
	id := string(uid)
	c, err := d.ctrd.Client.NewContainer(ctx, id,
		containerd.WithImage(d.img),
		containerd.WithNewSnapshot(id, d.img),
		containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: d.ctrd.RuncRoot}),
		containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(d.img), oci.WithEnv([]string{"MESSAGE=bench"}),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath})}, opts...)...),
	)
	if err != nil {
		return nil, err
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		return c, err
	}
	if err := task.Start(ctx); err != nil {
		return c, err
	}
	url := "http://" + ip + ":8080/healthz"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if err := d.http(url); err == nil {
			return c, nil
		} else if time.Now().After(deadline) {
			return c, fmt.Errorf("direct pod %s never answered: %w", ip, err)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchCommitToServing measures, for each iteration, one commit of a
// Deployment with `replicas` pods until every pod answers HTTP, timed from
// the start of the sync; and the same number of pods started directly
// through containerd and CNI in the same run, twice: as a bare container
// and as the same container tug runs, with the RuntimeDefault seccomp
// profile tug applies unless a pod asks for Unconfined (runc compiles it
// for every container: on 2 busy cores that is most of the difference).
// It reports the medians and both ratios.
func benchCommitToServing(b *testing.B, replicas int, goal float64) {
	wait := max(2*time.Minute, time.Duration(replicas)*6*time.Second)
	repo := newRepo(b)
	repo.write("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n")
	repo.commit("bench: start")
	c := newCluster(b, repo)
	c.start()
	d := newDirect(b)
	d.run(1) // warm the page cache and the containerd snapshotter

	var viaTug, viaDirect, viaSeccomp []time.Duration
	for i := 0; b.Loop(); i++ {
		app := fmt.Sprintf("bench-%d", i)
		repo.write("app.yaml", deploymentYAML(app, replicas))
		sha := repo.commit("bench: " + app)
		started := c.syncStarted(sha)
		done := c.serveAll(app, replicas, wait)
		viaTug = append(viaTug, done.Sub(started))

		b.StopTimer()
		repo.git("rm", "-q", "app.yaml")
		repo.commit("bench: remove " + app)
		c.waitFor("pods of "+app+" gone", wait, func() (bool, string) {
			return len(c.pods("default")) == 0, ""
		})
		viaDirect = append(viaDirect, d.run(replicas))
		viaSeccomp = append(viaSeccomp, d.run(replicas, seccomp.WithDefaultProfile()))
		b.StartTimer()
	}
	tug, dir, sec := median(viaTug), median(viaDirect), median(viaSeccomp)
	b.ReportMetric(ms(tug), "tug-ms")
	b.ReportMetric(ms(dir), "containerd-ms")
	b.ReportMetric(ms(sec), "containerd-seccomp-ms")
	b.ReportMetric(float64(tug)/float64(dir), fmt.Sprintf("ratio(goal<=%g)", goal))
	b.ReportMetric(float64(tug)/float64(sec), fmt.Sprintf("ratio-same-seccomp(goal<=%g)", goal))
	b.Logf("commit → %d pod(s) serving: tug %.0f ms (median of %v) vs direct containerd+CNI %.0f ms (median of %v): %.2f×; "+
		"vs direct with the same default seccomp profile %.0f ms (median of %v): %.2f× (goal ≤ %g×)",
		replicas, ms(tug), roundAll(viaTug), ms(dir), roundAll(viaDirect), float64(tug)/float64(dir),
		ms(sec), roundAll(viaSeccomp), float64(tug)/float64(sec), goal)
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strconv.FormatFloat(ms(d), 'f', 0, 64) + "ms"
	}
	return out
}

func BenchmarkCommitToServing1Pod(b *testing.B) { benchCommitToServing(b, 1, 3) }

func BenchmarkCommitToServing20Pods(b *testing.B) { benchCommitToServing(b, 20, 3) }

// BenchmarkTugdMemory20Pods reports tugd's resident memory (containerd and
// the shims excluded: they are other processes) with 20 pods running.
func BenchmarkTugdMemory20Pods(b *testing.B) {
	repo := newRepo(b)
	repo.write("app.yaml", deploymentYAML("mem", 20))
	repo.commit("bench: 20 pods")
	c := newCluster(b, repo)
	c.start()
	c.serveAll("mem", 20, 180*time.Second)
	var rss, anon, file float64
	for b.Loop() {
		time.Sleep(3 * time.Second) // let a few status and heartbeat cycles run
		rss = statusMB(b, c.cmd.Process.Pid, "VmRSS")
		anon = statusMB(b, c.cmd.Process.Pid, "RssAnon")
		file = statusMB(b, c.cmd.Process.Pid, "RssFile")
	}
	b.ReportMetric(rss, "tugd-RSS-MB")
	b.ReportMetric(anon, "anon-MB")
	b.ReportMetric(file, "file-MB")
	b.ReportMetric(rss/40, "ratio-to-goal(40MB)")
	b.Logf("tugd resident memory with 20 pods: %.1f MB (goal ≤ 40 MB): %.1f MB anonymous (heap, stacks), %.1f MB file-backed (the mapped binary)", rss, anon, file)
}

// statusMB reads one kB field of /proc/PID/status, in MB.
func statusMB(t testing.TB, pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
