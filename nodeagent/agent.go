package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/backoff"
	"github.com/tug-dev/tug/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// Store is what the agent needs from tug's state (*state.Store satisfies it).
type Store interface {
	List(kind, namespace string) ([]manifest.Object, error)
	Get(key manifest.Key) (manifest.Object, error)
	Mutate(key manifest.Key, fn func(cur manifest.Object) (manifest.Object, error)) error
	Delete(key manifest.Key, uid types.UID) error
	Notify(ctx context.Context, kinds ...string) <-chan struct{}
	// RecordEvent records (or aggregates) an event: image pulls report
	// Pulling, Pulled, Failed and BackOff.
	RecordEvent(ev *corev1.Event) error
}

// Config configures an Agent.
type Config struct {
	NodeName string
	DataDir  string // agent files live under DataDir: pods/, netns/, cni/
	// PodCIDR is this node's /24, e.g. "10.42.0.0/24", written into its
	// Node's spec.podCIDR. Empty: the Node's spec.podCIDR, and Run waits
	// for the control plane to allocate one if it has none (podcidr.go).
	PodCIDR   string
	CNIBinDir string // default /usr/lib/cni
	Client    *containerd.Client
	Namespace string // containerd namespace, default "tug"
	Store     Store
	Logger    *slog.Logger
	Clock     func() time.Time

	// NodeIP is the node's InternalIP and every pod's hostIP; default
	// 127.0.0.1.
	NodeIP string
	// RuncRoot, when set, is passed to runc as its state root (see
	// containerdproc.Proc.RuncRoot); empty keeps runc's default.
	RuncRoot string
	// LogDriver is the executable containerd's shim runs as every task's
	// log driver (package logdriver; tugd passes itself): logs then carry
	// timestamps and rotate. Empty: the shim writes plain log files that
	// never rotate, and logs cannot be read with since or timestamps.
	LogDriver string
	// ContainerLogMaxSize and ContainerLogMaxFiles bound each container
	// run's log when LogDriver is set: the kubelet's settings, default
	// 10 MiB and 5 files.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// Resync is the period of the full pass that runs even when nothing
	// signals a change; default 5 s.
	Resync time.Duration
	// ClusterDNS is the cluster DNS address ClusterFirst pods get as their
	// nameserver (10.43.0.10); empty: they get the host's resolv.conf.
	ClusterDNS string
	// ClusterDomain is the cluster domain in pods' search paths; default
	// cluster.local.
	ClusterDomain string
	// Imports, when set, tells whether image archives are being imported:
	// a container whose image is missing meanwhile waits
	// (ContainerCreating) instead of pulling it.
	Imports ImportWaiter
}

// Agent runs the pods bound to one node. See the package documentation.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	clock   func() time.Time
	net     *podnet.Network
	podsDir string
	backoff backoff.Policy
	host    hostInfo
	probes  *prober
	tasks   taskCache // see taskcache.go

	wakeCh chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	busy     map[types.UID]bool
	failures map[types.UID]Failure
	hooks    map[string]bool // container IDs whose postStart hook runs

	// The pod CIDR Run settled on (podcidr.go); cidrSettled closes then.
	settleOnce  sync.Once
	settledCIDR string
	cidrSettled chan struct{}
}

// New checks cfg and prepares the agent's directories. It does not touch
// containerd or the store.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("nodeagent: NodeName is required")
	case cfg.DataDir == "" || !filepath.IsAbs(cfg.DataDir):
		return nil, fmt.Errorf("nodeagent: DataDir %q must be an absolute path", cfg.DataDir)
	case cfg.Client == nil:
		return nil, errors.New("nodeagent: Client is required")
	case cfg.Store == nil:
		return nil, errors.New("nodeagent: Store is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "tug"
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "127.0.0.1"
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	var network *podnet.Network // set up by Run when PodCIDR is empty (podcidr.go)
	if cfg.PodCIDR != "" {
		var err error
		if network, err = podnet.New(podnet.Config{DataDir: cfg.DataDir, CNIBinDir: cfg.CNIBinDir, PodCIDR: cfg.PodCIDR}); err != nil {
			return nil, fmt.Errorf("nodeagent: %w", err)
		}
	}
	podsDir := filepath.Join(cfg.DataDir, "pods")
	if err := os.MkdirAll(podsDir, 0o755); err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "nodeagent", "node", cfg.NodeName),
		clock:    cfg.Clock,
		net:      network,
		podsDir:  podsDir,
		backoff:  backoff.Default,
		wakeCh:   make(chan struct{}, 1),
		busy:     map[types.UID]bool{},
		failures: map[types.UID]Failure{},
		hooks:    map[string]bool{},

		cidrSettled: make(chan struct{}),
	}
	a.probes = newProber(a.log, a.clock, a.wake, a.execProbe)
	return a, nil
}

