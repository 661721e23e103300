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
//   - The agent registers its Node (create or update with Mutate): capacity
//     and allocatable, InternalIP, podCIDR, nodeInfo (machine and boot IDs,
//     system UUID, kernel, OS image, containerd version, architecture) and
//     the conditions MemoryPressure, DiskPressure, PIDPressure and Ready,
//     renewed every 10 s (pressure.go: the host is sampled at each
//     heartbeat and compared with the kubelet's default hard eviction
//     thresholds, memory.available<100Mi, nodefs.available<10%,
//     nodefs.inodesFree<5%, and fewer than 10% of pid_max free; Ready is
//     False while containerd does not answer). Nothing is evicted.
//
// # Structure
//
// Every pass of Run's loop reads the bound pods (Store.List), observes the
// node (two containerd calls list containers and tasks; the network and
// pod directories are read from disk), and calls the pure planner Plan,
// which returns per pod an ordered list of actions (stop, remove, tear down,
// delete, set up sandbox, sync volumes, start, restart) and when to plan
// again. Each pod's actions run on a goroutine of their own; a pod whose
// actions still run is skipped, and the loop plans again when they end. The
// pure PodStatus computes each pod's status from the same observation. A
// pass runs on a store notification (Pod, ConfigMap, Secret), on a task
// exit (containerd events), when a back-off or retry delay ends, and every
// 5 s.
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
// # Probes
//
// Liveness, readiness and startup probes (exec through containerd's
// task.Exec in the container; httpGet and tcpSocket to the pod IP from the
// agent's own network namespace, the node's side of the bridge) run on
// goroutines of their own, one per probe per container run, started and
// stopped by each pass for the running containers (package probe holds the
// rules and the pure state machine). Their results live in memory, as in
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
// 1000 - 1000*request/node memory within 2..999). Containers sit in
// containerd's default cgroup (/<namespace>/<id>), not in per-pod and
// per-class parent cgroups. The agent listens to containerd's /tasks/oom
// events and records the run the OOM killer hit on the container
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
// # Files
//
//	<DataDir>/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log[.N] see Logs
//	<DataDir>/pods/<ns>_<pod>_<uid>/.etc/{hosts,resolv.conf,hostname} bind-mounted into every container
//	<DataDir>/pods/<ns>_<pod>_<uid>/.volumes/<volume>/               see package volume
//	<DataDir>/netns/<uid>, <DataDir>/cni/...                        see package podnet
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
