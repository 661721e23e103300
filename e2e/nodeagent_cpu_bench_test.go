package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// probedDeploymentYAML is deploymentYAML with an HTTP readiness probe and a
// TCP liveness probe, both every second.
func probedDeploymentYAML(name string, replicas int) string {
	return deploymentYAML(name, replicas) + `          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
            periodSeconds: 1
          livenessProbe:
            tcpSocket: {port: 8080}
            periodSeconds: 1
`
}

// cpuTicks returns the user+system CPU time of process pid, in clock ticks.
func cpuTicks(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start after ')'.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 overall
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return utime + stime
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// cpuPercent measures process pid's CPU use over window, in % of one core.
func cpuPercent(t testing.TB, pid int, window time.Duration) float64 {
	start, t0 := cpuTicks(t, pid), time.Now()
	time.Sleep(window)
	used := float64(cpuTicks(t, pid)-start) / clockTicks
	return 100 * used / time.Since(t0).Seconds()
}

// BenchmarkNodeagentCPU100Probed measures tugd's CPU (the whole process:
// agent, reconciler, proxy, API; containerd, the shims and the pods are
// other processes) over 30 s with 100 running pods, each with an HTTP
// readiness probe and a TCP liveness probe every second (200 probes/s, no
// exec probes), as % of one core beside the goal of 2%. The same process
// idle (no pods) is measured first in the same run, over 10 s. No pod may
// be written while measuring (checks that change nothing write nothing).
// tugd runs with its default poll interval and log level.
// The anchor, measured in the same run after tugd's windows, is the CPU of
// the bare minimum a prober must do for the same load (probeAnchor).
// With TUG_BENCH_CPUPROFILE=FILE, tugd runs with --pprof-listen and a 20 s
// CPU profile taken after the measured windows is written to FILE.
func BenchmarkNodeagentCPU100Probed(b *testing.B) {
	const n, window, step = 100, 30 * time.Second, 6 * time.Second
	repo := newRepo(b)
	repo.write("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n")
	repo.commit("bench: start")
	c := newCluster(b, repo)
	profile := os.Getenv("TUG_BENCH_CPUPROFILE") // a file to write tugd's CPU profile to
	// tugd's own defaults, not the tests' 1 s poll and debug logs: the
	// local repository is still watched with fsnotify.
	flags := []string{"--poll-interval", "60s", "--log-level", "info"}
	if profile != "" {
		flags = append(flags, "--pprof-listen", pprofListen)
	}
	c.startWith(flags...)
	time.Sleep(5 * time.Second) // first sync, image import
	idle := cpuPercent(b, c.cmd.Process.Pid, 10*time.Second)

	repo.write("app.yaml", probedDeploymentYAML("probed", n))
	repo.commit("bench: 100 probed pods")
	c.serveAll("probed", n, 10*time.Minute)
	c.waitFor("100 pods ready", 5*time.Minute, func() (bool, string) {
		ready := 0
		for _, p := range c.pods("default") {
			if isReady(p) {
				ready++
			}
		}
		return ready >= n, fmt.Sprintf("%d ready", ready)
	})
	time.Sleep(5 * time.Second) // status writes of the start settle

	// Windows of 6 s, one per iteration, until at least 30 s are measured.
	versions := podVersions(c)
	pid := c.cmd.Process.Pid
	var ticks int64
	var measured time.Duration
	measure := func() {
		start, t0 := cpuTicks(b, pid), time.Now()
		time.Sleep(step)
		ticks += cpuTicks(b, pid) - start
		measured += time.Since(t0)
	}
	for b.Loop() {
		measure()
	}
	for measured < window {
		measure()
	}
	pct := 100 * float64(ticks) / clockTicks / measured.Seconds()
	// Probe checks that change no result write nothing: no pod is
	// written while the measured windows run (the agent compares the
	// status it computes with the stored one).
	written := 0
	for name, rv := range podVersions(c) {
		if old, ok := versions[name]; ok && old != rv {
			written++
		}
	}
	restarts := 0
	for _, p := range c.pods("default") {
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
	}
	b.ReportMetric(pct, "tugd-cpu-%core")
	b.ReportMetric(idle, "idle-cpu-%core")
	b.ReportMetric(pct/2, "ratio-to-goal(2%)")
	b.ReportMetric(float64(restarts), "restarts")
	b.ReportMetric(float64(written), "pods-written")
	if restarts == 0 && written > 0 {
		b.Errorf("%d pods were written while nothing changed: a probe check that changes no result must not write the store", written)
	}
	// The anchor, after tugd's windows so that it does not disturb them.
	anchor, anchorWindow := probeAnchor(b, c, window)
	b.ReportMetric(anchor, "anchor-cpu-%core")
	b.ReportMetric(pct/anchor, "ratio-to-anchor")
	if profile != "" { // after the measured windows, so that it does not count
		saveProfile(b, c, profile, 20*time.Second)
	}
	b.Logf("tugd CPU with %d pods probed every second (HTTP readiness + TCP liveness, 200 probes/s): %.2f%% of one core over %s vs goal ≤ 2%%: %.2f× the goal; vs anchor (bare prober, same load, same run) %.2f%% over %s: %.2f× the anchor; same process idle with no pods %.2f%%; %d restarts; %d pods written while measuring",
		n, pct, measured.Round(time.Second), pct/2, anchor, anchorWindow.Round(time.Second), pct/anchor, idle, restarts, written)
}

// probeAnchor measures, over window, the CPU of the bare minimum a prober
// must do for the benchmark's load: testdata/probeload, run in the cluster's
// network namespace against the running pods' IPs, does once per second per
// pod one HTTP/1.1 GET /healthz on a fresh connection (status line only) and
// one TCP connect/close to 8080, on a 500 ms grid like tugd's prober. It is
// measured from /proc/<pid>/stat like tugd, after 2 s of warm-up, then
// stopped with SIGTERM by PID; every one of its checks must have succeeded.
// It returns the CPU in % of one core and the measured window.
func probeAnchor(b *testing.B, c *cluster, window time.Duration) (float64, time.Duration) {
	bin := filepath.Join(b.TempDir(), "probeload")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/probeload").CombinedOutput(); err != nil {
		b.Fatalf("build probeload: %v\n%s", err, out)
	}
	var ips []string
	for _, p := range c.pods("default") {
		if p.Status.PodIP != "" && isReady(p) {
			ips = append(ips, p.Status.PodIP)
		}
	}
	if len(ips) == 0 {
		b.Fatal("anchor: no ready pod with an IP")
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command("nsenter", append([]string{"--net=" + c.ns.Path, "--", bin, "-port", "8080", "-path", "/healthz"}, ips...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// nsenter execs probeload, so the PID is probeload's own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start probeload: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("probeload did not stop within 10s of SIGTERM")
		}
	}
	time.Sleep(2 * time.Second) // warm-up: the first ticks, the Go runtime
	start, t0 := cpuTicks(b, cmd.Process.Pid), time.Now()
	time.Sleep(window)
	used := cpuTicks(b, cmd.Process.Pid) - start
	measured := time.Since(t0)
	if err := stop(); err != nil {
		b.Fatalf("probeload: %v (stderr: %s)", err, stderr.String())
	}
	var ok, failed int
	if _, err := fmt.Sscanf(stdout.String(), "ok=%d failed=%d", &ok, &failed); err != nil {
		b.Fatalf("probeload output %q: %v", stdout.String(), err)
	}
	// Two checks per pod per second; the warm-up and the last tick make
	// a few more or fewer.
	if want := int(float64(2*len(ips)) * (window + 2*time.Second).Seconds() * 0.9); failed > 0 || ok < want {
		b.Fatalf("probeload: %d checks succeeded (want ≥ %d), %d failed: the anchor did not do the load", ok, want, failed)
	}
	if len(ips) != 100 {
		b.Logf("anchor probed %d pods", len(ips))
	}
	return 100 * float64(used) / clockTicks / measured.Seconds(), measured
}

// pprofListen is where tugd serves /debug/pprof when the benchmark is
// asked for a profile (inside the test's network namespace).
const pprofListen = "127.0.0.1:6060"

// saveProfile fetches a CPU profile of tugd over d into path.
func saveProfile(b *testing.B, c *cluster, path string, d time.Duration) {
	client := &http.Client{Timeout: d + 30*time.Second, Transport: &http.Transport{Proxy: nil, DialContext: c.ns.DialContext}}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofListen, int(d.Seconds())))
	if err != nil {
		b.Fatalf("fetch tugd profile: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("fetch tugd profile: %s %v", resp.Status, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("tugd CPU profile over %s written to %s (go tool pprof -top %s)", d, path, path)
}

// podVersions maps each pod of the default namespace to its resource
// version.
func podVersions(c *cluster) map[string]string {
	out := map[string]string{}
	for _, p := range c.pods("default") {
		out[p.Name] = p.ResourceVersion
	}
	return out
}
