package nodeagent

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Persistent volumes on the node. A pod's persistentVolumeClaim volumes are
// resolved at the start of each pass into the hostPath of the volume each
// claim is bound to (volume.ResolveClaims); the rest of the agent sees only
// hostPath volumes. A pod whose claim is not bound yet is held: no action
// runs for it (it shows ContainerCreating with the reason until it has
// started once), so it never starts before its claim is Bound. Directories
// under <data-dir>/storage (the local-path provisioner's) are created with
// mode 0777 when their pod is resolved. Released volumes under that
// directory whose reclaim policy is Delete or Recycle are reclaimed by the
// agent of their node (reclaimVolumes).

// storageDir is where local-path volumes live on this node.
func (a *Agent) storageDir() string { return filepath.Join(a.cfg.DataDir, "storage") }

// resolveClaims returns the pods with their claim volumes resolved, and
// the pods held because a claim cannot be mounted yet (with why). Pods
// being deleted are never held.
func (a *Agent) resolveClaims(pods []*corev1.Pod) ([]*corev1.Pod, map[types.UID]error, []*corev1.PersistentVolume, error) {
	pvs, err := a.persistentVolumes()
	if err != nil {
		return pods, nil, nil, err
	}
	need := false
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			need = need || v.PersistentVolumeClaim != nil
		}
	}
	if !need {
		return pods, nil, pvs, nil
	}
	claims := map[string]map[string]*corev1.PersistentVolumeClaim{}
	objs, err := a.cfg.Store.List(manifest.KindPersistentVolumeClaim, "")
	if err != nil {
		return pods, nil, pvs, fmt.Errorf("list persistentvolumeclaims: %w", err)
	}
	for _, o := range objs {
		if c, ok := o.(*corev1.PersistentVolumeClaim); ok {
			if claims[c.Namespace] == nil {
				claims[c.Namespace] = map[string]*corev1.PersistentVolumeClaim{}
			}
			claims[c.Namespace][c.Name] = c
		}
	}
	byName := make(map[string]*corev1.PersistentVolume, len(pvs))
	for _, pv := range pvs {
		byName[pv.Name] = pv
	}
	out := make([]*corev1.Pod, 0, len(pods))
	held := map[types.UID]error{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			out = append(out, p)
			continue
		}
		r, err := volume.ResolveClaims(p, volume.Claims{Claims: claims[p.Namespace], Volumes: byName, Node: a.cfg.NodeName})
		if err == nil {
			err = a.ensureClaimDirs(r)
		}
		if err != nil {
			held[p.UID] = err
			out = append(out, p)
			continue
		}
		out = append(out, r)
	}
	return out, held, pvs, nil
}

// ensureClaimDirs creates the local-path directories a resolved pod mounts.
func (a *Agent) ensureClaimDirs(p *corev1.Pod) error {
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil && volume.Within(a.storageDir(), v.HostPath.Path) {
			if err := volume.EnsureStorageDir(a.storageDir(), v.HostPath.Path); err != nil {
				return fmt.Errorf("volume %q: %w", v.Name, err)
			}
		}
	}
	return nil
}

func (a *Agent) persistentVolumes() ([]*corev1.PersistentVolume, error) {
	objs, err := a.cfg.Store.List(manifest.KindPersistentVolume, "")
	if err != nil {
		return nil, fmt.Errorf("list persistentvolumes: %w", err)
	}
	out := make([]*corev1.PersistentVolume, 0, len(objs))
	for _, o := range objs {
		if pv, ok := o.(*corev1.PersistentVolume); ok {
			out = append(out, pv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// reclaimVolumes carries out Delete and Recycle for the Released volumes
// of this node under its storage directory: Delete removes the directory,
// then the PersistentVolume; Recycle empties the directory, then makes the
// volume Available (no claimRef) again, as Kubernetes' recycler does. A
// volume still mounted by a pod on this node (by path, or by the name of
// the claim it was bound to, for pods still stopping) waits.
func (a *Agent) reclaimVolumes(pvs []*corev1.PersistentVolume, bound, resolved []*corev1.Pod) error {
	inUse := map[string]bool{}
	for _, p := range resolved {
		for _, v := range p.Spec.Volumes {
			if v.HostPath != nil {
				inUse[filepath.Clean(v.HostPath.Path)] = true
			}
		}
	}
	claimed := map[string]bool{} // namespace/claim
	for _, p := range bound {
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				claimed[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName] = true
			}
		}
	}
	var errs []error
	for _, pv := range pvs {
		act := volume.ReclaimFor(pv, a.cfg.NodeName, a.storageDir())
		path := volume.VolumePath(pv)
		if act == volume.ReclaimNone || inUse[path] {
			continue
		}
		if r := pv.Spec.ClaimRef; r != nil && claimed[r.Namespace+"/"+r.Name] {
			continue
		}
		key := manifest.KeyOf(pv)
		switch act {
		case volume.ReclaimDelete:
			if err := volume.RemoveStorageDir(a.storageDir(), path); err != nil {
				errs = append(errs, fmt.Errorf("persistentvolume %s: %w", pv.Name, err))
				continue
			}
			if err := a.cfg.Store.Delete(key, pv.UID); err != nil {
				errs = append(errs, fmt.Errorf("persistentvolume %s: delete: %w", pv.Name, err))
				continue
			}
			a.log.Info("volume deleted", "pv", pv.Name, "path", path)
		case volume.ReclaimRecycle:
			if err := volume.EmptyStorageDir(a.storageDir(), path); err != nil {
				errs = append(errs, fmt.Errorf("persistentvolume %s: %w", pv.Name, err))
				continue
			}
			err := a.cfg.Store.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
				c, ok := cur.(*corev1.PersistentVolume)
				if !ok || c == nil || c.UID != pv.UID || c.Status.Phase != corev1.VolumeReleased {
					return nil, nil
				}
				next := c.DeepCopy()
				next.Spec.ClaimRef = nil
				next.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}
				return next, nil
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("persistentvolume %s: recycle: %w", pv.Name, err))
				continue
			}
			a.log.Info("volume recycled", "pv", pv.Name, "path", path)
		}
	}
	return errors.Join(errs...)
}

// holdPods keeps the held pods out of planning (as if busy) and, for those
// that have not started a container yet, reports why they wait.
func holdPods(held map[types.UID]error, containers []Container, busy map[types.UID]bool, failures map[types.UID]Failure, now time.Time) {
	if len(held) == 0 {
		return
	}
	started := map[types.UID]bool{}
	for _, c := range containers {
		started[c.PodUID] = true
	}
	for uid, err := range held {
		busy[uid] = true
		if !started[uid] {
			failures[uid] = Failure{Reason: "FailedMount", Message: err.Error(), At: now, Attempts: 1}
		}
	}
}
