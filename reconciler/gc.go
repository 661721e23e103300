package reconciler

import (
	batchv1 "k8s.io/api/batch/v1"
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
	for _, cj := range ix.snap.CronJobs {
		owners[cj.UID] = true
	}
	for _, ds := range ix.snap.DaemonSets {
		owners[ds.UID] = true
	}
	for _, sts := range ix.snap.StatefulSets {
		owners[sts.UID] = true
	}
	deletedJobs := map[types.UID]bool{}
	for _, d := range w.Deletes {
		if _, ok := d.(*batchv1.Job); ok {
			deletedJobs[d.GetUID()] = true
		}
	}
	for _, j := range ix.snap.Jobs {
		ref := controllerOf(j.OwnerReferences)
		if ref != nil && !owners[ref.UID] {
			if !deletedJobs[j.UID] {
				w.Deletes = append(w.Deletes, j)
				deletedJobs[j.UID] = true
			}
			continue
		}
		if !deletedJobs[j.UID] {
			owners[j.UID] = true
		}
	}
	for _, j := range ix.jobs {
		owners[j.UID] = true
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
		if ref != nil && (!owners[ref.UID] || deletedRS[ref.UID]) && p.DeletionTimestamp == nil {
			deletePod(w, p, now)
		}
	}
}
