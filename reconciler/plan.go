package reconciler

import (
	"sort"
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
)

// Snapshot is the observed state one pass of the control loop plans from.
type Snapshot struct {
	Namespaces   []*corev1.Namespace
	Deployments  []*appsv1.Deployment
	ReplicaSets  []*appsv1.ReplicaSet
	Pods         []*corev1.Pod
	ConfigMaps   []*corev1.ConfigMap
	Secrets      []*corev1.Secret
	Nodes        []*corev1.Node
	Services     []*corev1.Service
	Endpoints    []*corev1.Endpoints
	Jobs         []*batchv1.Job
	CronJobs     []*batchv1.CronJob
	DaemonSets   []*appsv1.DaemonSet
	StatefulSets []*appsv1.StatefulSet
	// Storage (volume.go).
	PersistentVolumes      []*corev1.PersistentVolume
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	StorageClasses         []*storagev1.StorageClass
	// EndpointSlices are those tug wrote (see endpointslice.go).
	EndpointSlices []*discoveryv1.EndpointSlice
	// ResourceQuotas and LimitRanges are committed to namespaces and
	// enforced when pods are created (admission.go).
	ResourceQuotas []*corev1.ResourceQuota
	LimitRanges    []*corev1.LimitRange
	// PodDisruptionBudgets gate drains; the reconciler keeps their status
	// (pdb.go, drain.go).
	PodDisruptionBudgets []*policyv1.PodDisruptionBudget
	// Leases are the node agents' heartbeats in kube-node-lease (node.go).
	Leases []*coordinationv1.Lease
}

// IDs hands out the random parts of new objects, so planning stays a pure
// function of its inputs.
type IDs interface {
	UID() types.UID
	// Suffix returns a random name suffix (5 characters, as Kubernetes).
	Suffix() string
}

// Writes is what one pass commits.
type Writes struct {
	Puts    []manifest.Object // creates and updates; updates carry the resource version they were read at
	Deletes []manifest.Object // by UID
	// RequeueAfter asks for another pass after this long even if nothing changes.
	RequeueAfter time.Duration
	// Events are recorded after the writes commit (Store.RecordEvent); they
	// do not make a pass non-empty.
	Events []*corev1.Event

	pos map[types.UID]int // index in Puts by UID
}

// Empty reports whether the pass has nothing to write.
func (w Writes) Empty() bool { return len(w.Puts) == 0 && len(w.Deletes) == 0 }

func (w *Writes) put(o manifest.Object) {
	if w.pos == nil {
		w.pos = map[types.UID]int{}
	}
	if uid := o.GetUID(); uid != "" {
		w.pos[uid] = len(w.Puts)
	}
	w.Puts = append(w.Puts, o)
}

func (w *Writes) requeue(d time.Duration) {
	if d > 0 && (w.RequeueAfter == 0 || d < w.RequeueAfter) {
		w.RequeueAfter = d
	}
}

// Plan runs every controller and the scheduler over one snapshot, with the
// default Options.
func Plan(s Snapshot, now time.Time, ids IDs, sched Scheduler) Writes {
	return PlanOptions(s, now, ids, sched, Options{})
}

// PlanOptions is Plan with options.
func PlanOptions(s Snapshot, now time.Time, ids IDs, sched Scheduler, opts Options) Writes {
	opts = opts.withDefaults()
	var w Writes
	s, gone := removeNamespaces(s) // see namespace.go
	ix := newIndex(s)

	// Node lifecycle first: evicted pods are replaced in this same pass.
	planNodes(&w, ix, now, opts)
	planPodCIDRs(&w, ix, opts) // see podcidr.go
	drainNodes(&w, ix, now)    // cordoned nodes, through PodDisruptionBudgets: drain.go

	// CronJobs own Jobs, Jobs own pods. Jobs created above are planned too.
	for _, cj := range s.CronJobs {
		planCronJob(&w, cj, ix, now, ids)
	}
	deletedJobs := map[types.UID]bool{} // Replace and history limits
	for _, d := range w.Deletes {
		deletedJobs[d.GetUID()] = true
	}
	for _, job := range ix.allJobs() {
		if !deletedJobs[job.UID] {
			planJob(&w, job, ix, now, ids)
		}
	}
	for _, ds := range s.DaemonSets {
		planDaemonSet(&w, ds, ix, now, ids)
	}
	for _, sts := range s.StatefulSets {
		planStatefulSet(&w, sts, ix, now, ids)
	}
	// Deployments own ReplicaSets.
	for _, d := range s.Deployments {
		planDeployment(&w, d, ix, now, ids)
	}
	// ReplicaSets own pods. ReplicaSets created above are planned too.
	for _, rs := range ix.allReplicaSets() {
		planReplicaSet(&w, rs, ix, now, ids)
	}
	collectGarbage(&w, ix, now)
	admitNewPods(&w, ix, now) // LimitRanges and ResourceQuotas: see admission.go
	for _, p := range ix.newPods {
		admitPod(p, opts.DefaultTolerationSeconds)
	}
	schedule(&w, ix, sched, now)
	planVolumes(&w, ix, now, ids, opts) // see volume.go
	planStorageProtection(&w, ix)       // see protection.go
	planEndpoints(&w, ix, ids)
	planDisruptionBudgets(&w, ix, now) // see pdb.go
	sweepNamespaces(&w, s, gone, now)
	return w
}

