package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/podenv"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
)

// processArgs applies Kubernetes' command/args rules to the image's
// entrypoint and cmd: command replaces the entrypoint (and drops cmd), args
// replace cmd. $(VAR) references in command and args are expanded with the
// container's environment.
func processArgs(c *corev1.Container, entrypoint, cmd []string, lookup func(string) (string, bool)) ([]string, error) {
	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(podenv.ExpandAll(c.Command, lookup), podenv.ExpandAll(c.Args, lookup)...)
	case len(c.Args) > 0:
		args = append(append([]string{}, entrypoint...), podenv.ExpandAll(c.Args, lookup)...)
	default:
		args = append(append([]string{}, entrypoint...), cmd...)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("container %q: no command: the image has no entrypoint or cmd and the pod gives none", c.Name)
	}
	return args, nil
}

// podFiles are the per-pod files bind-mounted into every container.
type podFiles struct {
	Hosts, ResolvConf, Hostname string
}

// containerMounts returns the bind mounts of container c: the pod's /etc
// files, then its volume mounts. A subPath of an emptyDir is created on
// demand, as the kubelet does; a subPath must stay inside its volume.
func containerMounts(pod *corev1.Pod, c *corev1.Container, podDir string, files podFiles) ([]specs.Mount, error) {
	mounts := []specs.Mount{
		bind("/etc/hosts", files.Hosts, false),
		bind("/etc/resolv.conf", files.ResolvConf, false),
		bind("/etc/hostname", files.Hostname, false),
	}
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	for _, vm := range c.VolumeMounts {
		v := vols[vm.Name]
		if v == nil {
			return nil, fmt.Errorf("container %q: volumeMount %q: no such volume in the pod", c.Name, vm.Name)
		}
		if !path.IsAbs(vm.MountPath) {
			return nil, fmt.Errorf("container %q: volumeMount %q: mountPath %q must be absolute", c.Name, vm.Name, vm.MountPath)
		}
		src := volume.Dir(podDir, vm.Name)
		if v.HostPath != nil {
			src = filepath.Clean(v.HostPath.Path)
		}
		if vm.SubPath != "" {
			if !filepath.IsLocal(vm.SubPath) {
				return nil, fmt.Errorf("container %q: volumeMount %q: subPath %q must be relative and stay inside the volume", c.Name, vm.Name, vm.SubPath)
			}
			src = filepath.Join(src, filepath.FromSlash(vm.SubPath))
		}
		// Secret, configMap, downwardAPI and projected volumes are
		// read-only, as in Kubernetes.
		ro := vm.ReadOnly || v.Secret != nil || v.ConfigMap != nil || v.DownwardAPI != nil || v.Projected != nil
		mounts = append(mounts, bind(vm.MountPath, src, ro))
	}
	return mounts, nil
}

// subPathDirs lists the emptyDir subPath directories container c needs.
func subPathDirs(pod *corev1.Pod, c *corev1.Container, podDir string) []string {
	var out []string
	for _, vm := range c.VolumeMounts {
		if vm.SubPath == "" || !filepath.IsLocal(vm.SubPath) {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.EmptyDir != nil {
				out = append(out, filepath.Join(volume.Dir(podDir, vm.Name), filepath.FromSlash(vm.SubPath)))
			}
		}
	}
	return out
}

func bind(dst, src string, ro bool) specs.Mount {
	opt := "rw"
	if ro {
		opt = "ro"
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", opt}}
}

// resourceOpts turns requests and limits into cgroup settings: the memory
// limit, a CFS quota for the CPU limit (100 ms period) and CPU shares from
// the CPU request (the limit when only a limit is given; 2 when neither, as
// the kubelet does for best-effort containers).
func resourceOpts(c *corev1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	lim, req := c.Resources.Limits, c.Resources.Requests
	if m, ok := lim[corev1.ResourceMemory]; ok && m.Value() > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(m.Value())))
	}
	const period = 100_000
	if cpu, ok := lim[corev1.ResourceCPU]; ok && cpu.MilliValue() > 0 {
		quota := max(cpu.MilliValue()*period/1000, 1000) // the kernel's minimum is 1 ms
		opts = append(opts, oci.WithCPUCFS(quota, period))
	}
	milli := int64(0)
	if cpu, ok := req[corev1.ResourceCPU]; ok {
		milli = cpu.MilliValue()
	} else if cpu, ok := lim[corev1.ResourceCPU]; ok {
		milli = cpu.MilliValue()
	}
	opts = append(opts, oci.WithCPUShares(cpuShares(milli)))
	return opts
}

// withOOMScoreAdj sets the container process's oom_score_adj.
func withOOMScoreAdj(adj int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// cpuShares is the kubelet's MilliCPUToShares.
func cpuShares(milli int64) uint64 {
	const minShares, maxShares = 2, 262144
	if milli == 0 {
		return minShares
	}
	s := milli * 1024 / 1000
	return uint64(min(max(s, minShares), maxShares))
}

// hostsFile renders the pod's /etc/hosts.
func hostsFile(podIP, hostname string) []byte {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (tug).\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if podIP != "" {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	return []byte(b.String())
}

var errNoSandbox = errors.New("pod network is not set up")

// sandboxOpts place a container in its pod: the pod's network namespace
// (nsPath) and hostname, or with hostNetwork the host's network and UTS
// namespaces (the hostname is the node's, as in Kubernetes); the host's
// PID namespace for hostPID; the host's IPC namespace and /dev/shm for
// hostIPC; the pod's sysctls (validation let only the safe set through);
// and the container's cgroup (cgroupPath, below the pod's cgroup; empty:
// containerd's default).
func sandboxOpts(pod *corev1.Pod, nsPath, cgroupPath string) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if pod.Spec.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	} else {
		opts = append(opts, oci.WithHostname(pod.Name),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath}))
	}
	if pod.Spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace), withHostShm)
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		sysctls := make(map[string]string, len(sc.Sysctls))
		for _, s := range sc.Sysctls {
			sysctls[manifest.NormalizeSysctl(s.Name)] = s.Value
		}
		opts = append(opts, withSysctls(sysctls))
	}
	if cgroupPath != "" {
		opts = append(opts, oci.WithCgroup(cgroupPath))
	}
	return opts
}

// withHostShm replaces the container's own /dev/shm by the node's, as
// containerd's CRI does for hostIPC.
func withHostShm(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	for i, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			s.Mounts[i] = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rprivate", "rw"}}
			return nil
		}
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rprivate", "rw"}})
	return nil
}

func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}
