package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxPods is the pods capacity every node reports.
const MaxPods = 110

// hostInfo is what the node reports about its host; read once per Run.
type hostInfo struct {
	CPUs           int
	MemoryBytes    int64
	StorageBytes   int64
	Kernel         string
	OSImage        string
	RuntimeVersion string // containerd://<version>
	Architecture   string
	MachineID      string
	SystemUUID     string
	BootID         string
	Hostname       string
}

func readHostInfo(ctx context.Context, cfg Config) hostInfo {
	h := hostInfo{CPUs: runtime.NumCPU(), Architecture: runtime.GOARCH}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.MemoryBytes = memTotal(data)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.DataDir, &st); err == nil {
		h.StorageBytes = int64(st.Blocks) * st.Bsize
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		h.Kernel = unix.ByteSliceToString(uts.Release[:])
		h.Hostname = unix.ByteSliceToString(uts.Nodename[:])
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		h.OSImage = osPrettyName(data)
	}
	if v, err := cfg.Client.Version(ctx); err == nil {
		h.RuntimeVersion = "containerd://" + v.Version
	}
	h.MachineID = readTrimmed("/etc/machine-id")
	h.SystemUUID = strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid")) // root only; empty in some VMs
	h.BootID = readTrimmed("/proc/sys/kernel/random/boot_id")
	return h
}

func readTrimmed(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

// memTotal parses MemTotal (kB) out of /proc/meminfo, in bytes.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// osPrettyName returns PRETTY_NAME from an os-release file.
func osPrettyName(osRelease []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(osRelease))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// nodeObject returns the node to store: cur (nil when missing) with the
// agent's status (conditions from u, see nodeConditions) and pod CIDR, and
// the heartbeat at now. Labels, taints and
// other spec fields written by others are kept. It is pure.
func nodeObject(cur *corev1.Node, name, podCIDR, nodeIP string, h hostInfo, u hostUsage, now time.Time) *corev1.Node {
	n := &corev1.Node{}
	if cur != nil {
		n = cur.DeepCopy()
	}
	n.Name = name
	n.Namespace = ""
	manifest.SetTypeMeta(n)
	if podCIDR != "" {
		n.Spec.PodCIDR = podCIDR
		n.Spec.PodCIDRs = []string{podCIDR}
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(h.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(h.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(h.StorageBytes, resource.BinarySI),
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity.DeepCopy()
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}}
	if h.Hostname != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: h.Hostname})
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               h.MachineID,
		SystemUUID:              h.SystemUUID,
		BootID:                  h.BootID,
		KernelVersion:           h.Kernel,
		OSImage:                 h.OSImage,
		ContainerRuntimeVersion: h.RuntimeVersion,
		KubeletVersion:          "tug",
		OperatingSystem:         "linux",
		Architecture:            h.Architecture,
	}
	ours := nodeConditions(n.Status.Conditions, u, DefaultThresholds, now)
	var conds []corev1.NodeCondition
	for _, c := range n.Status.Conditions {
		if !slices.ContainsFunc(ours, func(o corev1.NodeCondition) bool { return o.Type == c.Type }) {
			conds = append(conds, c) // written by someone else
		}
	}
	n.Status.Conditions = append(conds, ours...)
	return n
}

// registerNode creates or updates the node object, with a new heartbeat.
func (a *Agent) registerNode(ctx context.Context) error {
	u := a.readHostUsage(ctx)
	key := manifest.Key{Kind: manifest.KindNode, Name: a.cfg.NodeName}
	return a.cfg.Store.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		var n *corev1.Node
		if cur != nil {
			var ok bool
			if n, ok = cur.(*corev1.Node); !ok {
				return nil, fmt.Errorf("%s is a %T", key, cur)
			}
		}
		return nodeObject(n, a.cfg.NodeName, a.cfg.PodCIDR, a.cfg.NodeIP, a.host, u, a.clock()), nil
	})
}
