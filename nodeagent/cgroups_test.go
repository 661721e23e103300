package nodeagent

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden OCI spec fragments in testdata/")

func limitsOf(cpuReq, cpuLim, memReq, memLim string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		rl   corev1.ResourceList
		name corev1.ResourceName
		v    string
	}{{r.Requests, corev1.ResourceCPU, cpuReq}, {r.Limits, corev1.ResourceCPU, cpuLim}, {r.Requests, corev1.ResourceMemory, memReq}, {r.Limits, corev1.ResourceMemory, memLim}} {
		if q.v != "" {
			q.rl[q.name] = resource.MustParse(q.v)
		}
	}
	return r
}

func TestPodLimits(t *testing.T) {
	ct := func(r corev1.ResourceRequirements) corev1.Container { return corev1.Container{Resources: r} }
	tests := []struct {
		name       string
		containers []corev1.Container
		init       []corev1.Container
		want       podCgroupLimits
		wantPath   string
	}{
		{name: "best effort", containers: []corev1.Container{{}, {}},
			want: podCgroupLimits{CPUShares: 2}, wantPath: "/tug/besteffort/podu1"},
		{name: "guaranteed: sums", containers: []corev1.Container{ct(limitsOf("", "500m", "", "64Mi")), ct(limitsOf("", "250m", "", "32Mi"))},
			want: podCgroupLimits{MemoryBytes: 96 << 20, CPUQuota: 75000, CPUShares: 768}, wantPath: "/tug/podu1"},
		{name: "burstable: one container without a memory limit", containers: []corev1.Container{ct(limitsOf("100m", "1", "", "64Mi")), ct(limitsOf("100m", "1", "", ""))},
			want: podCgroupLimits{CPUQuota: 200000, CPUShares: 204}, wantPath: "/tug/burstable/podu1"},
		{name: "a bigger init container wins", containers: []corev1.Container{ct(limitsOf("", "100m", "", "16Mi"))}, init: []corev1.Container{ct(limitsOf("", "2", "", "128Mi"))},
			want: podCgroupLimits{MemoryBytes: 128 << 20, CPUQuota: 200000, CPUShares: 2048}, wantPath: "/tug/podu1"},
		{name: "an init container without limits lifts them", containers: []corev1.Container{ct(limitsOf("", "100m", "", "16Mi"))}, init: []corev1.Container{{}},
			want: podCgroupLimits{CPUShares: 102}, wantPath: "/tug/burstable/podu1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tt.containers, InitContainers: tt.init}}
			if diff := cmp.Diff(tt.want, podLimits(pod)); diff != "" {
				t.Errorf("podLimits (-want +got):\n%s", diff)
			}
			if got := podCgroupPath("u1", QOSClass(pod)); got != tt.wantPath {
				t.Errorf("podCgroupPath = %q, want %q", got, tt.wantPath)
			}
		})
	}
}

// readTree returns the regular files under root with their content.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCgroupFS(t *testing.T) {
	l := podCgroupLimits{MemoryBytes: 96 << 20, CPUQuota: 75000, CPUShares: 768}
	const p = "/tug/burstable/podu1"
	t.Run("v1", func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"memory", "cpu", "pids"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(root, "memory", "memory.limit_in_bytes"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		fs := detectCgroups(root)
		if !fs.enabled || fs.v2 {
			t.Fatalf("detected %+v, want v1", fs)
		}
		if err := fs.ensure(p, l); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"memory/memory.limit_in_bytes":                     "",
			"memory/tug/burstable/podu1/memory.limit_in_bytes": "100663296",
			"cpu/tug/burstable/podu1/cpu.shares":               "768",
			"cpu/tug/burstable/podu1/cpu.cfs_period_us":        "100000",
			"cpu/tug/burstable/podu1/cpu.cfs_quota_us":         "75000",
		}
		if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
		// A container cgroup runc left (an empty directory in a real
		// cgroupfs) goes with the pod's.
		for _, f := range []string{"memory", "cpu"} {
			for file := range want {
				if filepath.Dir(file) == filepath.Join(f, p[1:]) {
					os.Remove(filepath.Join(root, file)) // cgroupfs files vanish with the directory
				}
			}
		}
		if err := os.Mkdir(filepath.Join(root, "pids", "tug"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "pids", p, "u1-web"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fs.remove(p); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"memory", "cpu", "pids"} {
			if _, err := os.Stat(filepath.Join(root, d, p)); !os.IsNotExist(err) {
				t.Errorf("%s%s still there: %v", d, p, err)
			}
		}
		if err := fs.remove(p); err != nil {
			t.Errorf("second remove: %v", err)
		}
	})
	t.Run("v2", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory"), 0o644); err != nil {
			t.Fatal(err)
		}
		fs := detectCgroups(root)
		if !fs.enabled || !fs.v2 {
			t.Fatalf("detected %+v, want v2", fs)
		}
		if err := fs.ensure(p, podCgroupLimits{CPUShares: 2}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"cgroup.controllers":                   "cpu memory",
			"cgroup.subtree_control":               "+memory",
			"tug/cgroup.subtree_control":           "+memory",
			"tug/burstable/cgroup.subtree_control": "+memory",
			"tug/burstable/podu1/memory.max":       "max",
			"tug/burstable/podu1/cpu.max":          "max 100000",
			"tug/burstable/podu1/cpu.weight":       "1",
		}
		if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("none", func(t *testing.T) {
		fs := detectCgroups(t.TempDir())
		if fs.enabled {
			t.Fatalf("detected %+v, want disabled", fs)
		}
		if err := fs.ensure(p, l); err != nil {
			t.Error(err)
		}
	})
}