// index groups a snapshot by owner and keeps track of the objects a pass
// creates, so later controllers in the same pass see them.
type index struct {
	snap       Snapshot
	rsByOwner  map[types.UID][]*appsv1.ReplicaSet
	podByOwner map[types.UID][]*corev1.Pod
	created    []*appsv1.ReplicaSet
	jobs       []*batchv1.Job // created in this pass
	jobByOwner map[types.UID][]*batchv1.Job
	newPods    []*corev1.Pod
	updated    map[types.UID]manifest.Object // latest planned version of an existing object
	configMaps map[string]map[string]*corev1.ConfigMap
	secrets    map[string]map[string]*corev1.Secret
	vol        *volumeIndex // claims, volumes and classes; see volumes()
	// unreachable holds the nodes whose Ready condition is Unknown after
	// planNodes: silent past the grace period. See reachablePods.
	unreachable map[string]bool
}

func newIndex(s Snapshot) *index {
	ix := &index{
		snap:       s,
		rsByOwner:  map[types.UID][]*appsv1.ReplicaSet{},
		podByOwner: map[types.UID][]*corev1.Pod{},
		jobByOwner: map[types.UID][]*batchv1.Job{},
		updated:    map[types.UID]manifest.Object{},
		configMaps: map[string]map[string]*corev1.ConfigMap{},
		secrets:    map[string]map[string]*corev1.Secret{},
	}
	for _, rs := range s.ReplicaSets {
		if ref := controllerOf(rs.OwnerReferences); ref != nil {
			ix.rsByOwner[ref.UID] = append(ix.rsByOwner[ref.UID], rs)
		}
	}
	for _, j := range s.Jobs {
		if ref := controllerOf(j.OwnerReferences); ref != nil {
			ix.jobByOwner[ref.UID] = append(ix.jobByOwner[ref.UID], j)
		}
	}
	for _, p := range s.Pods {
		if ref := controllerOf(p.OwnerReferences); ref != nil {
			ix.podByOwner[ref.UID] = append(ix.podByOwner[ref.UID], p)
		}
	}
	for _, cm := range s.ConfigMaps {
		if ix.configMaps[cm.Namespace] == nil {
			ix.configMaps[cm.Namespace] = map[string]*corev1.ConfigMap{}
		}
		ix.configMaps[cm.Namespace][cm.Name] = cm
	}
	for _, sec := range s.Secrets {
		if ix.secrets[sec.Namespace] == nil {
			ix.secrets[sec.Namespace] = map[string]*corev1.Secret{}
		}
		ix.secrets[sec.Namespace][sec.Name] = sec
	}
	return ix
}

func (ix *index) allReplicaSets() []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(ix.snap.ReplicaSets)+len(ix.created))
	for _, rs := range ix.snap.ReplicaSets {
		if u, ok := ix.updated[rs.UID].(*appsv1.ReplicaSet); ok {
			rs = u
		}
		out = append(out, rs)
	}
	out = append(out, ix.created...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// allJobs returns the stored Jobs and those created in this pass, sorted.
func (ix *index) allJobs() []*batchv1.Job {
	out := make([]*batchv1.Job, 0, len(ix.snap.Jobs)+len(ix.jobs))
	out = append(out, ix.snap.Jobs...)
	out = append(out, ix.jobs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// replace swaps an earlier put of the same object (by UID) for o, or appends it.
func (w *Writes) replace(o manifest.Object) {
	if i, ok := w.pos[o.GetUID()]; ok && o.GetUID() != "" {
		w.Puts[i] = o
		return
	}
	w.put(o)
}
