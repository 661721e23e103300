package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/logdriver"
	"github.com/tug-dev/tug/nodeagent/podenv"
	"github.com/tug-dev/tug/nodeagent/volume"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// killTimeout bounds the wait for a task to die after SIGKILL.
const killTimeout = 10 * time.Second

// execute performs a pod's actions in order and stops at the first error.
func (a *Agent) execute(ctx context.Context, p PodPlan) error {
	log := a.log.With("pod", podRef(p), "uid", p.UID)
	for _, act := range p.Actions {
		start := time.Now()
		var err error
		switch act.Kind {
		case ActStopContainers:
			err = a.stopContainers(ctx, p.Pod, act.ContainerIDs, act.Grace)
		case ActRemoveContainers:
			err = a.removeContainers(ctx, act.ContainerIDs)
		case ActTeardownSandbox:
			err = a.teardownSandbox(ctx, p)
		case ActDeletePod:
			err = a.cfg.Store.Delete(manifest.KeyOf(p.Pod), p.UID)
		case ActSetupSandbox:
			err = a.setupSandbox(ctx, p.Pod)
		case ActSyncVolumes:
			err = a.syncVolumes(p.Pod)
		case ActStartContainer:
			err = a.startContainer(ctx, p.Pod, act.Container)
		case ActRestartContainer:
			err = a.restartContainer(ctx, p.Pod, act.Container, act.ExitedAt)
		case ActKillUnhealthy:
			err = a.killUnhealthy(ctx, p.Pod, act)
		default:
			err = fmt.Errorf("unknown action %q", act.Kind)
		}
		if err != nil {
			return fmt.Errorf("pod %s: %s: %w", podRef(p), act.Kind, err)
		}
		log.Debug("action done", "action", act.Kind, "container", act.Container, "took", time.Since(start))
	}
	return nil
}

// sources reads the ConfigMaps and Secrets of a namespace, beside the
// node's allocatable resources.
func (a *Agent) sources(namespace string) (podenv.Sources, error) {
	src := podenv.Sources{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}, Allocatable: hostAllocatable(a.host)}
	cms, err := a.cfg.Store.List(manifest.KindConfigMap, namespace)
	if err != nil {
		return src, fmt.Errorf("list configmaps of %s: %w", namespace, err)
	}
	for _, o := range cms {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			src.ConfigMaps[cm.Name] = cm
		}
	}
	secrets, err := a.cfg.Store.List(manifest.KindSecret, namespace)
	if err != nil {
		return src, fmt.Errorf("list secrets of %s: %w", namespace, err)
	}
	for _, o := range secrets {
		if s, ok := o.(*corev1.Secret); ok {
			src.Secrets[s.Name] = s
		}
	}
	return src, nil
}

func (a *Agent) etcFiles(pod *corev1.Pod) podFiles {
	dir := filepath.Join(a.podDir(pod), ".etc")
	return podFiles{
		Hosts:      filepath.Join(dir, "hosts"),
		ResolvConf: filepath.Join(dir, "resolv.conf"),
		Hostname:   filepath.Join(dir, "hostname"),
	}
}

