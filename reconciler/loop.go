package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Config wires a Reconciler.
type Config struct {
	Store     Store
	Scheduler Scheduler // default FitScheduler
	Logger    *slog.Logger
	Clock     func() time.Time
	IDs       IDs // default random UIDs and suffixes
	// NodeGracePeriod and DefaultTolerationSeconds tune node failure
	// handling (see Options); zero takes the defaults (10 s, 30 s).
	NodeGracePeriod          time.Duration
	DefaultTolerationSeconds int64
	// ClusterCIDR is the pod address range each Node gets a /24 of in
	// spec.podCIDR; default DefaultClusterCIDR (10.42.0.0/16).
	ClusterCIDR netip.Prefix
	// ReservedPodCIDRs keeps a pod CIDR block for a node by name: tugd
	// reserves its embedded node's --pod-cidr, so a remote node that
	// registers first does not take it.
	ReservedPodCIDRs map[string]netip.Prefix
	// StorageDir is the local-path provisioner's directory on the nodes
	// (<data-dir>/storage); default DefaultStorageDir.
	StorageDir string
}

// Reconciler applies revisions and runs the control loop.
type Reconciler struct {
	store Store
	sched Scheduler
	log   *slog.Logger
	clock func() time.Time
	ids   IDs
	opts  Options
	// events stores the events passes plan, in the background (events.go).
	events *eventRecorder

	mu     sync.Mutex // serializes revision applies with each other
	passMu sync.Mutex // held by a control-loop pass
}

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Scheduler == nil {
		cfg.Scheduler = FitScheduler{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.IDs == nil {
		cfg.IDs = randomIDs{}
	}
	if !cfg.ClusterCIDR.IsValid() {
		cfg.ClusterCIDR = DefaultClusterCIDR
	}
	r := &Reconciler{store: cfg.Store, sched: cfg.Scheduler, log: cfg.Logger, clock: cfg.Clock, ids: cfg.IDs,
		opts: Options{NodeGracePeriod: cfg.NodeGracePeriod, DefaultTolerationSeconds: cfg.DefaultTolerationSeconds,
			ClusterCIDR: cfg.ClusterCIDR, ReservedPodCIDRs: cfg.ReservedPodCIDRs, StorageDir: cfg.StorageDir}.withDefaults()}
	r.events = newEventRecorder(cfg.Store, cfg.Logger, &r.passMu)
	return r
}

type randomIDs struct{}

func (randomIDs) UID() types.UID { return uuid.NewUUID() }
func (randomIDs) Suffix() string { return rand.String(5) }

// Apply makes the stored Git objects equal to rev's, in one transaction
// together with rec (its counts filled in). It implements gitsync's Sink.
func (r *Reconciler) Apply(ctx context.Context, rev *manifest.Revision, rec manifest.SyncRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 0; ; attempt++ {
		stored, err := r.gitObjects()
		if err != nil {
			return err
		}
		p := PlanRevision(rev.SHA, rev.Objects, stored)
		if len(p.Errors) > 0 {
			// The commit asks for something the cluster's state refuses
			// (an address another Service holds): record it as rejected and
			// keep the revision in force. Retrying cannot help until a new
			// commit arrives.
			rec.Errors = p.Errors
			if err := r.Reject(ctx, rec); err != nil {
				return err
			}
			return fmt.Errorf("commit %s: %s: %w", rev.SHA, strings.Join(p.Errors, "; "), manifest.ErrRevisionRejected)
		}
		if err := r.protectStorage(&p); err != nil {
			return err
		}
		if len(p.Puts) == 0 && len(p.Deletes) == 0 {
			// The revision in force again (tugd restarted, or the same tree
			// re-fetched): nothing to write and nothing new to record.
			if last, ok, err := r.store.LastApplied(); err == nil && ok && last.SHA == rev.SHA {
				return nil
			}
		}
		rec.Outcome = manifest.OutcomeApplied
		rec.Objects = len(rev.Objects)
		rec.Added, rec.Changed, rec.Removed = p.Added, p.Changed, p.Removed
		rec.Finished = r.clock()
		_, err = r.store.Apply(p.Puts, p.Deletes, &rec)
		if err == nil {
			r.log.Info("revision applied", "sha", rev.SHA, "added", p.Added, "changed", p.Changed, "removed", p.Removed)
			return nil
		}
		if attempt >= 5 || ctx.Err() != nil {
			return fmt.Errorf("apply revision %s: %w", rev.SHA, err)
		}
		// A controller wrote a status meanwhile: read again.
		time.Sleep(10 * time.Millisecond)
	}
}

// protectStorage keeps the claims a revision removes while pods still use
// them, and the volumes it removes while bound, Terminating
// (protection.go).
func (r *Reconciler) protectStorage(p *RevisionPlan) error {
	var pods []*corev1.Pod
	if slices.ContainsFunc(p.Deletes, func(o manifest.Object) bool { _, ok := o.(*corev1.PersistentVolumeClaim); return ok }) {
		objs, err := r.store.List(manifest.KindPod, "")
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		for _, o := range objs {
			pods = append(pods, o.(*corev1.Pod))
		}
	}
	protectStorage(p, pods, r.clock())
	return nil
}

// Reject records a commit that did not validate. Nothing else changes: the
// last good revision stays in force.
func (r *Reconciler) Reject(ctx context.Context, rec manifest.SyncRecord) error {
	rec.Outcome = manifest.OutcomeRejected
	if rec.Finished.IsZero() {
		rec.Finished = r.clock()
	}
	if _, err := r.store.Apply(nil, nil, &rec); err != nil {
		return fmt.Errorf("record rejected revision %s: %w", rec.SHA, err)
	}
	r.log.Warn("revision rejected", "sha", rec.SHA, "errors", len(rec.Errors))
	return nil
}

// gitObjects lists the stored objects of every kind a repository may hold.
func (r *Reconciler) gitObjects() ([]manifest.Object, error) {
	var out []manifest.Object
	for _, kind := range manifest.GitKinds() {
		objs, err := r.store.List(kind, "")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// Run runs the control loop until ctx ends: one pass at start, then one
// after every change in the store (bursts coalesce) or when a pass asked to
// be requeued.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.ensureBuiltins(); err != nil {
		return err
	}
	defer r.FlushEvents() // the store outlives Run: let queued events land
	wake := r.store.Notify(ctx, watchedKinds()...)
	backoff := 10 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		requeue, err := r.pass()
		if err != nil {
			r.log.Warn("reconcile pass failed; retrying", "err", err, "after", backoff)
			requeue = backoff
			backoff = min(backoff*2, 5*time.Second)
		} else {
			backoff = 10 * time.Millisecond
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if requeue > 0 {
			timer.Reset(requeue)
		}
	}
}

// pass reads a snapshot, plans and commits. It returns when to come back
// even if nothing changes.
func (r *Reconciler) pass() (time.Duration, error) {
	w, err := r.passWrites()
	return w.RequeueAfter, err
}

// passWrites is pass, returning what it committed.
func (r *Reconciler) passWrites() (Writes, error) {
	r.passMu.Lock() // queued events are stored between passes (events.go)
	defer r.passMu.Unlock()
	snap, err := r.snapshot()
	if err != nil {
		return Writes{}, err
	}
	w := PlanOptions(snap, r.clock(), r.ids, r.sched, r.opts)
	if !w.Empty() {
		if _, err := r.store.Apply(w.Puts, w.Deletes, nil); err != nil {
			return Writes{}, fmt.Errorf("commit %d writes, %d deletes: %w", len(w.Puts), len(w.Deletes), err)
		}
	}
	r.recordEvents(w.Events)
	if w.Empty() {
		return w, nil
	}
	r.log.Debug("reconciled", "writes", len(w.Puts), "deletes", len(w.Deletes))
	return w, nil
}

// recordEvents stores the events a pass planned, in the background (see
// eventRecorder; FlushEvents waits for them). An event that cannot be
// stored is logged and dropped: events are advisory.
func (r *Reconciler) recordEvents(evs []*corev1.Event) {
	r.events.add(evs)
}

func (r *Reconciler) snapshot() (Snapshot, error) {
	var s Snapshot
	var err error
	list := func(kind string, add func(manifest.Object)) {
		if err != nil {
			return
		}
		var objs []manifest.Object
		if objs, err = r.store.List(kind, ""); err != nil {
			err = fmt.Errorf("list %s: %w", kind, err)
			return
		}
		for _, o := range objs {
			add(o)
		}
	}
	list(manifest.KindNamespace, func(o manifest.Object) { s.Namespaces = append(s.Namespaces, o.(*corev1.Namespace)) })
	list(manifest.KindDeployment, func(o manifest.Object) { s.Deployments = append(s.Deployments, o.(*appsv1.Deployment)) })
	list(manifest.KindReplicaSet, func(o manifest.Object) { s.ReplicaSets = append(s.ReplicaSets, o.(*appsv1.ReplicaSet)) })
	list(manifest.KindPod, func(o manifest.Object) { s.Pods = append(s.Pods, o.(*corev1.Pod)) })
	list(manifest.KindConfigMap, func(o manifest.Object) { s.ConfigMaps = append(s.ConfigMaps, o.(*corev1.ConfigMap)) })
	list(manifest.KindSecret, func(o manifest.Object) { s.Secrets = append(s.Secrets, o.(*corev1.Secret)) })
	list(manifest.KindNode, func(o manifest.Object) { s.Nodes = append(s.Nodes, o.(*corev1.Node)) })
	list(manifest.KindService, func(o manifest.Object) { s.Services = append(s.Services, o.(*corev1.Service)) })
	list(manifest.KindEndpoints, func(o manifest.Object) { s.Endpoints = append(s.Endpoints, o.(*corev1.Endpoints)) })
	list(manifest.KindJob, func(o manifest.Object) { s.Jobs = append(s.Jobs, o.(*batchv1.Job)) })
	list(manifest.KindCronJob, func(o manifest.Object) { s.CronJobs = append(s.CronJobs, o.(*batchv1.CronJob)) })
	list(manifest.KindDaemonSet, func(o manifest.Object) { s.DaemonSets = append(s.DaemonSets, o.(*appsv1.DaemonSet)) })
	list(manifest.KindStatefulSet, func(o manifest.Object) { s.StatefulSets = append(s.StatefulSets, o.(*appsv1.StatefulSet)) })
	list(manifest.KindPersistentVolume, func(o manifest.Object) {
		s.PersistentVolumes = append(s.PersistentVolumes, o.(*corev1.PersistentVolume))
	})
	list(manifest.KindPersistentVolumeClaim, func(o manifest.Object) {
		s.PersistentVolumeClaims = append(s.PersistentVolumeClaims, o.(*corev1.PersistentVolumeClaim))
	})
	list(manifest.KindStorageClass, func(o manifest.Object) { s.StorageClasses = append(s.StorageClasses, o.(*storagev1.StorageClass)) })
	list(manifest.KindEndpointSlice, func(o manifest.Object) {
		s.EndpointSlices = append(s.EndpointSlices, o.(*discoveryv1.EndpointSlice))
	})
	list(manifest.KindResourceQuota, func(o manifest.Object) {
		s.ResourceQuotas = append(s.ResourceQuotas, o.(*corev1.ResourceQuota))
	})
	list(manifest.KindLimitRange, func(o manifest.Object) { s.LimitRanges = append(s.LimitRanges, o.(*corev1.LimitRange)) })
	list(manifest.KindPodDisruptionBudget, func(o manifest.Object) {
		s.PodDisruptionBudgets = append(s.PodDisruptionBudgets, o.(*policyv1.PodDisruptionBudget))
	})
	if err == nil {
		var leases []manifest.Object
		if leases, err = r.store.List(manifest.KindLease, corev1.NamespaceNodeLease); err != nil {
			err = fmt.Errorf("list %s: %w", manifest.KindLease, err)
		}
		for _, o := range leases {
			s.Leases = append(s.Leases, o.(*coordinationv1.Lease))
		}
	}
	return s, err
}

// BuiltinNamespaces exist in every cluster without being committed.
var BuiltinNamespaces = []string{metav1.NamespaceDefault, corev1.NamespaceNodeLease}

func (r *Reconciler) ensureBuiltins() error {
	existing, err := r.store.List(manifest.KindNamespace, "")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, ns := range existing {
		have[ns.GetName()] = true
	}
	puts, err := r.builtinStorageClass() // see volume.go
	if err != nil {
		return err
	}
	for _, name := range BuiltinNamespaces {
		if have[name] {
			continue
		}
		puts = append(puts, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{AnnotationBuiltin: "true"}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
	}
	if len(puts) == 0 {
		return nil
	}
	_, err = r.store.Apply(puts, nil, nil)
	return err
}

// watchedKinds are the kinds whose changes wake the control loop: all but
// Events, which the loop itself records, and Leases, renewed by every node
// every 2.5 s (planNodes requeues itself for when one would expire).
func watchedKinds() []string {
	var out []string
	for _, k := range manifest.Kinds() {
		if k != manifest.KindEvent && k != manifest.KindLease {
			out = append(out, k)
		}
	}
	return out
}
