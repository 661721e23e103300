package nodeagent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeConditions(t *testing.T) {
	const gi = int64(1 << 30)
	healthy := hostUsage{MemAvailable: 2 * gi, DiskAvailable: 50 * gi, DiskTotal: 100 * gi, InodesFree: 900, InodesTotal: 1000, Threads: 300, PIDMax: 32768}
	with := func(f func(*hostUsage)) hostUsage { u := healthy; f(&u); return u }
	type want struct{ memory, disk, pid, ready corev1.ConditionStatus }
	ok := want{"False", "False", "False", "True"}
	tests := []struct {
		name string
		u    hostUsage
		want want
		// the reason of the condition that changed, when one did
		reason string
	}{
		{"healthy", healthy, ok, ""},
		{"nothing known", hostUsage{}, ok, ""},
		{"memory just enough", with(func(u *hostUsage) { u.MemAvailable = 100 << 20 }), ok, ""},
		{"memory short", with(func(u *hostUsage) { u.MemAvailable = 99 << 20 }), want{"True", "False", "False", "True"}, "KubeletHasInsufficientMemory"},
		{"disk short", with(func(u *hostUsage) { u.DiskAvailable = 9 * gi }), want{"False", "True", "False", "True"}, "KubeletHasDiskPressure"},
		{"disk at 10%", with(func(u *hostUsage) { u.DiskAvailable = 10 * gi }), ok, ""},
		{"inodes short", with(func(u *hostUsage) { u.InodesFree = 49 }), want{"False", "True", "False", "True"}, "KubeletHasDiskPressure"},
		{"pids short", with(func(u *hostUsage) { u.Threads = 32768 - 3000 }), want{"False", "False", "True", "True"}, "KubeletHasInsufficientPID"},
		{"runtime down", with(func(u *hostUsage) { u.RuntimeDown = "connection refused" }), want{"False", "False", "False", "False"}, "ContainerRuntimeNotReady"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conds := nodeConditions(nil, tt.u, DefaultThresholds, t0)
			var types []corev1.NodeConditionType
			got := want{}
			for _, c := range conds {
				types = append(types, c.Type)
				switch c.Type {
				case corev1.NodeMemoryPressure:
					got.memory = c.Status
				case corev1.NodeDiskPressure:
					got.disk = c.Status
				case corev1.NodePIDPressure:
					got.pid = c.Status
				case corev1.NodeReady:
					got.ready = c.Status
				}
				if bad := (c.Type == corev1.NodeReady) == (c.Status == corev1.ConditionFalse); bad && tt.reason != "" && c.Reason != tt.reason {
					t.Errorf("%s reason %q, want %q", c.Type, c.Reason, tt.reason)
				}
			}
			if diff := cmp.Diff([]corev1.NodeConditionType{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}, types); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if got != tt.want {
				t.Errorf("statuses %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNodeConditionsKeepTransitionTimes(t *testing.T) {
	healthy := hostUsage{MemAvailable: 1 << 30}
	first := nodeConditions(nil, healthy, DefaultThresholds, t0)
	later := nodeConditions(first, healthy, DefaultThresholds, t0.Add(time.Minute))
	for _, c := range later {
		if !c.LastTransitionTime.Equal(&metav1.Time{Time: t0}) || !c.LastHeartbeatTime.Equal(&metav1.Time{Time: t0.Add(time.Minute)}) {
			t.Errorf("%s: transition %s heartbeat %s", c.Type, c.LastTransitionTime, c.LastHeartbeatTime)
		}
	}
	short := nodeConditions(later, hostUsage{MemAvailable: 1 << 20}, DefaultThresholds, t0.Add(2*time.Minute))
	if c := short[0]; c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(&metav1.Time{Time: t0.Add(2 * time.Minute)}) {
		t.Errorf("memory pressure: %+v", c)
	}
}

func TestHostUsageParsers(t *testing.T) {
	if got := meminfoField([]byte("MemTotal: 8 kB\nMemAvailable:    2048 kB\n"), "MemAvailable:"); got != 2048*1024 {
		t.Errorf("MemAvailable = %d", got)
	}
	if got := loadavgThreads([]byte("0.10 0.20 0.30 2/417 12345\n")); got != 417 {
		t.Errorf("threads = %d", got)
	}
	if got := loadavgThreads([]byte("garbage")); got != 0 {
		t.Errorf("threads of garbage = %d", got)
	}
}