const heartbeatPeriod = 10 * time.Second

// Run registers the node, then keeps the node's pods in their desired state
// until ctx ends. It returns nil when ctx ends, after the actions in flight
// have stopped; the pods keep running, and the next Run adopts them.
func (a *Agent) Run(ctx context.Context) error {
	ctx = namespaces.WithNamespace(ctx, a.cfg.Namespace)
	a.host = readHostInfo(ctx, a.cfg)
	if err := a.resolvePodCIDR(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("nodeagent: node %s: %w", a.cfg.NodeName, err)
	}
	if err := a.registerNode(ctx); err != nil {
		return fmt.Errorf("nodeagent: register node %s: %w", a.cfg.NodeName, err)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runLease(ctx, LeaseRenewPeriod) // lease.go
	}()
	a.gcSnapshots(ctx) // the rest of what gone pods left is the first pass's
	podCh := a.cfg.Store.Notify(ctx, manifest.KindPod, manifest.KindPersistentVolumeClaim, manifest.KindPersistentVolume)
	cfgCh := a.cfg.Store.Notify(ctx, manifest.KindConfigMap, manifest.KindSecret)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.watchExits(ctx)
	}()
	defer a.wg.Wait()
	defer a.probes.stop()

	resync := time.NewTicker(a.cfg.Resync)
	defer resync.Stop()
	heartbeat := time.NewTicker(heartbeatPeriod)
	defer heartbeat.Stop()
	requeue := time.NewTimer(time.Hour)
	defer requeue.Stop()

	configs := true // the first pass also refreshes volumes
	started, first := a.clock(), true
	var rs runtimeState
	for {
		next, err := a.pass(ctx, configs)
		if retry := a.observed(ctx, &rs, err); retry > 0 {
			next = retry
		} else if err != nil && ctx.Err() == nil {
			a.log.Warn("sync pass failed", "err", err)
		}
		if first && err == nil {
			first = false
			a.log.Info("first pass done: running containers adopted", "took", a.clock().Sub(started))
		}
		configs = false
		if !requeue.Stop() {
			select {
			case <-requeue.C:
			default:
			}
		}
		if next > 0 {
			requeue.Reset(next)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-podCh:
		case <-cfgCh:
			configs = true
		case <-a.wakeCh:
		case <-resync.C:
			a.refreshTasks(ctx)
		case <-requeue.C:
		case <-heartbeat.C:
			if a.host.RuntimeVersion == "" { // containerd was not up at start
				a.host = readHostInfo(ctx, a.cfg)
			}
			if err := a.registerNode(ctx); err != nil {
				a.log.Warn("node heartbeat failed", "err", err)
			}
		}
	}
}

// refreshTasks lists the tasks in the background (unless a List runs
// already) and wakes the loop when done, so the task cache catches up
// with anything its updates missed without a pass waiting for the List.
func (a *Agent) refreshTasks(ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if listed, err := a.tasks.tryRefresh(ctx, a.listTasks); listed && err == nil {
			a.wake()
		}
	}()
}

func (a *Agent) wake() {
	select {
	case a.wakeCh <- struct{}{}:
	default:
	}
}

// watchExits wakes the loop whenever a task exits, and after every
// (re)connection to containerd so that the next pass adopts what runs. An
// OOM event is recorded on the container first (see recordOOM).
func (a *Agent) watchExits(ctx context.Context) {
	exits := fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, a.cfg.Namespace)
	ooms := fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, a.cfg.Namespace)
	delay := runtimeRetryInitial
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		subscribed := time.Now()
		evs, errs := a.cfg.Client.Subscribe(sctx, exits, ooms)
		a.tasks.invalidate() // exits may have been missed: the next pass lists
		a.wake()
	recv:
		for {
			select {
			case env := <-evs:
				switch {
				case env == nil:
				case env.Topic == "/tasks/oom":
					a.recordOOM(ctx, env)
				default:
					a.recordExit(env)
				}
				a.wake()
			case err := <-errs:
				if ctx.Err() == nil && time.Since(subscribed) > time.Second {
					a.log.Warn("containerd event stream ended; reconnecting", "err", err)
				}
				a.tasks.invalidate()
				a.wake() // the next pass finds out whether containerd is down
				break recv
			case <-ctx.Done():
				break recv
			}
		}
		cancel()
		// Re-subscribe with back-off while containerd does not answer.
		if time.Since(subscribed) > runtimeRetryMax {
			delay = runtimeRetryInitial
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, runtimeRetryMax)
	}
}

