package reconciler

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ReasonFailedCreate is the event reason and ReplicaFailure condition
// reason of a controller whose pod was refused, as in Kubernetes.
const ReasonFailedCreate = "FailedCreate"

// admitNewPods runs over the pods this pass creates what Kubernetes' API
// server runs when a controller creates a pod: the LimitRanger (defaults
// from the namespace's LimitRanges filled in, then their min, max and
// maxLimitRequestRatio checked) and the ResourceQuota admission (the pod
// refused when it would take a quota of its namespace over spec.hard). A
// refused pod is not created: its owner gets a Warning event FailedCreate
// "Error creating: pods "<generateName>" is forbidden: ..." and, for a
// ReplicaSet, a ReplicaFailure condition, removed again once a pass refuses
// none of its pods. Every quota's status (hard, used) is kept current.
func admitNewPods(w *Writes, ix *index, now time.Time) {
	s := ix.snap
	if len(s.ResourceQuotas) == 0 && len(s.LimitRanges) == 0 && !anyReplicaFailure(ix) {
		return
	}
	deleted := map[string]bool{}
	for _, d := range w.Deletes {
		deleted[string(d.GetUID())] = true
	}
	limits := limitsByNamespace(s.LimitRanges)
	quotas := quotasByNamespace(s, deleted, now)
	failed := map[types.UID]string{}
	var owners map[types.UID]manifest.Object
	kept := ix.newPods[:0]
	for _, p := range ix.newPods {
		msg := admitResources(p, limits[p.Namespace], quotas[p.Namespace])
		if msg == "" {
			kept = append(kept, p)
			continue
		}
		ref := controllerOf(p.OwnerReferences)
		if ref == nil {
			continue
		}
		if owners == nil {
			owners = ownerIndex(ix)
		}
		if _, seen := failed[ref.UID]; !seen {
			failed[ref.UID] = msg
			if owner := owners[ref.UID]; owner != nil {
				w.Events = append(w.Events, manifest.NewEvent(owner, corev1.EventTypeWarning, ReasonFailedCreate,
					"Error creating: "+msg, controllerComponent(ref.Kind), "", now))
			}
		}
	}
	clear(ix.newPods[len(kept):])
	ix.newPods = kept
	writeQuotaStatus(w, quotas)
	markReplicaFailures(w, ix, failed, now)
}

// nsLimits are a namespace's LimitRanges, sorted by name, with the
// container defaults of each (after the API server's defaulting) worked out
// once a pass.
type nsLimits struct {
	ranges   []*corev1.LimitRange
	defaults []limitDefaults
	items    []limitItem
}

// limitItem is one LimitRange item with its resource names sorted.
type limitItem struct {
	item            *corev1.LimitRangeItem
	min, max, ratio []corev1.ResourceName
}

type limitDefaults struct{ limits, requests corev1.ResourceList }

func limitsByNamespace(all []*corev1.LimitRange) map[string]*nsLimits {
	out := map[string]*nsLimits{}
	lrs := slices.Clone(all)
	sort.Slice(lrs, func(i, j int) bool { return lrs[i].Name < lrs[j].Name })
	for _, lr := range lrs {
		l := out[lr.Namespace]
		if l == nil {
			l = &nsLimits{}
			out[lr.Namespace] = l
		}
		l.ranges = append(l.ranges, lr)
		for i := range lr.Spec.Limits {
			item := &lr.Spec.Limits[i]
			if item.Type == corev1.LimitTypeContainer {
				lim, req := containerDefaults(*item)
				l.defaults = append(l.defaults, limitDefaults{lim, req})
			}
			l.items = append(l.items, limitItem{item: item, min: sortedResourceNames(item.Min),
				max: sortedResourceNames(item.Max), ratio: sortedResourceNames(item.MaxLimitRequestRatio)})
		}
	}
	return out
}

// admitResources fills in the LimitRange defaults of p (in place), then
// checks p against the namespace's LimitRanges and quotas, counting it
// against the quotas when it is admitted. It returns "" or Kubernetes'
// refusal: pods "<name>" is forbidden: <reason>.
func admitResources(p *corev1.Pod, limits *nsLimits, quotas []*quotaState) string {
	name := p.GenerateName
	if name == "" {
		name = p.Name
	}
	if limits != nil {
		defaultRequestsFromLimits(&p.Spec)
		for _, d := range limits.defaults {
			applyLimitRangeDefaults(&p.Spec, d)
		}
		p.Status.QOSClass = qosClass(&p.Spec)
		errs := limitRangeErrors(&p.Spec, limits.items)
		switch len(errs) {
		case 0:
		case 1:
			return fmt.Sprintf("pods %q is forbidden: %s", name, errs[0])
		default:
			return fmt.Sprintf("pods %q is forbidden: [%s]", name, strings.Join(errs, ", "))
		}
	}
	if len(quotas) == 0 {
		return ""
	}
	u := PodUsage(p)
	for _, q := range quotas {
		if msg := q.admit(p, u); msg != "" {
			return fmt.Sprintf("pods %q is forbidden: %s", name, msg)
		}
	}
	for _, q := range quotas {
		q.add(u)
	}
	return ""
}