// TestSandboxOpts compares the OCI spec fragment sandboxOpts shapes with
// golden files (go test -run TestSandboxOpts -update-golden rewrites them).
func TestSandboxOpts(t *testing.T) {
	sysctls := &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
		{Name: "net.ipv4.ip_local_port_range", Value: "1024 65000"}, {Name: "kernel/shm_rmid_forced", Value: "1"}}}
	tests := []struct {
		name   string
		spec   corev1.PodSpec
		cgroup string
	}{
		{name: "pod-network", spec: corev1.PodSpec{SecurityContext: sysctls}, cgroup: "/tug/burstable/podu1/u1-web"},
		{name: "host-namespaces", spec: corev1.PodSpec{HostNetwork: true, HostPID: true, HostIPC: true}, cgroup: "/tug/podu1/u1-web"},
		{name: "default-cgroup", spec: corev1.PodSpec{}},
	}
	ctx := namespaces.WithNamespace(context.Background(), "tug")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			pod.Name, pod.UID = "web-1", types.UID("u1")
			s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "u1-web"}, sandboxOpts(pod, "/data/netns/u1", tt.cgroup)...)
			if err != nil {
				t.Fatal(err)
			}
			var shm *specs.Mount
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/dev/shm" {
					shm = &s.Mounts[i]
				}
			}
			frag := struct {
				Hostname    string                 `json:"hostname"`
				Namespaces  []specs.LinuxNamespace `json:"namespaces"`
				Sysctl      map[string]string      `json:"sysctl,omitempty"`
				CgroupsPath string                 `json:"cgroupsPath"`
				Shm         *specs.Mount           `json:"devShm"`
			}{s.Hostname, s.Linux.Namespaces, s.Linux.Sysctl, s.Linux.CgroupsPath, shm}
			got, err := json.MarshalIndent(frag, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "sandbox-"+tt.name+".json")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestIdlePods(t *testing.T) {
	root := t.TempDir()
	mem := filepath.Join(root, "memory")
	mkCgroup := func(p, procs string, age time.Duration) {
		t.Helper()
		dir := filepath.Join(mem, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(procs), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(mem, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mem, "memory.limit_in_bytes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mkCgroup("/tug/burstable/podidle/x", "", time.Hour) // a container cgroup: its pod is busy
	mkCgroup("/tug/besteffort/podgone", "", time.Hour)
	mkCgroup("/tug/podgone2", "", time.Hour)
	mkCgroup("/tug/podprocs", "123\n", time.Hour)
	mkCgroup("/tug/podyoung", "", time.Second)
	mkCgroup("/tug/u1-legacy", "", time.Hour) // containerd's default cgroup of a container
	for _, p := range []string{"/tug/burstable/podidle", "/tug/burstable/podidle/x"} {
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(filepath.Join(mem, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	got := detectCgroups(root).idlePods(time.Now(), time.Minute)
	if diff := cmp.Diff([]types.UID{"gone2", "gone"}, got); diff != "" {
		t.Errorf("idlePods (-want +got):\n%s", diff)
	}
}
