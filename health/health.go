package health

import (
	"fmt"
	"sort"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Status is an object's health, as Argo CD names it.
type Status string

// Health statuses, from best to worst (the order Rollup uses).
const (
	Healthy     Status = "Healthy"
	Suspended   Status = "Suspended"
	Progressing Status = "Progressing"
	Missing     Status = "Missing"
	Degraded    Status = "Degraded"
)

var rank = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Missing: 3, Degraded: 4}

// Worse reports whether a is worse than b.
func Worse(a, b Status) bool { return rank[a] > rank[b] }

// Result is the health of one object.
type Result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    Status `json:"status"`
	// Reason is a CamelCase word ("ProgressDeadlineExceeded",
	// "FailedCreate", "CrashLoopBackOff"), when there is one.
	Reason string `json:"reason,omitempty"`
	// Message says what the object waits for or what went wrong.
	Message string `json:"message,omitempty"`
}

// Key returns the result's object key.
func (r Result) Key() manifest.Key {
	return manifest.Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// Summary is the health of every Git object, rolled up.
type Summary struct {
	// Status is the worst status of any object (Healthy when there are none).
	Status Status `json:"status"`
	// Counts counts objects per status.
	Counts map[Status]int `json:"counts"`
	// Objects are the results of every Git object, sorted by kind,
	// namespace and name.
	Objects []Result `json:"objects"`
}

// Unhealthy returns the results that are not Healthy, worst first.
func (s Summary) Unhealthy() []Result {
	var out []Result
	for _, r := range s.Objects {
		if r.Status != Healthy {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return Worse(out[i].Status, out[j].Status) })
	return out
}

// Evaluate computes the health of the Git objects among objs (those with
// the tug.dev/source annotation), looking at the other objects (the
// ReplicaSets of a Deployment) where a controller's own status does not
// say why it waits. Each key in desired that no stored object has is
// Missing. The result is rolled up into one status.
func Evaluate(objs []manifest.Object, desired []manifest.Key) Summary {
	ix := newIndex(objs)
	s := Summary{Status: Healthy, Counts: map[Status]int{}}
	have := map[manifest.Key]bool{}
	for _, o := range objs {
		if _, fromGit := o.GetAnnotations()[manifest.SourceAnnotation]; !fromGit {
			continue
		}
		key := manifest.KeyOf(o)
		have[key] = true
		r := ix.of(o)
		s.Objects = append(s.Objects, r)
	}
	for _, k := range desired {
		if !have[k] {
			s.Objects = append(s.Objects, Result{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Status: Missing,
				Message: "the commit in force has it but the cluster does not"})
		}
	}
	sort.Slice(s.Objects, func(i, j int) bool {
		return s.Objects[i].Key().String() < s.Objects[j].Key().String()
	})
	for _, r := range s.Objects {
		s.Counts[r.Status]++
		if Worse(r.Status, s.Status) {
			s.Status = r.Status
		}
	}
	return s
}

// Of returns the health of one object on its own.
func Of(o manifest.Object) Result { return newIndex(nil).of(o) }

type index struct {
	rsByOwner map[types.UID][]*appsv1.ReplicaSet
}

func newIndex(objs []manifest.Object) *index {
	ix := &index{rsByOwner: map[types.UID][]*appsv1.ReplicaSet{}}
	for _, o := range objs {
		if rs, ok := o.(*appsv1.ReplicaSet); ok {
			if ref := metav1.GetControllerOf(rs); ref != nil {
				ix.rsByOwner[ref.UID] = append(ix.rsByOwner[ref.UID], rs)
			}
		}
	}
	return ix
}

func (ix *index) of(o manifest.Object) Result {
	r := Result{Kind: manifest.KindOf(o), Namespace: o.GetNamespace(), Name: o.GetName(), Status: Healthy}
	var st Status
	switch obj := o.(type) {
	case *appsv1.Deployment:
		st, r.Reason, r.Message = ix.deployment(obj)
	case *appsv1.ReplicaSet:
		st, r.Reason, r.Message = replicaSet(obj)
	case *appsv1.StatefulSet:
		st, r.Reason, r.Message = statefulSet(obj)
	case *appsv1.DaemonSet:
		st, r.Reason, r.Message = daemonSet(obj)
	case *batchv1.Job:
		st, r.Reason, r.Message = job(obj)
	case *batchv1.CronJob:
		st, r.Reason, r.Message = cronJob(obj)
	case *corev1.PersistentVolumeClaim:
		st, r.Reason, r.Message = pvc(obj)
	case *corev1.Pod:
		st, r.Reason, r.Message = pod(obj)
	case *corev1.Namespace:
		if obj.Status.Phase == corev1.NamespaceTerminating {
			st, r.Message = Progressing, "namespace is terminating"
		}
	}
	if st != "" {
		r.Status = st
	}
	return r
}

// deployment follows Argo CD's check (and kubectl rollout status), and
// names the reason a ReplicaSet of the Deployment cannot create pods.
func (ix *index) deployment(d *appsv1.Deployment) (Status, string, string) {
	if d.Spec.Paused {
		return Suspended, "Paused", "Deployment is paused"
	}
	if d.Generation > d.Status.ObservedGeneration {
		return Progressing, "", "Waiting for rollout to finish: observed deployment generation less than desired generation"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			msg := c.Message
			if msg == "" {
				msg = fmt.Sprintf("Deployment %q exceeded its progress deadline", d.Name)
			}
			return Degraded, c.Reason, msg
		}
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	var st Status
	var msg string
	switch {
	case d.Status.UpdatedReplicas < replicas:
		st, msg = Progressing, fmt.Sprintf("Waiting for rollout to finish: %d out of %d new replicas have been updated...", d.Status.UpdatedReplicas, replicas)
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		st, msg = Progressing, fmt.Sprintf("Waiting for rollout to finish: %d old replicas are pending termination...", d.Status.Replicas-d.Status.UpdatedReplicas)
	case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
		st, msg = Progressing, fmt.Sprintf("Waiting for rollout to finish: %d of %d updated replicas are available...", d.Status.AvailableReplicas, d.Status.UpdatedReplicas)
	default:
		return Healthy, "", ""
	}
	for _, rs := range ix.rsByOwner[d.UID] {
		if c := rsFailure(rs); c != nil {
			return st, c.Reason, c.Message
		}
	}
	return st, "", msg
}

func rsFailure(rs *appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for i, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			return &rs.Status.Conditions[i]
		}
	}
	return nil
}

