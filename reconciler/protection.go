package reconciler

import (
	"slices"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Finalizers of Kubernetes' storage-object-in-use protection. A claim
// removed from Git while a pod still uses it, or a volume removed while
// bound to a claim, is kept Terminating with one of them: its data and
// binding stay, nothing new may use it, and it goes once unused.
const (
	FinalizerPVCProtection = "kubernetes.io/pvc-protection"
	FinalizerPVProtection  = "kubernetes.io/pv-protection"
)

// protectStorage turns the deletion, in a revision plan, of a claim that a
// pod still uses (pods: every stored pod) or of a Bound volume into
// marking it Terminating: a deletion timestamp and the protection
// finalizer. An object already Terminating is left as it is.
// planStorageProtection deletes it in the pass that finds it unused.
func protectStorage(p *RevisionPlan, pods []*corev1.Pod, now time.Time) {
	var deletes []manifest.Object
	for _, o := range p.Deletes {
		var finalizer string
		switch obj := o.(type) {
		case *corev1.PersistentVolumeClaim:
			if podsUseClaim(pods, obj.Namespace, obj.Name) {
				finalizer = FinalizerPVCProtection
			}
		case *corev1.PersistentVolume:
			if obj.Status.Phase == corev1.VolumeBound {
				finalizer = FinalizerPVProtection
			}
		}
		if finalizer == "" {
			deletes = append(deletes, o)
			continue
		}
		if o.GetDeletionTimestamp() != nil {
			continue // Terminating already
		}
		u := manifest.DeepCopy(o)
		u.SetDeletionTimestamp(&metav1.Time{Time: now})
		if !slices.Contains(u.GetFinalizers(), finalizer) {
			u.SetFinalizers(append(u.GetFinalizers(), finalizer))
		}
		p.Puts = append(p.Puts, u)
	}
	p.Deletes = deletes
}

// planStorageProtection deletes the Terminating claims no pod uses any
// more (their volume is then released and reclaimed as its policy says)
// and the Terminating volumes no existing claim is bound to (their data is
// left alone, as deleting a PersistentVolume object does in Kubernetes).
func planStorageProtection(w *Writes, ix *index) {
	for _, c := range ix.snap.PersistentVolumeClaims {
		if c.DeletionTimestamp == nil || !slices.Contains(c.Finalizers, FinalizerPVCProtection) || claimInUse(ix, c.Namespace, c.Name) {
			continue
		}
		w.Deletes = append(w.Deletes, c)
	}
	if len(ix.snap.PersistentVolumes) == 0 {
		return
	}
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for _, c := range ix.snap.PersistentVolumeClaims {
		claims[c.Namespace+"/"+c.Name] = c
	}
	for _, pv := range ix.snap.PersistentVolumes {
		if pv.DeletionTimestamp == nil || !slices.Contains(pv.Finalizers, FinalizerPVProtection) {
			continue
		}
		if r := pv.Spec.ClaimRef; r != nil {
			if c := claims[r.Namespace+"/"+r.Name]; c != nil && c.UID == r.UID && !deletedIn(w, c) {
				continue // still bound to a claim
			}
		}
		w.Deletes = append(w.Deletes, pv)
	}
}

// deletedIn reports whether this pass deletes o.
func deletedIn(w *Writes, o manifest.Object) bool {
	return slices.ContainsFunc(w.Deletes, func(d manifest.Object) bool { return d.GetUID() == o.GetUID() })
}

// podsUseClaim reports whether a pod that has not finished names the claim
// (a pod being deleted still does until it is gone).
func podsUseClaim(pods []*corev1.Pod, namespace, name string) bool {
	for _, p := range pods {
		if p.Namespace != namespace || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if slices.Contains(podClaims(p), name) {
			return true
		}
	}
	return false
}