// defaultRequestsFromLimits sets a container's missing requests to its
// limits, as the API server's defaulting does before admission.
func defaultRequestsFromLimits(spec *corev1.PodSpec) {
	for _, cs := range []([]corev1.Container){spec.InitContainers, spec.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			for name, lim := range r.Limits {
				if _, ok := r.Requests[name]; ok {
					continue
				}
				r.Requests = cloneList(r.Requests)
				r.Requests[name] = lim.DeepCopy()
			}
		}
	}
}

// containerDefaults returns a Container item's default limits and requests
// after the API server's LimitRange defaulting: default from max when
// unset, defaultRequest from default, then from min.
func containerDefaults(item corev1.LimitRangeItem) (limits, requests corev1.ResourceList) {
	limits, requests = corev1.ResourceList{}, corev1.ResourceList{}
	for k, v := range item.Default {
		limits[k] = v.DeepCopy()
	}
	for k, v := range item.DefaultRequest {
		requests[k] = v.DeepCopy()
	}
	for k, v := range item.Max {
		if _, ok := limits[k]; !ok {
			limits[k] = v.DeepCopy()
		}
	}
	for k, v := range limits {
		if _, ok := requests[k]; !ok {
			requests[k] = v.DeepCopy()
		}
	}
	for k, v := range item.Min {
		if _, ok := requests[k]; !ok {
			requests[k] = v.DeepCopy()
		}
	}
	return limits, requests
}

// applyLimitRangeDefaults fills in each container's missing requests and
// limits from one Container item's defaults.
func applyLimitRangeDefaults(spec *corev1.PodSpec, d limitDefaults) {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			cloned := false
			for name, v := range d.limits {
				if _, ok := r.Limits[name]; !ok {
					if !cloned {
						r.Limits, cloned = cloneList(r.Limits), true
					}
					r.Limits[name] = v.DeepCopy()
				}
			}
			cloned = false
			for name, v := range d.requests {
				if _, ok := r.Requests[name]; !ok {
					if !cloned {
						r.Requests, cloned = cloneList(r.Requests), true
					}
					r.Requests[name] = v.DeepCopy()
				}
			}
		}
	}
}

func cloneList(l corev1.ResourceList) corev1.ResourceList {
	out := make(corev1.ResourceList, len(l)+2)
	for k, v := range l {
		out[k] = v.DeepCopy()
	}
	return out
}

// limitRangeErrors checks spec against the items' min, max and
// maxLimitRequestRatio, per container (type Container) and for the pod's
// sums (type Pod), with Kubernetes' messages.
func limitRangeErrors(spec *corev1.PodSpec, items []limitItem) []string {
	var errs []string
	for _, item := range items {
		switch item.item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
				for _, c := range cs {
					errs = append(errs, itemErrors(item, string(corev1.LimitTypeContainer), c.Resources.Requests, c.Resources.Limits)...)
				}
			}
		case corev1.LimitTypePod:
			req, lim := corev1.ResourceList{}, corev1.ResourceList{}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if anyContainerSets(spec, r, false) {
					req[r] = podResource(spec, r, false)
				}
				if anyContainerSets(spec, r, true) {
					lim[r] = podResource(spec, r, true)
				}
			}
			errs = append(errs, itemErrors(item, string(corev1.LimitTypePod), req, lim)...)
		}
	}
	return errs
}

func anyContainerSets(spec *corev1.PodSpec, r corev1.ResourceName, limit bool) bool {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			l := c.Resources.Requests
			if limit {
				l = c.Resources.Limits
			}
			if _, ok := l[r]; ok {
				return true
			}
		}
	}
	return false
}

