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
//     Objects missing from the revision are pruned.
//   - Run is the level-based control loop. On every change in the store it
//     reads a Snapshot of everything, calls Plan (pure: snapshot, now, ids →
//     writes), and commits the writes in one transaction. Plan runs the
//     Deployment controller (Deployment → ReplicaSet named
//     <deployment>-<template-hash>), the ReplicaSet controller (ReplicaSet →
//     pods named <replicaset>-<suffix>), garbage collection by owner
//     reference, and the Scheduler, which binds pending pods to nodes.
//
// Pods are deleted gracefully: the plan sets metadata.deletionTimestamp on a
// bound pod and the node agent removes the object once its containers have
// stopped. A pod that was never bound is deleted at once.
//
// A pod template's hash covers the data of the ConfigMaps and Secrets it
// references (annotation tug.dev/config-hash), so committing a change to a
// ConfigMap rolls the pods that use it, as a Helm checksum annotation would.
//
// The package imports only manifest types; the store is the small Store
// interface declared here.
package reconciler
