package nodeagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHostAndPodCgroupsIntegration runs on a real containerd:
//   - a hostNetwork + hostPID + hostIPC pod: its podIP is the node's, it
//     serves on the host namespace's port and sees its interfaces (a veth
//     link the test adds), the host's PID 1 and the host's /dev/shm;
//   - a pod with safe sysctls, read back from /proc/sys inside;
//   - resourceFieldRef env (limits, requests, divisor, the node's
//     allocatable for a missing limit), read back from /env;
//   - gRPC probes against the demo app's grpc.health.v1 server: readiness
//     makes the pod Ready, liveness restarts the container once its health
//     server answers NOT_SERVING;
//   - the pod cgroup (/tug/burstable/pod<uid>) holds the containers'
//     cgroups, with memory limit = sum of the limits and the summed CFS
//     quota, and is removed with the pod.
func TestHostAndPodCgroupsIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	testenv.Require(t, "ip")
	if out, err := exec.Command("ip", "link", "add", "tugtest0", "type", "veth", "peer", "name", "tugtest1").CombinedOutput(); err != nil {
		t.Fatalf("add a veth pair in the test netns: %v: %s", err, out)
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)

	const ns, node = "default", "node-1"
	grace := int64(2)
	hello := func(name string, port int, env ...corev1.EnvVar) corev1.Container {
		return corev1.Container{Name: name, Image: testenv.HelloV1Ref,
			Env: append([]corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(port)}}, env...)}
	}
	hostPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hostnet", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace, HostNetwork: true, HostPID: true, HostIPC: true,
			Containers: []corev1.Container{hello("app", 18080)},
		},
	}
	ref := func(name, container, res, divisor string) corev1.EnvVar {
		s := &corev1.ResourceFieldSelector{ContainerName: container, Resource: res}
		if divisor != "" {
			s.Divisor = resource.MustParse(divisor)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: s}}
	}
	app := hello("app", 8080, corev1.EnvVar{Name: "GRPC_PORT", Value: "9090"},
		ref("MEM_LIMIT", "", "limits.memory", "1Mi"), ref("CPU_REQUEST", "", "requests.cpu", "1m"),
		ref("SIDE_CPU_LIMIT", "side", "limits.cpu", ""), ref("SIDE_MEM_LIMIT", "side", "limits.memory", ""))
	app.Resources = corev1.ResourceRequirements{Requests: res("cpu", "250m", "memory", "48Mi"), Limits: res("memory", "48Mi", "cpu", "500m")}
	app.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}},
		PeriodSeconds: 1, FailureThreshold: 1}
	readyService := "ready"
	side := hello("side", 8081, corev1.EnvVar{Name: "GRPC_PORT", Value: "9091"})
	side.Resources = corev1.ResourceRequirements{Limits: res("memory", "32Mi")}
	side.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9091, Service: &readyService}},
		PeriodSeconds: 1}
	tuned := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tuned", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "net.ipv4.ip_local_port_range", Value: "20000 30000"},
				{Name: "kernel/shm_rmid_forced", Value: "1"},
			}},
			Containers: []corev1.Container{app, side},
		},
	}
	if _, err := st.Apply([]manifest.Object{hostPod, tuned}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ta := startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.20.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	get := func(url string) string {
		t.Helper()
		var body string
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if body, err = httpGet(client, url); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return body
	}

	// hostNetwork and hostPID.
	var hp *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		if hp = getPod(t, st, ns, "hostnet"); hp.Status.Phase != corev1.PodRunning {
			return fmt.Sprintf("hostnet not running: %+v", hp.Status)
		}
		return ""
	})
	if hp.Status.PodIP != "127.0.0.1" || hp.Status.HostIP != "127.0.0.1" {
		t.Errorf("hostnet podIP %q hostIP %q, want the node's 127.0.0.1", hp.Status.PodIP, hp.Status.HostIP)
	}
	if dev := get("http://127.0.0.1:18080/file?path=/proc/net/dev"); !strings.Contains(dev, "tugtest0:") {
		t.Errorf("hostnet does not see the host netns' tugtest0:\n%s", dev)
	}
	if init := get("http://127.0.0.1:18080/file?path=/proc/1/cmdline"); strings.HasPrefix(init, "/hello") {
		t.Errorf("hostPID: PID 1 is the container's own %q", init)
	}
	shm := filepath.Join("/dev/shm", "tug-host-test-"+string(hp.UID))
	if err := os.WriteFile(shm, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(shm)
	if got := get("http://127.0.0.1:18080/file?path=" + shm); got != "from the host\n" {
		t.Errorf("hostIPC: the host's /dev/shm file reads %q inside", got)
	}
	if _, err := os.Stat(ta.agent.net.NetNSPath(hp.UID)); !os.IsNotExist(err) {
		t.Errorf("hostnet has a pod network namespace: %v", err)
	}

	// The tuned pod: side is unready while its health server does not know
	// the service "ready", then Ready once it serves it.
	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		if p = getPod(t, st, ns, "tuned"); p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Sprintf("tuned not running: %+v", p.Status)
		}
		return ""
	})
	base := "http://" + p.Status.PodIP + ":8080"
	get("http://" + p.Status.PodIP + ":8081/healthz")
	time.Sleep(1500 * time.Millisecond) // a readiness period or so
	if p = getPod(t, st, ns, "tuned"); podReady(p) {
		t.Errorf("tuned Ready while side's gRPC service %q is unknown", readyService)
	}
	get("http://" + p.Status.PodIP + ":8081/grpc-health?status=SERVING&service=" + readyService)
	waitFor(t, 30*time.Second, func() string {
		if p = getPod(t, st, ns, "tuned"); !podReady(p) {
			return fmt.Sprintf("tuned not ready after side's service serves: %+v", p.Status.Conditions)
		}
		return ""
	})

	// Sysctls.
	for file, want := range map[string]string{
		"/proc/sys/net/ipv4/ip_local_port_range": "20000\t30000",
		"/proc/sys/kernel/shm_rmid_forced":       "1",
	} {
		if got := strings.TrimSpace(get(base + "/file?path=" + file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// resourceFieldRef.
	env := get(base + "/env")
	for _, want := range []string{"MEM_LIMIT=48", "CPU_REQUEST=250",
		"SIDE_CPU_LIMIT=" + strconv.Itoa(runtime.NumCPU()), "SIDE_MEM_LIMIT=33554432"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}

	// The pod cgroup.
	podCg := podCgroupPath(p.UID, corev1.PodQOSBurstable)
	for _, c := range []string{"app", "side"} {
		pid := int(mustTask(t, ctx, ctrd.Client, ContainerID(p.UID, c)).Pid())
		cg := cgroupOf(t, pid, "memory")
		if want := path.Join(podCg, ContainerID(p.UID, c)); cg != want {
			t.Errorf("container %s in cgroup %s, want %s", c, cg, want)
		}
	}
	for _, c := range []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(80 << 20)},
		{"cpu", "cpu.shares", "256"},
		{"cpu", "cpu.cfs_quota_us", "-1"}, // side sets no CPU limit
	} {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", c.controller, podCg, c.file))
		if err != nil || strings.TrimSpace(string(b)) != c.want {
			t.Errorf("pod cgroup %s = %q (%v), want %s", c.file, b, err, c.want)
		}
	}

	// gRPC liveness: NOT_SERVING restarts the container.
	get(base + "/grpc-health?status=NOT_SERVING")
	waitFor(t, 30*time.Second, func() string {
		p = getPod(t, st, ns, "tuned")
		if cs := containerStatusOf(p, "app"); cs == nil || cs.RestartCount < 1 || cs.State.Running == nil {
			return fmt.Sprintf("app not restarted after NOT_SERVING: %+v", cs)
		}
		return ""
	})

	// Deleting the pods removes their cgroups.
	for _, name := range []string{"tuned", "hostnet"} {
		if err := st.Mutate(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
			q := cur.(*corev1.Pod)
			now := metav1.Now()
			q.DeletionTimestamp, q.DeletionGracePeriodSeconds = &now, &grace
			return q, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, func() string {
		if getPod(t, st, ns, "tuned") != nil || getPod(t, st, ns, "hostnet") != nil {
			return "pods still in the store"
		}
		return ""
	})
	for _, cg := range []string{podCg, podCgroupPath(hp.UID, corev1.PodQOSBestEffort)} {
		for _, c := range []string{"memory", "cpu", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, cg)); !os.IsNotExist(err) {
				t.Errorf("pod cgroup %s%s left after the pod: %v", c, cg, err)
			}
		}
	}
}

// cgroupOf is process pid's cgroup v1 path of controller.
func cgroupOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == controller {
			return f[2]
		}
	}
	t.Fatalf("process %d has no %s cgroup: %s", pid, controller, data)
	return ""
}
