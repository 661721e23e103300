package nodeagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod cgroups follow the kubelet's hierarchy with the cgroupfs driver, under
// cgroupRoot instead of /kubepods:
//
//	/tug/pod<uid>/<container id>             Guaranteed pods
//	/tug/burstable/pod<uid>/<container id>   Burstable pods
//	/tug/besteffort/pod<uid>/<container id>  BestEffort pods
//
// The pod cgroup carries the pod-level limits (podCgroupLimits); runc
// creates each container's cgroup below it from the OCI spec's
// linux.cgroupsPath and removes it with the container.
const cgroupRoot = "/tug"

// podCgroupPath is the cgroupfs path of pod uid of class qos.
func podCgroupPath(uid types.UID, qos corev1.PodQOSClass) string {
	switch qos {
	case corev1.PodQOSBurstable:
		return path.Join(cgroupRoot, "burstable", "pod"+string(uid))
	case corev1.PodQOSBestEffort:
		return path.Join(cgroupRoot, "besteffort", "pod"+string(uid))
	}
	return path.Join(cgroupRoot, "pod"+string(uid))
}

// podCgroupPaths are the cgroups pod uid may have (its class is unknown
// once the pod is gone).
func podCgroupPaths(uid types.UID) []string {
	return []string{
		podCgroupPath(uid, corev1.PodQOSGuaranteed),
		podCgroupPath(uid, corev1.PodQOSBurstable),
		podCgroupPath(uid, corev1.PodQOSBestEffort),
	}
}

// podCgroupLimits are the pod cgroup's settings.
type podCgroupLimits struct {
	MemoryBytes int64  // 0: no limit
	CPUQuota    int64  // CFS quota in µs per cpuPeriod; 0: no limit
	CPUShares   uint64 // from the CPU requests
}

const cpuPeriod = 100_000 // µs, the kubelet's CFS period

// podLimits is the kubelet's ResourceConfigForPod: CPU shares from the sum
// of the CPU requests; a memory (CPU) limit only when every container,
// init containers included, sets one: the sum over the containers, or the
// largest init container's when that is bigger (init containers run one at
// a time, before the others).
func podLimits(pod *corev1.Pod) podCgroupLimits {
	sum := func(name corev1.ResourceName, limits bool) (total int64, all bool) {
		get := func(c *corev1.Container) (int64, bool) {
			rl := c.Resources.Requests
			if limits {
				rl = c.Resources.Limits
			}
			q, ok := rl[name]
			if !ok && !limits {
				q, ok = c.Resources.Limits[name] // the API server's default request
			}
			if !ok || q.IsZero() {
				return 0, false
			}
			if name == corev1.ResourceCPU {
				return q.MilliValue(), true
			}
			return q.Value(), true
		}
		all = true
		for i := range pod.Spec.Containers {
			v, ok := get(&pod.Spec.Containers[i])
			total += v
			all = all && ok
		}
		for i := range pod.Spec.InitContainers {
			v, ok := get(&pod.Spec.InitContainers[i])
			total = max(total, v)
			all = all && ok
		}
		return total, all
	}
	var l podCgroupLimits
	req, _ := sum(corev1.ResourceCPU, false)
	l.CPUShares = cpuShares(req)
	if milli, all := sum(corev1.ResourceCPU, true); all {
		l.CPUQuota = max(milli*cpuPeriod/1000, 1000)
	}
	if mem, all := sum(corev1.ResourceMemory, true); all {
		l.MemoryBytes = mem
	}
	return l
}

// cgroupFS writes pod cgroups under a cgroup mount: cgroup v2 (one
// unified hierarchy) or v1 (one hierarchy per controller, root/<name>).
type cgroupFS struct {
	root    string
	v2      bool
	enabled bool // false: no writable cgroup mount; containers keep containerd's default cgroup
}

// detectCgroups looks at the cgroup mount under root (/sys/fs/cgroup).
func detectCgroups(root string) cgroupFS {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return cgroupFS{root: root, v2: true, enabled: true}
	}
	if _, err := os.Stat(filepath.Join(root, "memory", "memory.limit_in_bytes")); err == nil {
		return cgroupFS{root: root, enabled: true}
	}
	return cgroupFS{root: root}
}

// hostCgroups is the node's cgroup mount, detected once.
var hostCgroups = sync.OnceValue(func() cgroupFS { return detectCgroups("/sys/fs/cgroup") })

// cpuWeight is the kubelet's CpuSharesToCpuWeight (cgroup v2).
func cpuWeight(shares uint64) uint64 {
	return 1 + ((shares-2)*9999)/262142
}

