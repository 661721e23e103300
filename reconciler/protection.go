package reconciler

import (
	"slices"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FinalizerPVCProtection marks a claim removed from Git while a pod still
// uses it, as Kubernetes' storage-object-in-use protection does: the claim
// is Terminating, its data and binding stay, no new pod may use it, and it
// goes once no pod names it.
const FinalizerPVCProtection = "kubernetes.io/pvc-protection"

// protectClaims turns the deletion, in a revision plan, of a claim that a
// pod still uses (pods: every stored pod) into marking it Terminating: a
// deletion timestamp and the pvc-protection finalizer. A claim already
// Terminating is left as it is. planClaimProtection deletes it in the
// pass that finds it unused.
func protectClaims(p *RevisionPlan, pods []*corev1.Pod, now time.Time) {
	var deletes []manifest.Object
	for _, o := range p.Deletes {
		c, ok := o.(*corev1.PersistentVolumeClaim)
		if !ok || !podsUseClaim(pods, c.Namespace, c.Name) {
			deletes = append(deletes, o)
			continue
		}
		if c.DeletionTimestamp != nil {
			continue // Terminating already
		}
		u := c.DeepCopy()
		u.DeletionTimestamp = &metav1.Time{Time: now}
		if !slices.Contains(u.Finalizers, FinalizerPVCProtection) {
			u.Finalizers = append(u.Finalizers, FinalizerPVCProtection)
		}
		p.Puts = append(p.Puts, u)
	}
	p.Deletes = deletes
}

// planClaimProtection deletes the Terminating claims no pod uses any more
// (their volume is then released and reclaimed as its policy says).
func planClaimProtection(w *Writes, ix *index) {
	for _, c := range ix.snap.PersistentVolumeClaims {
		if c.DeletionTimestamp == nil || !slices.Contains(c.Finalizers, FinalizerPVCProtection) || claimInUse(ix, c.Namespace, c.Name) {
			continue
		}
		w.Deletes = append(w.Deletes, c)
	}
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
