package reconciler

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// collectGarbage deletes ReplicaSets and pods whose controlling owner no
// longer exists, as Kubernetes' garbage collector does for background
// deletion.
func collectGarbage(w *Writes, ix *index, now time.Time) {
	owners := map[types.UID]bool{}
	for _, d := range ix.snap.Deployments {
		owners[d.UID] = true
	}
	deletedRS := map[types.UID]bool{}
	for _, rs := range ix.snap.ReplicaSets {
		ref := controllerOf(rs.OwnerReferences)
		if ref != nil && !owners[ref.UID] {
			w.Deletes = append(w.Deletes, rs)
			deletedRS[rs.UID] = true
			continue
		}
		owners[rs.UID] = true
	}
	for _, rs := range ix.created {
		owners[rs.UID] = true
	}
	for _, p := range ix.snap.Pods {
		ref := controllerOf(p.OwnerReferences)
		if ref != nil && (!owners[ref.UID] || deletedRS[ref.UID]) {
			deletePod(w, p, now)
		}
	}
}
