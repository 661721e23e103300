// Package health computes the health of the objects committed to Git, the
// way Argo CD's health checks do, and rolls it up into one status for
// `tug status`.
//
// Each object is Healthy, Suspended, Progressing, Missing or Degraded, with
// a reason and a message when it is not Healthy:
//
//   - Deployment: Suspended when paused; Progressing until its updated,
//     available and total replicas equal spec.replicas (naming the reason a
//     ReplicaSet of it cannot create pods, such as an exceeded quota);
//     Degraded once its Progressing condition says ProgressDeadlineExceeded.
//   - ReplicaSet: Degraded on a ReplicaFailure condition, else Progressing
//     until all replicas are available.
//   - StatefulSet, DaemonSet: Progressing until the rollout completes.
//   - Job: Degraded when Failed, Healthy when Complete, Suspended, else
//     Progressing. CronJob: Suspended, Degraded when its last run did not
//     succeed, else Healthy.
//   - PersistentVolumeClaim: Progressing while Pending, Degraded when Lost.
//   - Pod: Degraded in CrashLoopBackOff, an image pull back-off or Failed.
//   - Everything else (Services, ConfigMaps, quotas...) is Healthy when it
//     is stored; a key the commit in force holds and the store does not is
//     Missing.
//
// The package is pure: Evaluate takes objects and returns results, so it is
// table-tested without a store. It imports manifest only.
package health
