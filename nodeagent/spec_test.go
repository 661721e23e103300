package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/tug-dev/tug/nodeagent/podenv"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestProcessArgs(t *testing.T) {
	lookup := podenv.Lookup([]podenv.Var{{Name: "PORT", Value: "8080"}})
	entry, cmd := []string{"/entry"}, []string{"serve", "--x"}
	tests := []struct {
		name    string
		c       corev1.Container
		ep, cmd []string
		want    []string
		wantErr bool
	}{
		{name: "image defaults", ep: entry, cmd: cmd, want: []string{"/entry", "serve", "--x"}},
		{name: "args replace cmd", c: corev1.Container{Args: []string{"--port=$(PORT)"}}, ep: entry, cmd: cmd, want: []string{"/entry", "--port=8080"}},
		{name: "command replaces entrypoint and cmd", c: corev1.Container{Command: []string{"/bin/sh", "-c"}}, ep: entry, cmd: cmd, want: []string{"/bin/sh", "-c"}},
		{name: "command and args", c: corev1.Container{Command: []string{"/app"}, Args: []string{"$(PORT)", "$$(PORT)"}}, ep: entry, cmd: cmd, want: []string{"/app", "8080", "$(PORT)"}},
		{name: "cmd only image", cmd: []string{"/hello"}, want: []string{"/hello"}},
		{name: "nothing to run", c: corev1.Container{Name: "c"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := processArgs(&tt.c, tt.ep, tt.cmd, lookup)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The image's slices are never modified.
	if _, err := processArgs(&corev1.Container{Args: []string{"a"}}, entry[:1:1], cmd, lookup); err != nil || entry[0] != "/entry" {
		t.Errorf("entrypoint changed: %v %v", entry, err)
	}
}

func TestContainerMounts(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
	}}}
	files := podFiles{Hosts: "/p/.etc/hosts", ResolvConf: "/p/.etc/resolv.conf", Hostname: "/p/.etc/hostname"}
	c := &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "data", MountPath: "/cache", SubPath: "cache/x", ReadOnly: true},
		{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"},
		{Name: "tls", MountPath: "/tls"},
	}}
	got, err := containerMounts(pod, c, "/p", files)
	if err != nil {
		t.Fatal(err)
	}
	rw := []string{"rbind", "rprivate", "rw"}
	ro := []string{"rbind", "rprivate", "ro"}
	want := []specs.Mount{
		{Destination: "/etc/hosts", Type: "bind", Source: "/p/.etc/hosts", Options: rw},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: "/p/.etc/resolv.conf", Options: rw},
		{Destination: "/etc/hostname", Type: "bind", Source: "/p/.etc/hostname", Options: rw},
		{Destination: "/data", Type: "bind", Source: "/p/.volumes/data", Options: rw},
		{Destination: "/cache", Type: "bind", Source: "/p/.volumes/data/cache/x", Options: ro},
		{Destination: "/etc/app.conf", Type: "bind", Source: "/p/.volumes/cfg/app.conf", Options: ro},
		{Destination: "/tls", Type: "bind", Source: "/p/.volumes/tls", Options: ro},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/p/.volumes/data/cache/x"}, subPathDirs(pod, c, "/p")); diff != "" {
		t.Errorf("subPath dirs (-want +got):\n%s", diff)
	}

	for _, bad := range []corev1.VolumeMount{
		{Name: "nope", MountPath: "/x"},
		{Name: "data", MountPath: "relative"},
		{Name: "data", MountPath: "/x", SubPath: "../../etc"},
		{Name: "data", MountPath: "/x", SubPath: "/abs"},
	} {
		c := &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{bad}}
		if _, err := containerMounts(pod, c, "/p", files); err == nil || !strings.Contains(err.Error(), `container "app"`) {
			t.Errorf("mount %+v: err = %v", bad, err)
		}
	}
}

