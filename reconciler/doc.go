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
// node silent for Options.NodeGracePeriod, 10 s by default — measured from
// the later of its Lease renewal in kube-node-lease (Snapshot.Leases,
// renewed every 2.5 s) and its Ready heartbeat; from the heartbeat due
// every 10 s when it has no Lease — gets Ready=Unknown and the
// node.kubernetes.io/unreachable NoSchedule/NoExecute taints, removed when
// heartbeats return; pods on it are marked not ready and evicted when their
// toleration runs out. Lease writes do not wake the loop (watchedKinds):
// the pass requeues itself for the next expiry. Leases of removed Nodes are
// deleted), the
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
// status, the lifecycle controller its not-ready/unreachable taints. A
// Node's pod CIDR is set once and never changed: by its agent when
// configured with one, else by the pod CIDR allocator in Plan (podcidr.go:
// the lowest free /24 of Config.ClusterCIDR, 10.42.0.0/16, freed when the
// Node object goes). Removing the Node from Git removes only what Git set. A committed
// Node whose node has not registered is stored without status (not
// schedulable, no DaemonSet pods) and completed when the agent registers.
//
// Endpoints and EndpointSlices (endpoints.go, endpointslice.go): a
// Service with a selector gets one Endpoints (ready and not-ready pods) and
// EndpointSlices (discovery.k8s.io/v1, IPv4, at most 100 endpoints each,
// terminating pods included with their ready/serving/terminating
// conditions; labels kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by: tug.dev). A Service without a
// selector uses the Endpoints committed beside it (tug.dev/source set),
// which the reconciler never rewrites or deletes and mirrors into
// EndpointSlices, as Kubernetes' mirroring controller does.
//
// Admission (admission.go, quota.go): the pods a pass creates get the
// defaults of their namespace's LimitRanges filled in, are checked against
// their min/max/maxLimitRequestRatio, then against the namespace's
// ResourceQuotas, before they are scheduled; a refused pod is not created
// and its owner gets a FailedCreate Warning event with Kubernetes' message
// (a ReplicaSet also a ReplicaFailure condition). Quota status (hard, used)
// is kept current. A commit holding more objects than a quota allows
// (services, configmaps, count/deployments.apps, ...) is rejected by
// PlanRevision, naming the quota.
//
// Scheduling (scheduler*.go): FitScheduler runs kube-scheduler's default
// filters in its plugin order, counting each node under the first it fails
// — readiness, cordon, taints, node affinity, host ports, resource fit
// (cpu, memory, ephemeral-storage, pod count), topologySpreadConstraints
// with DoNotSchedule (maxSkew, minDomains, nodeAffinityPolicy,
// nodeTaintsPolicy, matchLabelKeys), required pod affinity and
// anti-affinity by topologyKey (namespaces, namespaceSelector; placed pods'
// anti-affinity against the incoming pod too) — then scores with its
// default weights: least allocated and balanced allocation, preferred node
// affinity, PreferNoSchedule taints, topology spreading (ScheduleAnyway
// constraints, or the pods of one controller across nodes) and preferred
// pod (anti-)affinity. A pod no node fits stays Pending with
// PodScheduled=False/Unschedulable and a FailedScheduling Warning event
// ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2
// Insufficient cpu.", reasons counted per node and sorted as kube-scheduler
// does), recorded when the condition changes; every pass retries it, so it
// is bound as soon as the cluster changes. A bound pod gets a Scheduled
// Normal event. Events are planned in Writes.Events and stored by the loop
// in the background (at most 1,000 queued, as client-go's broadcaster;
// FlushEvents waits for them).
//
// PodDisruptionBudgets (pdb.go) get their status (expectedPods,
// desiredHealthy, currentHealthy, disruptionsAllowed, DisruptionAllowed
// condition) computed as Kubernetes' disruption controller does. A node
// cordoned through Git (spec.unschedulable) is drained (drain.go) through
// the eviction API's rules: its pods, DaemonSet pods excepted, are evicted
// and replaced elsewhere, a pod covered by a budget only while the budget
// allows a disruption (spent one eviction at a time, re-evaluated each pass
// as replacements become ready); Evicted and EvictionBlocked events name the
// budget. NoExecute taints evict through the lifecycle controller, which
// does not consult budgets, as in Kubernetes.
//
// Storage (volume.go, volume_statefulset.go, scheduler_volume.go) works as
// Kubernetes' PV controller with k3s' local-path provisioner: a built-in
// StorageClass local-path (default, WaitForFirstConsumer, reclaim Delete,
// provisioner tug.dev/local-path) exists unless Git commits one of that
// name; claims bind to the smallest fitting Available volume (class,
// capacity, access modes, selector, claimRef/volumeName), or, for a
// local-path claim once a pod using it is scheduled, to a new volume
// pvc-<claim uid>: a hostPath under Options.StorageDir
// (<data-dir>/storage) with node affinity to that node. Phases follow
// Kubernetes (PV Available/Bound/Released/Failed, claim Pending/Bound/Lost);
// Delete and Recycle are carried out by the node agent for volumes under
// the storage directory, and a volume elsewhere with those policies is
// Failed. The scheduler's volume filter keeps a pod Pending while a claim
// is missing or unbound in an Immediate class, and restricts it to the
// nodes its volumes' node affinity admits. StatefulSet volumeClaimTemplates
// give each ordinal a claim <template>-<set>-<ordinal>, kept on scale-down
// and removal unless persistentVolumeClaimRetentionPolicy says Delete.
// PlanRevision never prunes the storage objects tug made (the built-in
// class, provisioned volumes, StatefulSet claims) and keeps the bindings
// it made on committed volumes and claims.
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