// setupSandbox writes the pod's volumes, creates and wires its network
// namespace and writes its /etc files.
func (a *Agent) setupSandbox(ctx context.Context, pod *corev1.Pod) error {
	podDir := a.podDir(pod)
	if err := os.MkdirAll(filepath.Join(podDir, ".etc"), 0o755); err != nil {
		return err
	}
	if err := a.setupVolumes(pod); err != nil {
		return err
	}
	a.ensurePodCgroup(pod)
	ip, hosts, hostname := a.cfg.NodeIP, []byte(nil), a.host.Hostname
	var err error
	if pod.Spec.HostNetwork {
		// The node's network: no namespace, no CNI; the node's hosts file
		// and hostname, as the kubelet.
		if hosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return fmt.Errorf("read host /etc/hosts: %w", err)
		}
	} else {
		if _, ip, err = a.net.Setup(ctx, pod.UID); err != nil {
			return err
		}
		hosts, hostname = hostsFile(ip, pod.Name), pod.Name
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return fmt.Errorf("read host resolv.conf: %w", err)
	}
	domain := a.cfg.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	if resolv, err = podResolvConf(pod, resolv, a.cfg.ClusterDNS, domain); err != nil {
		return &actionError{reason: "DNSConfigForming", err: err}
	}
	f := a.etcFiles(pod)
	files := []volume.File{
		{Path: filepath.Base(f.Hosts), Data: hosts, Mode: 0o644},
		{Path: filepath.Base(f.ResolvConf), Data: resolv, Mode: 0o644},
		{Path: filepath.Base(f.Hostname), Data: []byte(hostname + "\n"), Mode: 0o644},
	}
	if _, err := volume.Sync(filepath.Dir(f.Hosts), files); err != nil {
		return fmt.Errorf("write /etc files: %w", err)
	}
	return nil
}

func (a *Agent) setupVolumes(pod *corev1.Pod) error {
	src, err := a.sources(pod.Namespace)
	if err != nil {
		return err
	}
	vols, err := volume.Render(pod, src)
	if err != nil {
		return &actionError{reason: "FailedMount", err: err}
	}
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, v := range vols {
		if err := volume.Setup(a.podDir(pod), v); err != nil {
			return &actionError{reason: "FailedMount", err: err}
		}
		if fsGroup != nil && v.Kind != volume.HostPath { // the node's files keep their owner, as in Kubernetes
			dir := volume.Dir(a.podDir(pod), v.Name)
			if err := setVolumeOwnership(dir, *fsGroup, v.Kind != volume.EmptyDir); err != nil {
				return &actionError{reason: "FailedMount", err: fmt.Errorf("volume %q: fsGroup %d: %w", v.Name, *fsGroup, err)}
			}
		}
	}
	return nil
}

// syncVolumes rewrites configMap and secret volume files that changed.
func (a *Agent) syncVolumes(pod *corev1.Pod) error {
	return a.setupVolumes(pod)
}

func (a *Agent) teardownSandbox(ctx context.Context, p PodPlan) error {
	if err := a.net.Teardown(ctx, p.UID); err != nil {
		return err
	}
	for _, cg := range podCgroupPaths(p.UID) {
		if err := hostCgroups().remove(cg); err != nil {
			return err
		}
	}
	for _, dir := range a.podDirsOf(p.UID) {
		if err := volume.Teardown(dir); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) logPath(pod *corev1.Pod, container string, restartCount int) string {
	return filepath.Join(a.podDir(pod), container, strconv.Itoa(restartCount)+".log")
}

func specOf(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], nil
		}
	}
	return nil, fmt.Errorf("container %q is not in the pod spec", name)
}

// startContainer creates the container when it is missing, its task when it
// has none, and starts the task when it is not running yet.
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, name string) error {
	spec, err := specOf(pod, name)
	if err != nil {
		return err
	}
	id := ContainerID(pod.UID, name)
	cont, err := a.cfg.Client.LoadContainer(ctx, id)
	fresh := false
	switch {
	case errdefs.IsNotFound(err):
		cont, err = a.createContainer(ctx, pod, spec)
		if err != nil {
			return err
		}
		fresh = true
	case err != nil:
		return fmt.Errorf("container %q: load: %w", name, err)
	}
	task, err := cont.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		labels, err := cont.Labels(ctx)
		if err != nil {
			return fmt.Errorf("container %q: labels: %w", name, err)
		}
		if !fresh {
			if _, err := cont.SetLabels(ctx, map[string]string{labelStartedAt: formatTime(a.clock())}); err != nil {
				return fmt.Errorf("container %q: set labels: %w", name, err)
			}
		}
		restarts, _ := strconv.Atoi(labels[LabelRestartCount])
		task, err = a.newTask(ctx, cont, a.logPath(pod, name, restarts))
		if err != nil {
			return &actionError{container: name, reason: "RunContainerError", err: fmt.Errorf("container %q: %w", name, err)}
		}
	} else if err != nil {
		return fmt.Errorf("container %q: load task: %w", name, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("container %q: task status: %w", name, err)
	}
	if st.Status != containerd.Created {
		return nil // running already, or exited: the next pass decides
	}
	if err := task.Start(ctx); err != nil {
		return &actionError{container: name, reason: "RunContainerError", err: fmt.Errorf("container %q: start: %w", name, err)}
	}
	a.tasks.started(id, task.Pid())
	a.log.Info("container started", "pod", pod.Namespace+"/"+pod.Name, "container", name, "id", id, "pid", task.Pid())
	return a.postStart(ctx, pod, spec)
}