func replicaSet(rs *appsv1.ReplicaSet) (Status, string, string) {
	if rs.Generation > rs.Status.ObservedGeneration {
		return Progressing, "", "Waiting for rollout to finish: observed replica set generation less than desired generation"
	}
	if c := rsFailure(rs); c != nil {
		return Degraded, c.Reason, c.Message
	}
	if replicas := ptr.Deref(rs.Spec.Replicas, 1); rs.Status.AvailableReplicas < replicas {
		return Progressing, "", fmt.Sprintf("Waiting for rollout to finish: %d out of %d new replicas are available...", rs.Status.AvailableReplicas, replicas)
	}
	return Healthy, "", ""
}

func statefulSet(sts *appsv1.StatefulSet) (Status, string, string) {
	if sts.Status.ObservedGeneration == 0 || sts.Generation > sts.Status.ObservedGeneration {
		return Progressing, "", "Waiting for statefulset spec update to be observed..."
	}
	replicas := ptr.Deref(sts.Spec.Replicas, 1)
	if sts.Status.ReadyReplicas < replicas {
		return Progressing, "", fmt.Sprintf("Waiting for %d pods to be ready...", replicas-sts.Status.ReadyReplicas)
	}
	if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return Healthy, "", ""
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ptr.Deref(ru.Partition, 0) > 0 {
		if want := replicas - *ru.Partition; sts.Status.UpdatedReplicas < want {
			return Progressing, "", fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", sts.Status.UpdatedReplicas, want)
		}
		return Healthy, "", ""
	}
	if sts.Status.UpdateRevision != sts.Status.CurrentRevision {
		return Progressing, "", fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", sts.Status.UpdatedReplicas, sts.Status.UpdateRevision)
	}
	return Healthy, "", ""
}

func daemonSet(ds *appsv1.DaemonSet) (Status, string, string) {
	if ds.Generation > ds.Status.ObservedGeneration {
		return Progressing, "", "Waiting for rollout to finish: observed daemon set generation less than desired generation"
	}
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return Healthy, "", ""
	}
	if ds.Status.UpdatedNumberScheduled < ds.Status.DesiredNumberScheduled {
		return Progressing, "", fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", ds.Name, ds.Status.UpdatedNumberScheduled, ds.Status.DesiredNumberScheduled)
	}
	if ds.Status.NumberAvailable < ds.Status.DesiredNumberScheduled {
		return Progressing, "", fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", ds.Name, ds.Status.NumberAvailable, ds.Status.DesiredNumberScheduled)
	}
	return Healthy, "", ""
}

func job(j *batchv1.Job) (Status, string, string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed:
			return Degraded, c.Reason, c.Message
		case batchv1.JobComplete:
			return Healthy, "", ""
		}
	}
	if ptr.Deref(j.Spec.Suspend, false) {
		return Suspended, "Suspended", "Job is suspended"
	}
	return Progressing, "", "Job is running"
}

func cronJob(cj *batchv1.CronJob) (Status, string, string) {
	if ptr.Deref(cj.Spec.Suspend, false) {
		return Suspended, "Suspended", "CronJob is suspended"
	}
	last, ok := cj.Status.LastScheduleTime, cj.Status.LastSuccessfulTime
	if last != nil && len(cj.Status.Active) == 0 && (ok == nil || ok.Before(last)) {
		return Degraded, "", "CronJob has not completed its last execution successfully"
	}
	return Healthy, "", ""
}

func pvc(c *corev1.PersistentVolumeClaim) (Status, string, string) {
	switch c.Status.Phase {
	case corev1.ClaimLost:
		return Degraded, "Lost", "the claim lost its volume"
	case corev1.ClaimBound:
		return Healthy, "", ""
	}
	return Progressing, "Pending", "Waiting for the claim to be bound"
}

// pod follows Argo CD: waiting containers in a back-off or with a bad image
// are Degraded, a failed pod is Degraded, a running pod Healthy once ready.
func pod(p *corev1.Pod) (Status, string, string) {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName", "CreateContainerError":
				return Degraded, w.Reason, w.Message
			}
		}
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return Healthy, "", p.Status.Message
	case corev1.PodFailed:
		return Degraded, p.Status.Reason, p.Status.Message
	case corev1.PodRunning:
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return Healthy, "", ""
			}
		}
		return Progressing, "", "Waiting for the pod to be ready"
	}
	return Progressing, "", p.Status.Message
}