// pass reads everything, plans, dispatches the plans to per-pod workers and
// writes the pods' status. It returns when the next pass is due at the
// latest (0: no deadline).
func (a *Agent) pass(ctx context.Context, configs bool) (time.Duration, error) {
	pods, err := a.boundPods()
	if err != nil {
		return 0, err
	}
	bound := pods
	pods, held, pvs, err := a.resolveClaims(pods) // see claims.go
	if err != nil {
		return 0, err
	}
	obs, err := a.observe(ctx, pods)
	if err != nil {
		return 0, err
	}
	now := a.clock()
	podIPs := make(map[string]string, len(obs.sandboxes))
	for uid, ip := range obs.sandboxes {
		podIPs[string(uid)] = ip
	}
	a.probes.sync(ctx, pods, obs.containers, podIPs)
	probes := a.probes.states()

	a.mu.Lock()
	busy := make(map[types.UID]bool, len(a.busy))
	for k, v := range a.busy {
		busy[k] = v
	}
	known := map[types.UID]bool{}
	for _, p := range pods {
		known[p.UID] = true
	}
	for _, c := range obs.containers {
		known[c.PodUID] = true
	}
	for _, uid := range obs.leftovers {
		known[uid] = true
	}
	for uid := range a.failures {
		if !known[uid] {
			delete(a.failures, uid) // nothing left to retry
		}
	}
	failures := make(map[types.UID]Failure, len(a.failures))
	for k, v := range a.failures {
		failures[k] = v
	}
	hooks := make(map[string]bool, len(a.hooks))
	for k, v := range a.hooks {
		hooks[k] = v
	}
	a.mu.Unlock()
	holdPods(held, obs.containers, busy, failures, now) // see claims.go

	plans := Plan(Input{
		Pods:       pods,
		Containers: obs.containers,
		Sandboxes:  obs.sandboxes,
		Leftovers:  obs.leftovers,
		Failures:   failures,
		Busy:       busy,
		Configs:    configs,
		Probes:     probes,
		Now:        now,
		Backoff:    a.backoff,
	})
	var next time.Duration
	for _, p := range plans {
		if p.RequeueAfter > 0 && (next == 0 || p.RequeueAfter < next) {
			next = p.RequeueAfter
		}
		if len(p.Actions) > 0 {
			a.dispatch(ctx, p)
		}
	}

	byPod := map[types.UID][]Container{}
	for _, c := range obs.containers {
		byPod[c.PodUID] = append(byPod[c.PodUID], c)
	}
	var errs []error
	var changed []podStatusWrite
	for _, pod := range pods {
		in := StatusInput{
			Pod:        pod,
			Containers: byPod[pod.UID],
			PodIP:      obs.sandboxes[pod.UID],
			HostIP:     a.cfg.NodeIP,
			Probes:     probes,
			PostStart:  hooks,
			Now:        now,
			Backoff:    a.backoff,
		}
		backOff := false
		if f, ok := failures[pod.UID]; ok {
			if bf, ok := pullBackOff(f, imageOf(pod, f.Container), now); ok {
				f, backOff = bf, true
			}
			in.Failure = &f
		}
		st := PodStatus(in)
		if equality.Semantic.DeepEqual(st, pod.Status) {
			continue
		}
		if backOff { // once per failed pull: when the status turns ImagePullBackOff
			c := in.Failure.Container
			a.event(pod, c, corev1.EventTypeWarning, "BackOff", fmt.Sprintf("Back-off pulling image %q", imageOf(pod, c)))
		}
		changed = append(changed, podStatusWrite{pod, st})
	}
	if err := a.writeStatuses(changed); err != nil {
		errs = append(errs, err)
	}
	if err := a.reclaimVolumes(pvs, bound, pods); err != nil {
		errs = append(errs, err)
	}
	return next, errors.Join(errs...)
}

