package volume

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// Claims are the PersistentVolumeClaims (by name, of the pod's namespace)
// and PersistentVolumes (by name) a pod's claim volumes resolve through.
type Claims struct {
	Claims  map[string]*corev1.PersistentVolumeClaim
	Volumes map[string]*corev1.PersistentVolume
	// Node is this node's name: a volume whose node affinity names other
	// nodes (by kubernetes.io/hostname) is not mounted here.
	Node string
}

// NotBoundError says why a pod's claim cannot be mounted yet: the pod must
// not start until it can.
type NotBoundError struct {
	Volume, Claim, Why string
}

func (e *NotBoundError) Error() string {
	return fmt.Sprintf("volume %q: persistentvolumeclaim %q %s", e.Volume, e.Claim, e.Why)
}

// ResolveClaims returns pod with every persistentVolumeClaim volume
// replaced by the hostPath of the volume its claim is bound to (the
// volume's hostPath type, Directory for a local volume), and the mounts of
// a claim with readOnly: true made read-only, as the kubelet mounts it. A
// pod without claim volumes is returned as it is. It fails with a
// *NotBoundError while a claim is missing, not Bound, or bound to a volume
// that does not exist or is not a hostPath or local volume.
func ResolveClaims(pod *corev1.Pod, c Claims) (*corev1.Pod, error) {
	has := false
	for _, v := range pod.Spec.Volumes {
		has = has || v.PersistentVolumeClaim != nil
	}
	if !has {
		return pod, nil
	}
	out := pod.DeepCopy()
	readOnly := map[string]bool{}
	for i := range out.Spec.Volumes {
		v := &out.Spec.Volumes[i]
		src := v.PersistentVolumeClaim
		if src == nil {
			continue
		}
		claim := c.Claims[src.ClaimName]
		switch {
		case claim == nil:
			return nil, &NotBoundError{v.Name, src.ClaimName, "not found"}
		case claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "":
			return nil, &NotBoundError{v.Name, src.ClaimName, "is not bound yet"}
		}
		pv := c.Volumes[claim.Spec.VolumeName]
		if pv == nil {
			return nil, &NotBoundError{v.Name, src.ClaimName, fmt.Sprintf("is bound to persistentvolume %q, which does not exist", claim.Spec.VolumeName)}
		}
		if r := pv.Spec.ClaimRef; r == nil || r.UID != claim.UID {
			return nil, &NotBoundError{v.Name, src.ClaimName, fmt.Sprintf("is not yet bound by persistentvolume %q", pv.Name)}
		}
		if c.Node != "" && !onNode(pv, c.Node) {
			return nil, &NotBoundError{v.Name, src.ClaimName, fmt.Sprintf("is bound to persistentvolume %q, which is on another node", pv.Name)}
		}
		var hp *corev1.HostPathVolumeSource
		switch {
		case pv.Spec.HostPath != nil:
			hp = &corev1.HostPathVolumeSource{Path: filepath.Clean(pv.Spec.HostPath.Path), Type: pv.Spec.HostPath.Type}
		case pv.Spec.Local != nil:
			dir := corev1.HostPathDirectory
			hp = &corev1.HostPathVolumeSource{Path: filepath.Clean(pv.Spec.Local.Path), Type: &dir}
		default:
			return nil, &NotBoundError{v.Name, src.ClaimName, fmt.Sprintf("is bound to persistentvolume %q, which is neither hostPath nor local", pv.Name)}
		}
		readOnly[v.Name] = src.ReadOnly
		v.VolumeSource = corev1.VolumeSource{HostPath: hp}
	}
	for _, cs := range [][]corev1.Container{out.Spec.InitContainers, out.Spec.Containers} {
		for i := range cs {
			for j := range cs[i].VolumeMounts {
				if readOnly[cs[i].VolumeMounts[j].Name] {
					cs[i].VolumeMounts[j].ReadOnly = true
				}
			}
		}
	}
	return out, nil
}

// VolumePath is the directory of a hostPath or local PersistentVolume.
func VolumePath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.HostPath != nil:
		return filepath.Clean(pv.Spec.HostPath.Path)
	case pv.Spec.Local != nil:
		return filepath.Clean(pv.Spec.Local.Path)
	}
	return ""
}

// Within reports whether p lies strictly below dir (lexically).
func Within(dir, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// Reclaim is what the node agent does for a Released volume.
type Reclaim string

// Reclaim actions.
const (
	ReclaimNone    Reclaim = ""
	ReclaimDelete  Reclaim = "Delete"  // remove the directory, then the volume object
	ReclaimRecycle Reclaim = "Recycle" // empty the directory; the volume is Available again
)

// ReclaimFor decides what the agent of node must do for pv: only a
// Released volume whose reclaim policy is Delete or Recycle, whose
// directory lies under storageDir and whose node affinity names the node
// (kubernetes.io/hostname In [node]; a volume without affinity belongs to
// every node).
func ReclaimFor(pv *corev1.PersistentVolume, node, storageDir string) Reclaim {
	if pv.Status.Phase != corev1.VolumeReleased || pv.DeletionTimestamp != nil || !Within(storageDir, VolumePath(pv)) || !onNode(pv, node) {
		return ReclaimNone
	}
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		return ReclaimDelete
	case corev1.PersistentVolumeReclaimRecycle:
		return ReclaimRecycle
	}
	return ReclaimNone
}

// OnNode reports whether a volume's node affinity names node (by
// kubernetes.io/hostname); a volume without node affinity is on every
// node.
func OnNode(pv *corev1.PersistentVolume, node string) bool { return onNode(pv, node) }

func onNode(pv *corev1.PersistentVolume, node string) bool {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return true
	}
	for _, term := range na.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key != corev1.LabelHostname || e.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			for _, v := range e.Values {
				if v == node {
					return true
				}
			}
		}
	}
	return false
}