// value is the quantity compared as Kubernetes' LimitRanger does: in
// thousandths for cpu, whole units otherwise.
func value(r corev1.ResourceName, q resource.Quantity) int64 {
	if r == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func itemErrors(li limitItem, typ string, req, lim corev1.ResourceList) []string {
	var errs []string
	item := li.item
	for _, r := range li.min {
		enforced := item.Min[r]
		rq, hasReq := req[r]
		lm, hasLim := lim[r]
		switch {
		case !hasReq:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", r, typ, enforced.String()))
		case value(r, rq) < value(r, enforced):
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", r, typ, enforced.String(), rq.String()))
		case hasLim && value(r, lm) < value(r, enforced):
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", r, typ, enforced.String(), lm.String()))
		}
	}
	for _, r := range li.max {
		enforced := item.Max[r]
		rq, hasReq := req[r]
		lm, hasLim := lim[r]
		switch {
		case !hasLim:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", r, typ, enforced.String()))
		case value(r, lm) > value(r, enforced):
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", r, typ, enforced.String(), lm.String()))
		case hasReq && value(r, rq) > value(r, enforced):
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", r, typ, enforced.String(), rq.String()))
		}
	}
	for _, r := range li.ratio {
		enforced := item.MaxLimitRequestRatio[r]
		rq, hasReq := req[r]
		lm, hasLim := lim[r]
		switch {
		case !hasReq || value(r, rq) == 0:
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", r, typ, enforced.String()))
		case !hasLim || value(r, lm) == 0:
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", r, typ, enforced.String()))
		default:
			ratio := float64(value(r, lm)) / float64(value(r, rq))
			if ratio*1000 > float64(enforced.MilliValue()) {
				errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", r, typ, enforced.String(), ratio))
			}
		}
	}
	return errs
}

// ownerIndex maps the UIDs of the controllers that create pods to them.
func ownerIndex(ix *index) map[types.UID]manifest.Object {
	out := map[types.UID]manifest.Object{}
	for _, rs := range ix.allReplicaSets() {
		out[rs.UID] = rs
	}
	for _, j := range ix.allJobs() {
		out[j.UID] = j
	}
	for _, ds := range ix.snap.DaemonSets {
		out[ds.UID] = ds
	}
	for _, sts := range ix.snap.StatefulSets {
		out[sts.UID] = sts
	}
	return out
}

// controllerComponent names the Kubernetes controller that reports events
// for pods of an owner kind.
func controllerComponent(kind string) string {
	switch kind {
	case manifest.KindReplicaSet:
		return "replicaset-controller"
	case manifest.KindJob:
		return "job-controller"
	case manifest.KindDaemonSet:
		return "daemonset-controller"
	case manifest.KindStatefulSet:
		return "statefulset-controller"
	}
	return "tug-controller"
}

func anyReplicaFailure(ix *index) bool {
	for _, rs := range ix.snap.ReplicaSets {
		if replicaFailure(rs) != nil {
			return true
		}
	}
	return false
}

func replicaFailure(rs *appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for i := range rs.Status.Conditions {
		if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &rs.Status.Conditions[i]
		}
	}
	return nil
}

// markReplicaFailures sets the ReplicaFailure condition of each ReplicaSet
// with a refused pod (failed: by UID) and removes it from the others.
func markReplicaFailures(w *Writes, ix *index, failed map[types.UID]string, now time.Time) {
	for _, rs := range ix.allReplicaSets() {
		msg, isFailed := failed[rs.UID]
		cur := replicaFailure(rs)
		var u *appsv1.ReplicaSet
		switch {
		case isFailed && (cur == nil || cur.Status != corev1.ConditionTrue || cur.Reason != ReasonFailedCreate || cur.Message != msg):
			u = rs.DeepCopy()
			cond := appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(now), Reason: ReasonFailedCreate, Message: msg}
			if cur != nil && cur.Status == corev1.ConditionTrue {
				cond.LastTransitionTime = cur.LastTransitionTime
			}
			u.Status.Conditions = slices.DeleteFunc(u.Status.Conditions, func(c appsv1.ReplicaSetCondition) bool {
				return c.Type == appsv1.ReplicaSetReplicaFailure
			})
			u.Status.Conditions = append(u.Status.Conditions, cond)
		case !isFailed && cur != nil:
			u = rs.DeepCopy()
			u.Status.Conditions = slices.DeleteFunc(u.Status.Conditions, func(c appsv1.ReplicaSetCondition) bool {
				return c.Type == appsv1.ReplicaSetReplicaFailure
			})
		default:
			continue
		}
		if _, isNew := ix.updated[rs.UID]; isNew || rs.ResourceVersion == "" {
			w.replace(u)
		} else {
			w.put(u)
		}
		ix.updated[u.UID] = u
	}
}
