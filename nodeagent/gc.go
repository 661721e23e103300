package nodeagent

import (
	"context"
	"fmt"
	"strings"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/snapshots"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// gcSnapshots removes, at start, the active snapshots named like a tug
// container (<pod uid>-<name>) that no container of the namespace uses
// and whose pod is not in the store (a pod being created has its pod): what a crash between snapshot and container, or a
// container deleted without its snapshot, leaves. Containers, network
// namespaces, CNI allocations and pod directories of pods that should not
// exist are removed by the planner's pass (Plan: remains of gone pods).
// Failures are logged: the rest still runs.
func (a *Agent) gcSnapshots(ctx context.Context) {
	removed, err := a.staleSnapshots(ctx)
	if err != nil {
		a.log.Warn("snapshot clean-up at start", "err", err)
	}
	if len(removed) > 0 {
		a.log.Info("removed leftover snapshots", "snapshots", removed)
	}
}

func (a *Agent) staleSnapshots(ctx context.Context) ([]string, error) {
	conts, err := a.cfg.Client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range conts {
		used[c.SnapshotKey] = true
		used[c.ID] = true
	}
	objs, err := a.cfg.Store.List(manifest.KindPod, "")
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := map[string]bool{}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods[string(p.UID)] = true
		}
	}
	sn := a.cfg.Client.SnapshotService(containerd.DefaultSnapshotter)
	var stale []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		uid, ok := snapshotPodUID(info.Name)
		if info.Kind != snapshots.KindActive || !ok || used[info.Name] || pods[uid] {
			return nil
		}
		stale = append(stale, info.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var removed []string
	for _, key := range stale {
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			a.log.Warn("remove leftover snapshot", "snapshot", key, "err", err)
			continue
		}
		removed = append(removed, key)
	}
	return removed, nil
}

// snapshotPodUID returns the pod UID of a snapshot named like a tug
// container: a UUID, "-", a container name.
func snapshotPodUID(key string) (string, bool) {
	if len(key) < 38 || key[36] != '-' {
		return "", false
	}
	for i, r := range key[:36] {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return "", false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", r) {
				return "", false
			}
		}
	}
	return key[:36], !strings.ContainsRune(key[37:], '/')
}
