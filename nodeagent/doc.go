// Package nodeagent runs the pods bound to one node on containerd, wires
// their network through CNI and reports pod and node status to the store.
//
// # Contract with the reconciler
//
//   - The agent runs every Pod in the store whose spec.nodeName is its node.
//     It owns pod.status (phase; conditions Initialized, ContainersReady and
//     Ready, keeping PodScheduled as written; containerStatuses; podIP(s),
//     hostIP(s), startTime) and writes it with Store.Mutate, only when it
//     changed, never for a pod that is gone or was replaced (other UID).
//   - To delete a pod, set metadata.deletionTimestamp (the agent does not
//     read its value) and optionally deletionGracePeriodSeconds. The agent
//     sends SIGTERM, SIGKILL after the grace period (deletionGracePeriodSeconds,
//     else spec.terminationGracePeriodSeconds, else 30 s, counted from when
//     it starts stopping, as the kubelet does), removes tasks, containers and
//     snapshots, releases the address (CNI DEL), removes the network
//     namespace and the pod directory (volumes and logs: logs of a deleted
//     pod are gone), and finally calls Store.Delete(key, uid).
//   - Containers, namespaces, addresses and pod directories of a UID that no
//     pod bound here has (the pod is gone from the store, or it was
//     replaced) are removed the same way, with the grace period recorded on
//     the containers.
//   - The node's pod CIDR is settled before the first pass (podcidr.go):
//     Config.PodCIDR when set, else the stored Node's spec.podCIDR, else
//     the agent registers its Node without one and waits for the control
//     plane's allocation (PodCIDR reports it). Host-gw routes to
//     the other nodes' pod CIDRs are package routes' job.
//   - The agent registers its Node (create or update with Mutate): capacity
//     and allocatable, InternalIP, podCIDR, nodeInfo (machine and boot IDs,
//     system UUID, kernel, OS image, containerd version, architecture) and
//     the conditions MemoryPressure, DiskPressure, PIDPressure and Ready,
//     renewed every 10 s (pressure.go: the host is sampled at each
//     heartbeat and compared with the kubelet's default hard eviction
//     thresholds, memory.available<100Mi, nodefs.available<10%,
//     nodefs.inodesFree<5%, and fewer than 10% of pid_max free; Ready is
//     False while containerd does not answer). Nothing is evicted.
//   - Besides that 10 s heartbeat, lease.go renews the Lease
//     kube-node-lease/<node> every 2.5 s on its own goroutine (as the
//     kubelet does, a quarter of the 10 s grace period the reconciler
//     allows a silent node); the reconciler is not woken by renewals.
//
// # Structure
//
// Every pass of Run's loop reads the bound pods (Store.List), observes the
// node (a containerd call lists the containers; their tasks come from the
// task cache of taskcache.go — a full task List asks every shim and waits
// behind its runc operations, seconds with 100 containers starting, so it
// runs only when the cache is not valid and in the background every
// resync, and the agent's own task operations and exit events keep the
// cache current between Lists; the network and pod directories are read
// from disk), and calls the pure planner Plan,
// which returns per pod an ordered list of actions (stop, remove, tear down,
// delete, set up sandbox, sync volumes, start, restart) and when to plan
// again. Each pod's actions run on a goroutine of their own; a pod whose
// actions still run is skipped, and the loop plans again when they end. The
// pure PodStatus computes each pod's status from the same observation; a
// pass writes the statuses that changed in one store transaction when the
// store can (state.Store.MutateAll). A pass runs on a store notification
// (Pod, ConfigMap, Secret), on a task exit (containerd events), when a
// back-off or retry delay ends, and every 5 s.
//
// Everything the agent must remember lives outside its memory, so a
// restarted agent (even after kill -9) adopts what runs instead of starting
// it again: the containerd container ID is <pod uid>-<container name>, and
// labels on the container hold the pod's identity, the owning node
// (tug.dev/node: an agent only sees its own node's containers, so several
// agents may share a containerd namespace), the restart count, the back-off
// state and the last termination. A running task is left alone; a
// container without a task gets one; a stopped task is restarted per the
// restart policy. Only the retry delay of failed actions is in memory.
//
// # Restarts
//
// restartPolicy Always, OnFailure and Never. Restarts follow the kubelet's
// back-off (package backoff): the first restart is immediate, then 10 s,
// doubling to 5 min, reset after 10 min of running. While backing off the
// container is reported Waiting/CrashLoopBackOff with lastState Terminated.
// A restart deletes the exited task and starts a new task of the same
// container (same snapshot, same spec: env is resolved when the container is
// created) writing the next log file. A container whose name left the pod
// spec, or whose image the spec changed, is stopped, removed and (for a new
// image) created again with restart count 0.
//
// # Init containers
//
// Init containers run one at a time, in order, each in the pod's network
// namespace with the pod's volumes; the next starts once the previous one
// exited 0, and the containers start once all have. A failed init container
// is restarted with the usual back-off (restartPolicy Always acts as
// OnFailure), and under Never the pod fails. Their exited containers are
// kept until the pod goes, so that a restarted agent finds the pod
// initialized. Status: initContainerStatuses (ready once exited 0), the
// Initialized condition (False, naming the incomplete ones, until then),
// phase Pending and the containers Waiting/PodInitializing meanwhile.
//
// # Security
//
// The container's securityContext over the pod's (security.go): runAsUser
// (the image's /etc/passwd gives the group unless runAsGroup does),
// runAsGroup, fsGroup and supplementalGroups as extra groups, fsGroup also
// owning the pod's emptyDir, configMap and secret volumes (group read,
// write for emptyDir, setgid directories, as the kubelet); runAsNonRoot
// checked against runAsUser or the image's user before the container is
// created (CreateContainerConfigError, with the kubelet's message);
// readOnlyRootFilesystem; capabilities add/drop over containerd's default
// set (ALL understood); allowPrivilegeEscalation false as no_new_privs;
// privileged (every capability, host devices, writable /sys, no masked
// paths, no seccomp). Every other container gets containerd's default
// seccomp profile (contrib/seccomp) unless seccompProfile says Unconfined:
// tug is RuntimeDefault by default, stricter than Kubernetes.
//
// Pod-level settings (spec.go sandboxOpts): the pod's sysctls go into the
// OCI spec (linux.sysctl; validation lets only the kubelet's safe set
// through). hostNetwork pods get no network namespace and no CNI: they
// share the node's network and UTS namespaces (the node's hostname and
// /etc/hosts), their podIP is the node's IP (Config.NodeIP) and their
// ports are the node's; the sandbox is ready once its /etc files are
// written. hostPID and hostIPC share the node's PID and IPC namespaces
// (hostIPC also the node's /dev/shm).
//
// # Probes
//
// Liveness, readiness and startup probes (exec through containerd's
// task.Exec in the container; httpGet, tcpSocket and grpc (grpc.health.v1
// Check, a new plain-text connection per check, as the kubelet) to the pod
// IP from the agent's own network namespace, the node's side of the
// bridge) are started and stopped by each pass for the running containers
// and run by one scheduler goroutine, each check on a goroutine of its own
// when due, at a fixed rate on a 500 ms grid so that the checks of many
// containers come in a few bursts a second (package probe holds the rules
// and the pure state machine). Their results live in memory, as in
// the kubelet: a restarted agent reports a container with a readiness probe
// unready until the probe passes again. A startup probe gates the other
// two; readiness sets the container's ready flag and so the pod's
// ContainersReady and Ready conditions (from which the reconciler builds
// Endpoints). A failed liveness or startup probe makes the planner kill the
// run (ActKillUnhealthy: recorded in the tug.dev/probe-killed label, then
// SIGTERM and SIGKILL after the grace period); the restart policy then
// applies with the usual back-off, except that OnFailure restarts a killed
// container whatever its exit code, as the kubelet does. A probe's change
// of result wakes the loop.
//
// # Resources
//
// CPU and memory requests and limits become the container's cgroup
// settings (resourceOpts): memory limit, CFS quota over a 100 ms period for
// the CPU limit, CPU shares from the request (the kubelet's
// MilliCPUToShares). The pod's QoS class (QOSClass: Guaranteed, Burstable,
// BestEffort, by the kubelet's rules) is reported in status.qosClass and
// sets each process's oom_score_adj as the kubelet does (-997, 1000, or
// 1000 - 1000*request/node memory within 2..999). Every pod has a cgroup
// of its own as with the kubelet's cgroupfs driver (cgroups.go; v1 and
// v2): /tug/pod<uid> for Guaranteed pods, /tug/burstable/pod<uid> and
// /tug/besteffort/pod<uid> for the others, with the pod-level limits
// (memory and CPU quota: the sum of the containers' limits when every
// container sets one; CPU shares from the sum of the requests), written
// before each container is created; each container's cgroup is
// <pod cgroup>/<container id> (linux.cgroupsPath, created and removed by
// runc); when the pod cgroup cannot be made (logged), containers get
// containerd's default cgroup with their own limits. The pod cgroup is
// removed with the pod's sandbox, and idle pod cgroups (no process, no
// container cgroup, older than a minute) of pods not bound here are torn
// down as leftovers. Containers created before pod cgroups existed keep
// containerd's default cgroup (/<namespace>/<id>) and are adopted as they
// are. The agent listens to containerd's /tasks/oom events and records the run the OOM killer hit on the container
// (tug.dev/oom-killed); that run's termination is reported with reason
// OOMKilled beside its exit code (137), then as lastState. An OOM kill
// while the agent is down is reported as Error (137).
//
// # Lifecycle hooks and stopping
//
// postStart (exec in the container, or httpGet from the agent's network
// namespace to the pod IP unless host is given) runs right after the task
// starts, within the start action (at most 2 min): until it returns the pod
// is busy. A failed hook stops the container and is reported
// Waiting/PostStartHookError; the restart policy then applies to the exit.
// Every stop (deletion, replaced container, failed liveness or postStart)
// runs the container's preStop hook first, within the grace period, then
// sends the image's stop signal (the io.containerd.image.config.stop-signal
// label set from the image's StopSignal at create; SIGTERM by default) and
// SIGKILL once the rest of the grace period has passed (at least 2 s after
// a preStop hook, as the kubelet). Containers of a pod that is gone from
// the store get no preStop hook: its spec is no longer known.
//
// # Images
//
// A container's image follows its imagePullPolicy (package images). Pulls
// go through containerd's client with the credentials of the pod's
// imagePullSecrets (dockerconfigjson and dockercfg Secrets, matched to the
// registry host as the kubelet does; a missing Secret is reported in a
// FailedToRetrieveImagePullSecret event and the pull goes on). The
// kubelet's events are recorded on the pod (Store.RecordEvent): Pulling,
// then every 10 s a Pulling event with the bytes fetched so far, Pulled
// ("Successfully pulled image X in 1.2s ..." or "already present"),
// Failed (the registry's error) and BackOff. A failed pull is retried with
// the kubelet's image back-off, 10 s doubling to 5 min (a change of a
// ConfigMap or Secret retries at once); the container is Waiting with
// ErrImagePull right after the failure and ImagePullBackOff ("Back-off
// pulling image X: ErrImagePull: <error>") from the next pass 2 s later.
// Never with a missing image is ErrImageNeverPull. With Config.Imports, a
// container whose image is missing while archives are being imported
// waits (ContainerCreating, retried every second) instead of pulling;
// pods whose images are present start meanwhile.
//
// # Container runtime down
//
// A pass whose containerd calls fail plans nothing, so nothing is stopped
// or removed; the agent logs it once, writes the node's Ready condition
// False at once (ContainerRuntimeNotReady, "container runtime is down:
// ...") and retries with back-off (500 ms doubling to 10 s; the event
// stream is re-subscribed with the same back-off). The first pass that
// reaches containerd again writes Ready True and adopts what runs: the
// shims kept the containers running, so nothing restarts. Each change is
// also an event on the Node (runtime.go): Warning ContainerRuntimeUnhealthy
// when containerd goes down, Normal NodeReady when it answers again, with
// fixed messages so repeated outages aggregate into one count.
//
// # Clean-up at start
//
// Run removes, before its first pass, the active snapshots named like a
// tug container whose container and pod are gone. The first pass then
// removes the rest of what pods that should not exist (gone from the store
// or not bound here) left: containers and tasks labelled with this node,
// network namespaces, CNI results and host-local allocations (CNI DEL,
// then by hand: Debian's plugins speak CNI 1.0.0, without 1.1's GC, see
// package podnet), pod directories. Addresses and namespaces of pods that
// should exist are kept.
//
// # Files
//
//	<DataDir>/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log[.N] see Logs
//	<DataDir>/pods/<ns>_<pod>_<uid>/.etc/{hosts,resolv.conf,hostname} bind-mounted into every container
//	<DataDir>/pods/<ns>_<pod>_<uid>/.volumes/<volume>/               see package volume
//	<DataDir>/netns/<uid>, <DataDir>/cni/...                        see package podnet
//	<DataDir>/storage/pvc-<uid>_<ns>_<claim>/                       local-path volumes (mode 0777)
//
// # Persistent volumes
//
// A pod's persistentVolumeClaim volumes are resolved at the start of every
// pass into the hostPath of the PersistentVolume each claim is bound to
// (volume.ResolveClaims; a local volume's path must exist, a local-path
// directory is created with mode 0777); readOnly claims mount read-only. A
// pod whose claim is missing or not Bound yet is held: no action runs for
// it, so it never starts before its claims are Bound (ContainerCreating,
// reason FailedMount, until then). Released volumes of this node whose
// directory lies under <DataDir>/storage are reclaimed here once no pod on
// the node uses them: Delete removes the directory and then the
// PersistentVolume, Recycle empties the directory and makes the volume
// Available again. Nothing outside <DataDir>/storage is ever removed, and
// links there are not followed.
//
// # Logs
//
// With Config.LogDriver (tugd passes itself), containerd's shim runs the
// log driver of package logdriver for every task: it writes timestamped
// entries in the CRI format and rotates each run's file by size and count
// (ContainerLogMaxSize, ContainerLogMaxFiles: 10 MiB and 5 by default),
// keeping the logs of the current and previous runs only. It is the shim's
// child, so logs keep being written while tugd is down and an adopted
// container's log goes on. Logs reads them (since, timestamps, tail,
// previous, follow across rotations: a follower more than MaxFiles files
// behind skips what was rotated away). Without a log driver the shim
// writes plain files (cio.LogFile) that never rotate, and since and
// timestamps are refused.
//
// # Network namespaces
//
// Pod namespaces are created on a locked OS thread and the CNI plugins run
// in the agent process's own network namespace, which is the node's side of
// the bridge: in production tugd runs in the root namespace; the integration
// test re-runs the test binary under nsenter --net into a namespace it
// created, so bridge, routes and traffic never leave that namespace.
package nodeagent