func TestResourceOpts(t *testing.T) {
	apply := func(c *corev1.Container) *specs.LinuxResources {
		s := &oci.Spec{Linux: &specs.Linux{}}
		for _, o := range resourceOpts(c) {
			if err := o(context.Background(), nil, &containers.Container{}, s); err != nil {
				t.Fatal(err)
			}
		}
		return s.Linux.Resources
	}
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
	}}
	r := apply(c)
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 256 {
		t.Errorf("resources: mem %d quota %d period %d shares %d", *r.Memory.Limit, *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares)
	}
	// Only a limit: shares follow the limit.
	r = apply(&corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}})
	if *r.CPU.Shares != 2048 || r.Memory != nil {
		t.Errorf("limit only: shares %d memory %v", *r.CPU.Shares, r.Memory)
	}
	// Best effort.
	r = apply(&corev1.Container{})
	if *r.CPU.Shares != 2 || r.CPU.Quota != nil {
		t.Errorf("best effort: %+v", r.CPU)
	}
}

func TestHostsFile(t *testing.T) {
	got := string(hostsFile("10.42.0.7", "web-1"))
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.42.0.7\tweb-1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts lacks %q:\n%s", want, got)
		}
	}
}

func TestNodeObject(t *testing.T) {
	h := hostInfo{CPUs: 2, MemoryBytes: 4 << 30, StorageBytes: 100 << 30, Kernel: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)",
		RuntimeVersion: "containerd://1.6.20", Architecture: "amd64", Hostname: "box"}
	u := hostUsage{MemAvailable: 2 << 30, DiskAvailable: 50 << 30, DiskTotal: 100 << 30, Threads: 300, PIDMax: 4194304}
	n := nodeObject(nil, "n1", "10.42.0.0/24", "127.0.0.1", h, u, t0.Add(400*time.Millisecond))
	if n.Name != "n1" || n.Kind != "Node" || n.Spec.PodCIDR != "10.42.0.0/24" {
		t.Errorf("node meta/spec: %+v %+v", n.ObjectMeta, n.Spec)
	}
	cap := n.Status.Capacity
	if cap.Cpu().Value() != 2 || cap.Memory().Value() != 4<<30 || cap.Pods().Value() != MaxPods || cap.StorageEphemeral().Value() != 100<<30 {
		t.Errorf("capacity: %v", cap)
	}
	if diff := cmp.Diff(cap, n.Status.Allocatable); diff != "" {
		t.Errorf("allocatable differs:\n%s", diff)
	}
	if a := n.Status.Addresses; len(a) == 0 || a[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) {
		t.Errorf("addresses: %v", a)
	}
	ready := n.Status.Conditions[3]
	if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionTrue || !ready.LastHeartbeatTime.Time.Equal(t0) {
		t.Errorf("ready: %+v", ready)
	}
	// A heartbeat later: only the heartbeat moves; labels set by others stay.
	n.Labels = map[string]string{"zone": "a"}
	later := nodeObject(n, "n1", "10.42.0.0/24", "127.0.0.1", h, u, t0.Add(10*time.Second))
	r := later.Status.Conditions[3]
	if !r.LastHeartbeatTime.Time.Equal(t0.Add(10*time.Second)) || !r.LastTransitionTime.Time.Equal(t0) || later.Labels["zone"] != "a" {
		t.Errorf("after heartbeat: %+v labels %v", r, later.Labels)
	}
}

func TestHostParsers(t *testing.T) {
	if got := memTotal([]byte("MemTotal:        8039552 kB\nMemFree: 1 kB\n")); got != 8039552*1024 {
		t.Errorf("memTotal = %d", got)
	}
	if got := osPrettyName([]byte("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osPrettyName = %q", got)
	}
}

func TestTailOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	content := "one\ntwo\nthree\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n, want := range map[int64]string{0: "", 1: "three\n", 2: "two\nthree\n", 3: content, 10: content} {
		off, err := tailOffset(f, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := content[off:]; got != want {
			t.Errorf("tail %d = %q, want %q", n, got, want)
		}
	}
}

func TestLogRuns(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0.log", "10.log", "2.log", "x.log", "3.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int{0, 2, 10}, logRuns(dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
