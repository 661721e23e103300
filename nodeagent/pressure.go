package nodeagent

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostUsage is what the node conditions are computed from, sampled at
// every heartbeat. Unknown figures are 0 (no pressure is derived from them).
type hostUsage struct {
	MemAvailable             int64 // bytes (MemAvailable of /proc/meminfo)
	DiskAvailable, DiskTotal int64 // bytes, of the filesystem of DataDir
	InodesFree, InodesTotal  int64
	Threads, PIDMax          int64  // kernel tasks in use, and pid_max
	RuntimeDown              string // why containerd does not answer; empty when it does
}

// Thresholds are the kubelet's default hard eviction signals, used as the
// pressure thresholds: memory.available<100Mi, nodefs.available<10%,
// nodefs.inodesFree<5%; PIDs (which the kubelet does not bound by default)
// are under pressure when fewer than 10% of pid_max are left.
type Thresholds struct {
	MemoryAvailable   int64   // bytes
	DiskAvailableFrac float64 // of the total
	InodesFreeFrac    float64
	PIDsFreeFrac      float64
}

// DefaultThresholds are the kubelet's defaults (see Thresholds).
var DefaultThresholds = Thresholds{MemoryAvailable: 100 << 20, DiskAvailableFrac: 0.10, InodesFreeFrac: 0.05, PIDsFreeFrac: 0.10}

// nodeConditions computes the node's conditions in the kubelet's order
// and words: MemoryPressure, DiskPressure, PIDPressure, Ready (False while
// the container runtime does not answer). Transition times carry over from
// cur while a condition's status holds. It is pure.
func nodeConditions(cur []corev1.NodeCondition, u hostUsage, th Thresholds, now time.Time) []corev1.NodeCondition {
	ts := metav1.NewTime(now.Truncate(time.Second))
	cond := func(typ corev1.NodeConditionType, bad bool, goodReason, goodMsg, badReason, badMsg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: typ, Status: corev1.ConditionFalse, Reason: goodReason, Message: goodMsg,
			LastHeartbeatTime: ts, LastTransitionTime: ts}
		if bad {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, badReason, badMsg
		}
		if typ == corev1.NodeReady { // Ready is good when True
			if bad {
				c.Status = corev1.ConditionFalse
			} else {
				c.Status = corev1.ConditionTrue
			}
		}
		for _, old := range cur {
			if old.Type == typ && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	below := func(free, total int64, frac float64) bool {
		return total > 0 && float64(free) < frac*float64(total)
	}
	memory := u.MemAvailable > 0 && u.MemAvailable < th.MemoryAvailable
	disk := below(u.DiskAvailable, u.DiskTotal, th.DiskAvailableFrac) || below(u.InodesFree, u.InodesTotal, th.InodesFreeFrac)
	pids := u.PIDMax > 0 && below(u.PIDMax-u.Threads, u.PIDMax, th.PIDsFreeFrac)
	return []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, memory, "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
			"KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
		cond(corev1.NodeDiskPressure, disk, "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
			"KubeletHasDiskPressure", "kubelet has disk pressure"),
		cond(corev1.NodePIDPressure, pids, "KubeletHasSufficientPID", "kubelet has sufficient PID available",
			"KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
		cond(corev1.NodeReady, u.RuntimeDown != "", "KubeletReady", "tug node agent is posting ready status",
			"ContainerRuntimeNotReady", "container runtime is down: "+u.RuntimeDown),
	}
}

// readHostUsage samples the host for nodeConditions.
func (a *Agent) readHostUsage(ctx context.Context) hostUsage {
	var u hostUsage
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		u.MemAvailable = meminfoField(data, "MemAvailable:")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(a.cfg.DataDir, &st); err == nil {
		u.DiskAvailable, u.DiskTotal = int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize
		u.InodesFree, u.InodesTotal = int64(st.Ffree), int64(st.Files)
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		u.Threads = loadavgThreads(data)
	}
	u.PIDMax, _ = strconv.ParseInt(readTrimmed("/proc/sys/kernel/pid_max"), 10, 64)
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.cfg.Client.Version(vctx); err != nil {
		u.RuntimeDown = err.Error()
	}
	return u
}

// meminfoField parses one kB field of /proc/meminfo, in bytes.
func meminfoField(meminfo []byte, name string) int64 {
	for line := range bytes.Lines(meminfo) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == name {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// loadavgThreads parses the number of kernel scheduling entities (threads)
// out of /proc/loadavg ("0.00 0.01 0.05 1/123 4567").
func loadavgThreads(loadavg []byte) int64 {
	f := strings.Fields(string(loadavg))
	if len(f) < 4 {
		return 0
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