func (a *Agent) newTask(ctx context.Context, cont containerd.Container, logPath string) (containerd.Task, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	ioc := cio.LogFile(logPath)
	if a.cfg.LogDriver != "" {
		ioc = logdriver.Creator(a.cfg.LogDriver, logdriver.Settings{
			Path: logPath, MaxSize: a.cfg.ContainerLogMaxSize, MaxFiles: a.cfg.ContainerLogMaxFiles})
	}
	task, err := cont.NewTask(ctx, ioc)
	if err != nil {
		return nil, fmt.Errorf("new task: %w", err)
	}
	a.tasks.created(cont.ID(), task.Pid())
	return task, nil
}

// createContainer resolves the image, environment and mounts of spec and
// creates its containerd container with a fresh snapshot.
func (a *Agent) createContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container) (containerd.Container, error) {
	name := spec.Name
	id := ContainerID(pod.UID, name)
	ip, ok := a.sandboxIP(pod)
	if !ok {
		return nil, fmt.Errorf("container %q: %w", name, errNoSandbox)
	}
	img, err := a.ensureImage(ctx, pod, spec)
	if err != nil {
		return nil, err
	}
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerError", err: fmt.Errorf("container %q: image %q config: %w", name, spec.Image, err)}
	}
	sec := securityOf(pod, spec)
	podID := pod.Name + "_" + pod.Namespace + "(" + string(pod.UID) + ")"
	if err := verifyNonRoot(sec, imgSpec.Config.User, podID, name); err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerConfigError", err: err}
	}
	src, err := a.sources(pod.Namespace)
	if err != nil {
		return nil, err
	}
	env, err := podenv.Env(pod, spec, src, podenv.Runtime{PodIP: ip, HostIP: a.cfg.NodeIP, Allocatable: hostAllocatable(a.host)})
	if err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerConfigError", err: err}
	}
	args, err := processArgs(spec, imgSpec.Config.Entrypoint, imgSpec.Config.Cmd, podenv.Lookup(env))
	if err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerConfigError", err: err}
	}
	podDir := a.podDir(pod)
	mounts, err := containerMounts(pod, spec, podDir, a.etcFiles(pod))
	if err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerConfigError", err: err}
	}
	for _, dir := range subPathDirs(pod, spec, podDir) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("container %q: subPath: %w", name, err)
		}
	}

	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(podenv.Strings(env)),
		oci.WithMounts(mounts),
	}
	specOpts = append(specOpts, sandboxOpts(pod, a.net.NetNSPath(pod.UID), a.containerCgroup(pod, id))...)
	if spec.WorkingDir != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(spec.WorkingDir))
	}
	specOpts = append(specOpts, resourceOpts(spec)...)
	specOpts = append(specOpts, withOOMScoreAdj(oomScoreAdj(QOSClass(pod), spec, a.host.MemoryBytes)))
	specOpts = append(specOpts, securityOpts(sec)...) // last: seccomp follows the capabilities

	now := a.clock()
	labels := map[string]string{
		LabelPodUID:       string(pod.UID),
		LabelPodNamespace: pod.Namespace,
		LabelPodName:      pod.Name,
		LabelContainer:    name,
		LabelRestartCount: "0",
		labelImage:        spec.Image,
		labelImageID:      img.Target().Digest.String(),
		labelGrace:        gracePeriodOf(pod).String(),
		LabelNode:         a.cfg.NodeName,
		labelStartedAt:    formatTime(now),
	}

	// A snapshot left by a create that failed half-way would block this one.
	sn := a.cfg.Client.SnapshotService(containerd.DefaultSnapshotter)
	if _, err := sn.Stat(ctx, id); err == nil {
		if err := sn.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %q: remove stale snapshot: %w", name, err)
		}
	}
	opts := []containerd.NewContainerOpts{
		containerd.WithImage(img),
		containerd.WithSnapshotter(containerd.DefaultSnapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
		containerd.WithImageStopSignal(img, "SIGTERM"), // a label GetStopSignal reads
	}
	if a.cfg.RuncRoot != "" {
		opts = append(opts, containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: a.cfg.RuncRoot}))
	}
	cont, err := a.cfg.Client.NewContainer(ctx, id, opts...)
	if err != nil {
		return nil, &actionError{container: name, reason: "CreateContainerError", err: fmt.Errorf("container %q: create: %w", name, err)}
	}
	return cont, nil
}

