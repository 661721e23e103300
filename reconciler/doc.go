// Package reconciler turns the desired state (the objects of the applied Git
// revision) into pods bound to nodes, the way Kubernetes' controller manager
// and scheduler do.
//
// It has two halves:
//
//   - Apply and Reject receive revisions from gitsync. PlanRevision (pure)
//     diffs the revision's objects against the Git-managed objects in the
//     store; the resulting puts and deletes commit in one transaction together
//     with the sync record, so a commit is applied whole or not at all.
//     Objects missing from the revision are pruned. PlanRevision also makes
//     the decisions that must be part of the same transaction: Service
//     cluster IPs (from manifest.ServiceCIDR, 10.43.0.1 and the cluster DNS
//     address 10.43.0.10 reserved) and node ports (30000–32767) are
//     allocated there, from the stored allocations, and an allocation never
//     changes while its Service exists (Git leaving the field out keeps it;
//     Git asking for a held, reserved or out-of-range address refuses the
//     commit, recorded as Rejected with file and object); a Deployment whose
//     effective pod template changes is stamped tug.dev/revision: <sha>.
//   - Run is the level-based control loop. On every change in the store it
//     reads a Snapshot of everything, calls Plan (pure: snapshot, now, ids →
//     writes), and commits the writes in one transaction. Plan runs the
//     Deployment controller (Deployment → ReplicaSet named
//     <deployment>-<template-hash>; RollingUpdate, Recreate,
//     minReadySeconds, progressDeadlineSeconds, paused, revision history, as
//     Kubernetes does them — see planDeployment), the ReplicaSet controller
//     (ReplicaSet → pods named <replicaset>-<suffix>), garbage collection by
//     owner reference, the Scheduler, which binds pending pods to nodes
//     (FitScheduler filters and scores as kube-scheduler does, searching a
//     sample of a large cluster; see its doc), and
//     the endpoints controller (one Endpoints per Service with a selector,
//     from the matching pods; see planEndpoints).
//
// Plan also runs, in order: the node lifecycle controller (planNodes: a
// node whose heartbeat is overdue by Options.NodeGracePeriod, 10 s by
// default, gets Ready=Unknown and the node.kubernetes.io/unreachable
// NoSchedule/NoExecute taints, removed when heartbeats return; pods on it
// are marked not ready and evicted when their toleration runs out), the
// CronJob controller (planCronJob: cron schedules in spec.timeZone,
// concurrencyPolicy, startingDeadlineSeconds, history limits, suspend;
// requeued at the next schedule time, so the injected clock drives it), the
// Job controller (planJob: completions, parallelism, backoffLimit with
// exponential retry delay, activeDeadlineSeconds, ttlSecondsAfterFinished,
// conditions Complete/Failed) and the DaemonSet controller (planDaemonSet:
// one pod per eligible node by nodeSelector, required node affinity and
// taints; RollingUpdate with maxUnavailable, or OnDelete). New pods get the
// default 30 s tolerations for the not-ready and unreachable NoExecute
// taints (Options.DefaultTolerationSeconds) unless they tolerate those
// taints themselves, as Kubernetes' admission does.
//
// A ReplicaSet records in tug.dev/revision the commit that introduced its
// template (copied from the Deployment's stamp when it is created) and in
// deployment.kubernetes.io/revision its rollout number. Reverting a commit
// brings back a template whose ReplicaSet still exists (same hash, same
// name), so that ReplicaSet is scaled back up instead of a new one created.
//
// Pods are deleted gracefully: the plan sets metadata.deletionTimestamp on a
// bound pod and the node agent removes the object once its containers have
// stopped. A pod that was never bound is deleted at once.
//
// A pod template's hash covers the data of the ConfigMaps and Secrets it
// references (annotation tug.dev/config-hash), so committing a change to a
// ConfigMap rolls the pods that use it, as a Helm checksum annotation would.
//
// A Node committed to Git is merged, not replaced (planGitNodes): Git owns
// the labels, annotations, taints and spec.unschedulable it commits (what
// it set is recorded in manifest.AnnotationGitNode), the node agent owns the
// status and pod CIDR, the lifecycle controller its not-ready/unreachable
// taints. Removing the Node from Git removes only what Git set. A committed
// Node whose node has not registered is stored without status (not
// schedulable, no DaemonSet pods) and completed when the agent registers.
//
// When Git removes a namespace, everything still stored in it goes
// (namespace.go): the controllers no longer see its objects, which are
// deleted, bound pods gracefully.
//
// Run is started under a Leader (RunLeading); SingleServer, the
// implementation for one server, always leads.
//
// The package imports only manifest types; the store is the small Store
// interface declared here.
package reconciler