// boundPods lists the pods bound to this node.
func (a *Agent) boundPods() ([]*corev1.Pod, error) {
	objs, err := a.cfg.Store.List(manifest.KindPod, "")
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName == a.cfg.NodeName && p.UID != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// writeStatus stores st as pod's status, unless the pod was deleted or
// replaced (another UID) meanwhile, or its status already equals st.
func (a *Agent) writeStatus(pod *corev1.Pod, st corev1.PodStatus) error {
	err := a.cfg.Store.Mutate(manifest.KeyOf(pod), func(cur manifest.Object) (manifest.Object, error) {
		return withStatus(cur, pod.UID, st), nil
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s: write status: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// withStatus returns cur, the stored pod, with status st; nil (write
// nothing) if the pod is gone or another one of its name (never
// resurrect it) or already has st.
func withStatus(cur manifest.Object, uid types.UID, st corev1.PodStatus) manifest.Object {
	p, ok := cur.(*corev1.Pod)
	if !ok || p == nil || p.UID != uid || equality.Semantic.DeepEqual(p.Status, st) {
		return nil
	}
	next := p.DeepCopy()
	next.Status = st
	return next
}

// podStatusWrite is one pod status a pass writes.
type podStatusWrite struct {
	pod    *corev1.Pod
	status corev1.PodStatus
}

// batchMutator is a Store that commits several read-modify-writes in one
// transaction (state.Store): a pass's pod statuses then cost one commit
// instead of one each — 100 pods starting at once change status together.
type batchMutator interface {
	MutateAll(keys []manifest.Key, fn func(i int, cur manifest.Object) (manifest.Object, error)) error
}

// writeStatuses writes a pass's pod statuses: in one transaction when the
// store can (batchMutator), else one by one (a remote store: one request
// each).
func (a *Agent) writeStatuses(ws []podStatusWrite) error {
	bm, ok := a.cfg.Store.(batchMutator)
	if !ok {
		var errs []error
		for _, w := range ws {
			if err := a.writeStatus(w.pod, w.status); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	keys := make([]manifest.Key, len(ws))
	for i, w := range ws {
		keys[i] = manifest.KeyOf(w.pod)
	}
	err := bm.MutateAll(keys, func(i int, cur manifest.Object) (manifest.Object, error) {
		return withStatus(cur, ws[i].pod.UID, ws[i].status), nil
	})
	if err != nil {
		return fmt.Errorf("write the status of %d pods: %w", len(ws), err)
	}
	return nil
}

// dispatch runs p's actions on a goroutine of their own unless the pod's
// previous actions still run; when they finish, the loop plans again.
func (a *Agent) dispatch(ctx context.Context, p PodPlan) {
	a.mu.Lock()
	if a.busy[p.UID] {
		a.mu.Unlock()
		return
	}
	a.busy[p.UID] = true
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := a.execute(ctx, p)
		a.mu.Lock()
		delete(a.busy, p.UID)
		if err != nil && ctx.Err() == nil {
			f := failureOf(err, a.clock())
			if prev, ok := a.failures[p.UID]; ok {
				f.Attempts = prev.Attempts + 1
			}
			a.failures[p.UID] = f
			a.log.Warn("pod action failed", "pod", podRef(p), "reason", f.Reason, "err", err)
		} else if err == nil {
			delete(a.failures, p.UID)
		}
		a.mu.Unlock()
		a.wake()
	}()
}

func podRef(p PodPlan) string {
	if p.Pod != nil {
		return p.Pod.Namespace + "/" + p.Pod.Name
	}
	return string(p.UID)
}

// actionError carries the Kubernetes waiting reason of a failed action.
type actionError struct {
	container string
	reason    string
	err       error
}

func (e *actionError) Error() string { return e.err.Error() }
func (e *actionError) Unwrap() error { return e.err }

func failureOf(err error, now time.Time) Failure {
	f := Failure{Reason: "Error", Message: err.Error(), At: now, Attempts: 1}
	var ae *actionError
	if errors.As(err, &ae) {
		f.Container, f.Reason = ae.container, ae.reason
	}
	return f
}

// podDir is the directory of a pod: logs, volumes and /etc files.
func (a *Agent) podDir(pod *corev1.Pod) string {
	return filepath.Join(a.podsDir, pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

// podDirsOf finds the directories of the pod with uid.
func (a *Agent) podDirsOf(uid types.UID) []string {
	matches, _ := filepath.Glob(filepath.Join(a.podsDir, "*_"+string(uid)))
	return matches
}

// podDirUIDs lists the UIDs that have a pod directory.
func (a *Agent) podDirUIDs() ([]types.UID, error) {
	entries, err := os.ReadDir(a.podsDir)
	if err != nil {
		return nil, err
	}
	var out []types.UID
	for _, e := range entries {
		if i := strings.LastIndexByte(e.Name(), '_'); i >= 0 && e.IsDir() {
			out = append(out, types.UID(e.Name()[i+1:]))
		}
	}
	return out, nil
}