// restartContainer answers the exit at exitedAt: it records the exit and the
// back-off step in the container's labels, deletes the exited task and
// starts a new one with the next log file. A stale plan (the task is no
// longer the one that exited at exitedAt) does nothing.
func (a *Agent) restartContainer(ctx context.Context, pod *corev1.Pod, name string, exitedAt time.Time) error {
	id := ContainerID(pod.UID, name)
	cont, err := a.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("container %q: load: %w", name, err)
	}
	info, err := cont.Info(ctx)
	if err != nil {
		return fmt.Errorf("container %q: info: %w", name, err)
	}
	obs, ok := containerFromLabels(id, info.Labels)
	if !ok {
		return fmt.Errorf("container %q: not labelled by tug", name)
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		return fmt.Errorf("container %q: load task: %w", name, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("container %q: task status: %w", name, err)
	}
	if st.Status != containerd.Stopped || !st.ExitTime.Equal(exitedAt) {
		return nil
	}
	obs.Task, obs.ExitCode, obs.ExitedAt = TaskStopped, int32(st.ExitStatus), st.ExitTime
	restarts := obs.RestartCount
	if !exitRecorded(obs) {
		now := a.clock()
		b := a.backoff.Next(obs.Backoff, obs.ExitedAt, now)
		if _, err := cont.SetLabels(ctx, restartLabels(obs, b, now)); err != nil {
			return fmt.Errorf("container %q: record restart: %w", name, err)
		}
		restarts++
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("container %q: delete exited task: %w", name, err)
	}
	a.tasks.deleted(id, task.Pid())
	a.ensurePodCgroup(pod) // gone after a reboot, say
	task, err = a.newTask(ctx, cont, a.logPath(pod, name, restarts))
	if err != nil {
		return &actionError{container: name, reason: "RunContainerError", err: fmt.Errorf("container %q: %w", name, err)}
	}
	if err := task.Start(ctx); err != nil {
		return &actionError{container: name, reason: "RunContainerError", err: fmt.Errorf("container %q: start: %w", name, err)}
	}
	a.tasks.started(id, task.Pid())
	a.log.Info("container restarted", "pod", pod.Namespace+"/"+pod.Name, "container", name,
		"restartCount", restarts, "lastExitCode", obs.ExitCode)
	spec, err := specOf(pod, name)
	if err != nil {
		return nil // left the spec meanwhile: the next pass removes it
	}
	return a.postStart(ctx, pod, spec)
}