// ensure creates the pod cgroup p with limits l (idempotent).
func (c cgroupFS) ensure(p string, l podCgroupLimits) error {
	if !c.enabled {
		return nil
	}
	if c.v2 {
		return c.ensureV2(p, l)
	}
	mem, cpu := filepath.Join(c.root, "memory", p), filepath.Join(c.root, "cpu", p)
	quota := "-1"
	if l.CPUQuota > 0 {
		quota = strconv.FormatInt(l.CPUQuota, 10)
	}
	memLimit := "-1"
	if l.MemoryBytes > 0 {
		memLimit = strconv.FormatInt(l.MemoryBytes, 10)
	}
	for _, w := range []struct{ dir, file, value string }{
		{mem, "memory.limit_in_bytes", memLimit},
		{cpu, "cpu.shares", strconv.FormatUint(l.CPUShares, 10)},
		{cpu, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)},
		{cpu, "cpu.cfs_quota_us", quota},
	} {
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
		if err := writeCgroupFile(w.dir, w.file, w.value); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	return nil
}

func (c cgroupFS) ensureV2(p string, l podCgroupLimits) error {
	dir := filepath.Join(c.root, p)
	// Controllers must be enabled in every ancestor's subtree_control for
	// the pod cgroup to have their files.
	rel, err := filepath.Rel(c.root, dir)
	if err != nil {
		return err
	}
	cur := c.root
	for _, seg := range splitPath(rel) {
		for _, ctl := range []string{"+cpu", "+memory"} {
			if err := writeCgroupFile(cur, "cgroup.subtree_control", ctl); err != nil {
				return fmt.Errorf("pod cgroup %s: enable %s in %s: %w", p, ctl[1:], cur, err)
			}
		}
		cur = filepath.Join(cur, seg)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	memMax, cpuMax := "max", "max "+strconv.Itoa(cpuPeriod)
	if l.MemoryBytes > 0 {
		memMax = strconv.FormatInt(l.MemoryBytes, 10)
	}
	if l.CPUQuota > 0 {
		cpuMax = strconv.FormatInt(l.CPUQuota, 10) + " " + strconv.Itoa(cpuPeriod)
	}
	for _, w := range []struct{ file, value string }{
		{"memory.max", memMax},
		{"cpu.max", cpuMax},
		{"cpu.weight", strconv.FormatUint(cpuWeight(l.CPUShares), 10)},
	} {
		if err := writeCgroupFile(dir, w.file, w.value); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	return nil
}

func splitPath(rel string) []string {
	var out []string
	for rel != "." && rel != "" && rel != string(filepath.Separator) {
		dir, base := filepath.Split(rel)
		out = append([]string{base}, out...)
		rel = filepath.Clean(dir)
	}
	return out
}

func writeCgroupFile(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644)
}

// remove deletes pod cgroup p and any container cgroup left below it, in
// every hierarchy. A cgroup that is missing is fine; one that still has
// processes is an error (the pod's teardown is retried).
func (c cgroupFS) remove(p string) error {
	if !c.enabled {
		return nil
	}
	roots := []string{c.root}
	if !c.v2 {
		entries, err := os.ReadDir(c.root)
		if err != nil {
			return err
		}
		roots = roots[:0]
		for _, e := range entries {
			if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
				roots = append(roots, filepath.Join(c.root, e.Name()))
			}
		}
	}
	var errs []error
	for _, r := range roots {
		dir := filepath.Join(r, p)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove pod cgroup %s: %w", p, err)
	}
	return nil
}

// idlePods lists the UIDs of the pod cgroups that hold no container cgroup
// and no process and were created more than minAge before now: those of
// pods whose teardown never ran (tugd stopped for good with pods running,
// tests). The agent tears down those of pods not bound to it (observe);
// minAge keeps it off a pod another agent on the same host is starting.
func (c cgroupFS) idlePods(now time.Time, minAge time.Duration) []types.UID {
	if !c.enabled {
		return nil
	}
	base := c.root
	if !c.v2 {
		base = filepath.Join(c.root, "memory")
	}
	var out []types.UID
	for _, class := range []string{"", "burstable", "besteffort"} {
		dir := filepath.Join(base, cgroupRoot, class)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			uid, ok := strings.CutPrefix(e.Name(), "pod")
			if !ok || !e.IsDir() {
				continue
			}
			if info, err := e.Info(); err != nil || now.Sub(info.ModTime()) < minAge {
				continue
			}
			if idleCgroup(filepath.Join(dir, e.Name())) {
				out = append(out, types.UID(uid))
			}
		}
	}
	return out
}

// idleCgroup reports whether cgroup dir has no child cgroup and no process.
func idleCgroup(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() {
			return false
		}
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return err == nil && len(strings.TrimSpace(string(procs))) == 0
}

// idlePodCgroupAge is how old an idle pod cgroup of a pod not bound here
// must be before the agent removes it.
const idlePodCgroupAge = time.Minute