// killUnhealthy stops the run of a container that failed its liveness or
// startup probe, after recording it in the container's labels. A stale plan
// (the container runs a newer run) does nothing.
func (a *Agent) killUnhealthy(ctx context.Context, pod *corev1.Pod, act Action) error {
	id := ContainerID(pod.UID, act.Container)
	cont, err := a.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("container %q: load: %w", act.Container, err)
	}
	labels, err := cont.Labels(ctx)
	if err != nil {
		return fmt.Errorf("container %q: labels: %w", act.Container, err)
	}
	if !parseTime(labels[labelStartedAt]).Equal(act.StartedAt) {
		return nil
	}
	if _, err := cont.SetLabels(ctx, map[string]string{labelProbeKilled: formatTime(act.StartedAt)}); err != nil {
		return fmt.Errorf("container %q: record probe kill: %w", act.Container, err)
	}
	a.log.Info("container unhealthy; killing it", "pod", pod.Namespace+"/"+pod.Name, "container", act.Container,
		"reason", act.Message, "grace", act.Grace)
	return a.stopContainer(ctx, pod, id, act.Grace)
}

// stopContainers stops the tasks of ids concurrently (see stopContainer).
func (a *Agent) stopContainers(ctx context.Context, pod *corev1.Pod, ids []string, grace time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.stopContainer(ctx, pod, id, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopContainer stops the task of container id as the kubelet does: the
// preStop hook of its spec in pod (nil: the pod is gone) within grace, then
// the image's stop signal (SIGTERM unless the image says otherwise) and
// SIGKILL once the rest of grace has passed.
func (a *Agent) stopContainer(ctx context.Context, pod *corev1.Pod, id string, grace time.Duration) error {
	cont, err := a.cfg.Client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %s: load: %w", id, err)
	}
	task, err := cont.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %s: load task: %w", id, err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("container %s: wait: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("container %s: task status: %w", id, err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	if st.Status == containerd.Created {
		return nil // never started: removing it is enough
	}
	if grace > 0 {
		grace = a.preStop(ctx, pod, id, grace)
		sig, err := containerd.GetStopSignal(ctx, cont, syscall.SIGTERM)
		if err != nil {
			sig = syscall.SIGTERM
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("container %s: %s: %w", id, unix.SignalName(sig), err)
		}
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
			a.log.Info("grace period over; killing", "container", id, "grace", grace)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("container %s: SIGKILL: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("container %s: still running %s after SIGKILL", id, killTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// removeContainers deletes the tasks, containers and snapshots of ids.
func (a *Agent) removeContainers(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		cont, err := a.cfg.Client.LoadContainer(ctx, id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: load: %w", id, err))
			continue
		}
		if task, err := cont.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("container %s: delete task: %w", id, err))
				continue
			}
			a.tasks.deleted(id, 0)
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("container %s: load task: %w", id, err))
			continue
		}
		if err := cont.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("container %s: delete: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// sandboxIP returns the pod's IP once its sandbox is set up: the node's IP
// for a hostNetwork pod whose /etc files are written.
func (a *Agent) sandboxIP(pod *corev1.Pod) (string, bool) {
	if pod.Spec.HostNetwork {
		_, err := os.Stat(a.etcFiles(pod).Hostname)
		return a.cfg.NodeIP, err == nil
	}
	return a.net.Ready(pod.UID)
}

// ensurePodCgroup creates the pod's cgroup with its limits (cgroups.go)
// and reports whether it could.
func (a *Agent) ensurePodCgroup(pod *corev1.Pod) bool {
	cg := hostCgroups()
	if err := cg.ensure(podCgroupPath(pod.UID, QOSClass(pod)), podLimits(pod)); err != nil {
		a.log.Warn("pod cgroup not set up; its containers get containerd's default cgroup", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return false
	}
	return cg.enabled
}

// containerCgroup makes sure the pod's cgroup is there and returns the
// cgroup of container id of pod below it; empty (containerd's default
// cgroup, where the container's own limits still apply) when the node has
// no writable cgroup mount or the pod cgroup could not be made.
func (a *Agent) containerCgroup(pod *corev1.Pod, id string) string {
	if !a.ensurePodCgroup(pod) {
		return ""
	}
	return path.Join(podCgroupPath(pod.UID, QOSClass(pod)), id)
}
