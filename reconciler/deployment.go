package reconciler

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Kubernetes' defaults for the Deployment fields a manifest leaves out.
const (
	defaultRevisionHistoryLimit    = 10
	defaultProgressDeadlineSeconds = 600
)

// Annotations and reasons Kubernetes uses on Deployments and ReplicaSets.
const (
	annotationRSRevision        = "deployment.kubernetes.io/revision"
	annotationDesiredReplicas   = "deployment.kubernetes.io/desired-replicas"
	annotationMaxReplicas       = "deployment.kubernetes.io/max-replicas"
	reasonNewRSCreated          = "NewReplicaSetCreated"
	reasonFoundNewRS            = "FoundNewReplicaSet"
	reasonRSUpdated             = "ReplicaSetUpdated"
	reasonNewRSAvailable        = "NewReplicaSetAvailable"
	reasonTimedOut              = "ProgressDeadlineExceeded"
	reasonPaused                = "DeploymentPaused"
	reasonResumed               = "DeploymentResumed"
	reasonMinimumReplicasAvail  = "MinimumReplicasAvailable"
	reasonMinimumReplicasUnavai = "MinimumReplicasUnavailable"
)

// deploymentRollout is one pass of the Deployment controller over one
// Deployment: its ReplicaSets split into the one for the current template
// (newRS, nil until created) and the others, with the available pods of each
// computed from the pods themselves.
type deploymentRollout struct {
	d        *appsv1.Deployment
	ix       *index
	w        *Writes
	now      time.Time
	replicas int32
	newRS    *appsv1.ReplicaSet
	old      []*appsv1.ReplicaSet // oldest first
	created  bool                 // newRS created in this pass
	found    bool                 // newRS existed but was not the active one (a revert)
}

// planDeployment runs the Deployment controller as Kubernetes does:
//
//   - RollingUpdate scales the new ReplicaSet up while the total of all
//     ReplicaSets' replicas stays within replicas+maxSurge, and the old ones
//     down while the available pods stay at least replicas−maxUnavailable
//     (surge rounds up, unavailability down; unhealthy old pods go first);
//   - Recreate scales the old ReplicaSets to zero and creates or scales up
//     the new one once none of their pods runs;
//   - a pod counts as available once Ready for minReadySeconds;
//   - a rollout that makes no progress for progressDeadlineSeconds gets
//     Progressing=False with reason ProgressDeadlineExceeded and stops where
//     it is: old pods keep serving until a new template is committed;
//   - a change of replicas (and any pass while paused) scales the
//     ReplicaSets in proportion instead of advancing the rollout (scale);
//     paused Deployments create no ReplicaSet;
//   - scaled-down old ReplicaSets beyond revisionHistoryLimit are deleted,
//     oldest first.
//
// The ReplicaSet of a template is named <deployment>-<template-hash>, so a
// commit that reverts a template finds its old ReplicaSet and scales it back
// up instead of creating another.
func planDeployment(w *Writes, d *appsv1.Deployment, ix *index, now time.Time, ids IDs) {
	r := &deploymentRollout{d: d, ix: ix, w: w, now: now, replicas: ptr.Deref(d.Spec.Replicas, 1)}
	tmpl := effectiveTemplate(d, configs{ix.configMaps, ix.secrets})
	hash := TemplateHash(tmpl)
	name := d.Name + "-" + hash
	for _, rs := range ix.rsByOwner[d.UID] {
		if rs.Name == name {
			r.newRS = rs
		} else {
			r.old = append(r.old, rs)
		}
	}
	sort.SliceStable(r.old, func(i, j int) bool {
		a, b := r.old[i], r.old[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	if r.newRS != nil && rsRevision(r.newRS) < r.maxOldRevision() {
		r.found = true // an older template back in force
	}

	timedOut := r.timedOut()
	switch {
	case d.Spec.Paused || r.isScalingEvent():
		r.scale()
	case timedOut:
		// Stalled: leave every ReplicaSet where it is.
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		r.ensureNewRS(tmpl, name, hash, ids, 0)
		r.rolloutRecreate()
	default:
		r.ensureNewRS(tmpl, name, hash, ids, -1)
		if !r.reconcileNewRS() {
			r.reconcileOldRSs()
		}
	}
	if r.newRS != nil && !d.Spec.Paused {
		r.syncNewRSMeta()
	}
	r.pruneHistory()
	r.updateStatus()
}

// ensureNewRS creates the ReplicaSet of the current template when missing,
// with replicas (or, when replicas < 0, as many as the surge allows), or
// stamps a found old one with the next revision.
func (r *deploymentRollout) ensureNewRS(tmpl *corev1.PodTemplateSpec, name, hash string, ids IDs, replicas int32) {
	next := strconv.FormatInt(r.maxOldRevision()+1, 10)
	if r.newRS != nil {
		if r.found {
			rs := r.newRS.DeepCopy()
			rs.Annotations[annotationRSRevision] = next
			r.setRS(rs)
		}
		return
	}
	if replicas < 0 {
		replicas = r.newReplicasCount(0)
	}
	rs := newReplicaSet(r.d, tmpl, name, hash, replicas, ids)
	rs.Annotations[annotationRSRevision] = next
	rs.CreationTimestamp = metav1.NewTime(r.now)
	r.ix.created = append(r.ix.created, rs)
	r.w.put(rs)
	r.newRS = rs
	r.created = true
}

// syncNewRSMeta keeps the new ReplicaSet's minReadySeconds in step with
// the Deployment.
func (r *deploymentRollout) syncNewRSMeta() {
	if r.newRS.Spec.MinReadySeconds == r.d.Spec.MinReadySeconds {
		return
	}
	u := r.newRS.DeepCopy()
	u.Spec.MinReadySeconds = r.d.Spec.MinReadySeconds
	r.setRS(u)
}

// setRS records an updated ReplicaSet, replacing an earlier write of it in
// this pass.
func (r *deploymentRollout) setRS(rs *appsv1.ReplicaSet) {
	if r.created && rs.UID == r.newRS.UID {
		for i, c := range r.ix.created {
			if c.UID == rs.UID {
				r.ix.created[i] = rs
			}
		}
		r.w.replace(rs)
	} else {
		r.ix.updated[rs.UID] = rs
		r.w.replace(rs)
	}
	if r.newRS != nil && rs.UID == r.newRS.UID {
		r.newRS = rs
	}
	for i, o := range r.old {
		if o.UID == rs.UID {
			r.old[i] = rs
		}
	}
}

// scaleRS sets a ReplicaSet's replicas and, as Kubernetes does whenever it
// scales one, the Deployment's desired and maximum replicas in its
// annotations (which tell a later pass whether the Deployment was scaled).
func (r *deploymentRollout) scaleRS(rs *appsv1.ReplicaSet, n int32) {
	desired := strconv.Itoa(int(r.replicas))
	maxReplicas := strconv.Itoa(int(r.replicas + r.maxSurge()))
	if ptr.Deref(rs.Spec.Replicas, 0) == n && rs.Annotations[annotationDesiredReplicas] == desired && rs.Annotations[annotationMaxReplicas] == maxReplicas {
		return
	}
	u := rs.DeepCopy()
	u.Spec.Replicas = ptr.To(n)
	if u.Annotations == nil {
		u.Annotations = map[string]string{}
	}
	u.Annotations[annotationDesiredReplicas] = desired
	u.Annotations[annotationMaxReplicas] = maxReplicas
	r.setRS(u)
}

// isScalingEvent reports whether the Deployment's replicas changed since
// its active ReplicaSets were last scaled.
func (r *deploymentRollout) isScalingEvent() bool {
	for _, rs := range r.all() {
		if ptr.Deref(rs.Spec.Replicas, 0) == 0 {
			continue
		}
		if v, ok := rs.Annotations[annotationDesiredReplicas]; ok && v != strconv.Itoa(int(r.replicas)) {
			return true
		}
	}
	return false
}

// scale follows a change of replicas without advancing a rollout, as
// Kubernetes' DeploymentController.scale: a single active (or else the
// newest) ReplicaSet takes all replicas; a saturated new ReplicaSet means
// the old ones go to zero; otherwise, in a rolling update, every active
// ReplicaSet is scaled in proportion to its share (leftovers to the
// largest), within replicas+maxSurge.
func (r *deploymentRollout) scale() {
	var active []*appsv1.ReplicaSet
	for _, rs := range r.all() {
		if ptr.Deref(rs.Spec.Replicas, 0) > 0 {
			active = append(active, rs)
		}
	}
	switch {
	case len(active) == 1:
		r.scaleRS(active[0], r.replicas)
		return
	case len(active) == 0:
		if r.newRS != nil {
			r.scaleRS(r.newRS, r.replicas)
		} else if len(r.old) > 0 {
			r.scaleRS(r.old[len(r.old)-1], r.replicas)
		}
		return
	}
	if r.newRS != nil && r.newRS.Annotations[annotationDesiredReplicas] == strconv.Itoa(int(r.replicas)) &&
		ptr.Deref(r.newRS.Spec.Replicas, 0) == r.replicas && r.available(r.newRS) == r.replicas {
		for _, rs := range r.old {
			r.scaleRS(rs, 0)
		}
		return
	}
	if r.d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return
	}
	allowed := int32(0)
	if r.replicas > 0 {
		allowed = r.replicas + r.maxSurge()
	}
	total := int32(0)
	for _, rs := range active {
		total += ptr.Deref(rs.Spec.Replicas, 0)
	}
	toAdd := allowed - total
	// Scaling up favours the largest, then newest; down the largest, then
	// oldest (ReplicaSetsBySizeNewer / BySizeOlder).
	newer := func(a, b *appsv1.ReplicaSet) bool {
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name > b.Name
	}
	sort.SliceStable(active, func(i, j int) bool {
		a, b := active[i], active[j]
		if sa, sb := ptr.Deref(a.Spec.Replicas, 0), ptr.Deref(b.Spec.Replicas, 0); sa != sb {
			return sa > sb
		}
		if toAdd > 0 {
			return newer(a, b)
		}
		return newer(b, a)
	})
	sizes := make([]int32, len(active))
	added := int32(0)
	for i, rs := range active {
		sizes[i] = ptr.Deref(rs.Spec.Replicas, 0)
		if toAdd != 0 {
			p := r.proportion(rs, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if toAdd != 0 {
		sizes[0] = max(0, sizes[0]+toAdd-added)
	}
	for i, rs := range active {
		r.scaleRS(rs, sizes[i])
	}
}

// proportion is Kubernetes' GetProportion: the share of toAdd a ReplicaSet
// takes, from its size and the Deployment's maximum size when it was last
// scaled (annotation max-replicas).
func (r *deploymentRollout) proportion(rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	size := ptr.Deref(rs.Spec.Replicas, 0)
	if size == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	var fraction int32
	if r.replicas == 0 {
		fraction = -size
	} else {
		maxNow := r.replicas + r.maxSurge()
		before, err := strconv.Atoi(rs.Annotations[annotationMaxReplicas])
		if err != nil || before == 0 {
			before = int(r.d.Status.Replicas)
		}
		if before == 0 {
			return 0
		}
		fraction = int32(math.Round(float64(size*maxNow)/float64(before))) - size
	}
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// maxSurge and maxUnavailable resolve the RollingUpdate knobs against the
// replicas as Kubernetes' ResolveFenceposts does: surge rounds up,
// unavailability down, and both zero means one unavailable.
func (r *deploymentRollout) maxSurge() int32 {
	s, _ := resolveFenceposts(r.d)
	return s
}

func (r *deploymentRollout) maxUnavailable() int32 {
	_, u := resolveFenceposts(r.d)
	return u
}

func resolveFenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0, 0
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	def := intstr.FromString("25%")
	s, u := &def, &def
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			s = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			u = ru.MaxUnavailable
		}
	}
	surge = scaledValue(s, replicas, true)
	unavailable = scaledValue(u, replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	unavailable = min(unavailable, replicas)
	return surge, unavailable
}

func scaledValue(v *intstr.IntOrString, total int32, roundUp bool) int32 {
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// newReplicasCount is how far the new ReplicaSet may grow from cur: up to
// replicas, keeping the total of all ReplicaSets within replicas+maxSurge.
func (r *deploymentRollout) newReplicasCount(cur int32) int32 {
	maxTotal := r.replicas + r.maxSurge()
	total := r.specTotal()
	if total >= maxTotal {
		return cur
	}
	return cur + max(0, min(maxTotal-total, r.replicas-cur))
}

// reconcileNewRS scales the new ReplicaSet toward replicas; it reports
// whether it changed anything (then old ones wait for the next pass, as in
// Kubernetes).
func (r *deploymentRollout) reconcileNewRS() bool {
	cur := ptr.Deref(r.newRS.Spec.Replicas, 0)
	switch {
	case cur == r.replicas:
		return false
	case cur > r.replicas:
		r.scaleRS(r.newRS, r.replicas)
		return true
	}
	n := r.newReplicasCount(cur)
	if n == cur {
		return false
	}
	r.scaleRS(r.newRS, n)
	return true
}

// reconcileOldRSs scales old ReplicaSets down as far as availability allows:
// first their unhealthy pods, then available ones down to
// replicas−maxUnavailable.
func (r *deploymentRollout) reconcileOldRSs() {
	oldTotal := int32(0)
	for _, rs := range r.old {
		oldTotal += ptr.Deref(rs.Spec.Replicas, 0)
	}
	if oldTotal == 0 {
		return
	}
	minAvailable := r.replicas - r.maxUnavailable()
	newUnavailable := max(0, ptr.Deref(r.newRS.Spec.Replicas, 0)-r.available(r.newRS))
	maxScaledDown := r.specTotal() - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return
	}
	// Unhealthy old replicas first: they serve nothing.
	done := int32(0)
	for _, rs := range r.old {
		if done >= maxScaledDown {
			break
		}
		spec, avail := ptr.Deref(rs.Spec.Replicas, 0), r.available(rs)
		if spec == 0 || spec <= avail {
			continue
		}
		n := min(maxScaledDown-done, spec-avail)
		r.scaleRS(rs, spec-n)
		done += n
	}
	// Then available ones, as far as minAvailable allows.
	availableTotal := r.available(r.newRS)
	for _, rs := range r.old {
		availableTotal += min(r.available(rs), ptr.Deref(rs.Spec.Replicas, 0))
	}
	if availableTotal <= minAvailable {
		return
	}
	budget := availableTotal - minAvailable
	for _, rs := range r.old {
		if budget <= 0 {
			break
		}
		spec := ptr.Deref(rs.Spec.Replicas, 0)
		if spec == 0 {
			continue
		}
		n := min(spec, budget)
		r.scaleRS(rs, spec-n)
		budget -= n
	}
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until none of
// their pods runs, then scales the new one up.
func (r *deploymentRollout) rolloutRecreate() {
	for _, rs := range r.old {
		r.scaleRS(rs, 0)
	}
	for _, rs := range r.old {
		for _, p := range r.ix.podByOwner[rs.UID] {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				return // still running (or stopping)
			}
		}
	}
	r.scaleRS(r.newRS, r.replicas)
}

func (r *deploymentRollout) all() []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(r.old)+1)
	if r.newRS != nil {
		out = append(out, r.newRS)
	}
	return append(out, r.old...)
}

func (r *deploymentRollout) specTotal() int32 {
	n := int32(0)
	for _, rs := range r.all() {
		n += ptr.Deref(rs.Spec.Replicas, 0)
	}
	return n
}

// available counts a ReplicaSet's live pods that have been Ready for the
// Deployment's minReadySeconds, asking for a pass when the next one gets
// there.
func (r *deploymentRollout) available(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	n, wait := countAvailable(livePods(r.ix.podByOwner[rs.UID]), r.d.Spec.MinReadySeconds, r.now)
	r.w.requeue(wait)
	return int32(n)
}

// countAvailable counts the pods Ready for at least minReadySeconds, and
// returns how long until the next of the others gets there (0 if none).
func countAvailable(pods []*corev1.Pod, minReadySeconds int32, now time.Time) (int, time.Duration) {
	n := 0
	var wait time.Duration
	minReady := time.Duration(minReadySeconds) * time.Second
	for _, p := range pods {
		since, ok := readySince(p)
		if !ok {
			continue
		}
		left := since.Add(minReady).Sub(now)
		if minReadySeconds == 0 || left <= 0 {
			n++
			continue
		}
		if wait == 0 || left < wait {
			wait = left
		}
	}
	return n, wait
}

// readySince returns when a ready pod became ready.
func readySince(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

func rsRevision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[annotationRSRevision], 10, 64)
	return n
}

func (r *deploymentRollout) maxOldRevision() int64 {
	m := int64(0)
	for _, rs := range r.old {
		m = max(m, rsRevision(rs))
	}
	return m
}

// timedOut reports whether the rollout of the current template has already
// been declared stalled.
func (r *deploymentRollout) timedOut() bool {
	if r.newRS == nil || r.found {
		return false
	}
	c := deploymentCondition(r.d.Status.Conditions, appsv1.DeploymentProgressing)
	return c != nil && c.Reason == reasonTimedOut && c.Message == timedOutMessage(r.newRS)
}

func timedOutMessage(rs *appsv1.ReplicaSet) string {
	return fmt.Sprintf("ReplicaSet %q has timed out progressing.", rs.Name)
}

func newReplicaSet(d *appsv1.Deployment, tmpl *corev1.PodTemplateSpec, name, hash string, replicas int32, ids IDs) *appsv1.ReplicaSet {
	labels := maps.Clone(tmpl.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	t := tmpl.DeepCopy()
	t.Labels = labels
	sel := d.Spec.Selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	surge, _ := resolveFenceposts(d)
	desired := ptr.Deref(d.Spec.Replicas, 1)
	annotations := map[string]string{
		annotationDesiredReplicas: strconv.Itoa(int(desired)),
		annotationMaxReplicas:     strconv.Itoa(int(desired + surge)),
	}
	if rev := d.Annotations[AnnotationRevision]; rev != "" {
		annotations[AnnotationRevision] = rev
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   d.Namespace,
			UID:         ids.UID(),
			Labels:      labels,
			Annotations: annotations,
			Generation:  1,
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment")),
			},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(replicas),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *t,
		},
	}
	return rs
}

// pruneHistory deletes scaled-down old ReplicaSets beyond
// revisionHistoryLimit, oldest first.
func (r *deploymentRollout) pruneHistory() {
	limit := int(ptr.Deref(r.d.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit))
	var idle []*appsv1.ReplicaSet
	for _, rs := range r.old {
		if ptr.Deref(rs.Spec.Replicas, 0) == 0 && len(r.ix.podByOwner[rs.UID]) == 0 {
			idle = append(idle, rs)
		}
	}
	if len(idle) <= limit {
		return
	}
	for _, rs := range idle[:len(idle)-limit] {
		r.w.Deletes = append(r.w.Deletes, rs)
	}
}

// updateStatus computes the Deployment's status and conditions as
// Kubernetes' syncRolloutStatus does, and writes it when it changed.
func (r *deploymentRollout) updateStatus() {
	d := r.d
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
	total := int32(0)
	for _, rs := range r.all() {
		pods := livePods(r.ix.podByOwner[rs.UID])
		st.Replicas += int32(len(pods))
		st.ReadyReplicas += int32(countReady(pods))
		st.AvailableReplicas += r.available(rs)
		total += ptr.Deref(rs.Spec.Replicas, 0)
		if rs == r.newRS {
			st.UpdatedReplicas = int32(len(pods))
		}
	}
	st.UnavailableReplicas = max(0, total-st.AvailableReplicas)
	st.Conditions = slicesClone(d.Status.Conditions)

	if st.AvailableReplicas >= r.replicas-r.maxUnavailable() {
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumReplicasAvail, "Deployment has minimum availability.", r.now)
	} else {
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumReplicasUnavai, "Deployment does not have minimum availability.", r.now)
	}
	r.progressing(&st)
	st.Conditions = r.replicaFailure(st.Conditions)

	if equality.Semantic.DeepEqual(st, d.Status) {
		return
	}
	u := d.DeepCopy()
	u.Status = st
	r.w.put(u)
}

// replicaFailure carries a ReplicaFailure condition of the Deployment's
// ReplicaSets (the new one's first; set by admission, e.g. a pod over
// quota) into the Deployment's conditions, or removes it, as Kubernetes'
// deployment controller does.
func (r *deploymentRollout) replicaFailure(conds []appsv1.DeploymentCondition) []appsv1.DeploymentCondition {
	sets := r.all()
	if r.newRS != nil {
		sets = append([]*appsv1.ReplicaSet{r.newRS}, sets...)
	}
	for _, rs := range sets {
		if c := replicaFailure(rs); c != nil {
			return setDeploymentCondition(conds, appsv1.DeploymentReplicaFailure, c.Status, c.Reason, c.Message, r.now)
		}
	}
	return slices.DeleteFunc(conds, func(c appsv1.DeploymentCondition) bool { return c.Type == appsv1.DeploymentReplicaFailure })
}

// progressing sets the Progressing condition: paused, a new or found
// ReplicaSet, progress made (which renews lastUpdateTime), complete, or
// timed out after progressDeadlineSeconds without progress.
func (r *deploymentRollout) progressing(st *appsv1.DeploymentStatus) {
	d := r.d
	set := func(status corev1.ConditionStatus, reason, msg string) {
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentProgressing, status, reason, msg, r.now)
	}
	cur := deploymentCondition(st.Conditions, appsv1.DeploymentProgressing)
	if d.Spec.Paused {
		set(corev1.ConditionUnknown, reasonPaused, "Deployment is paused")
		return
	}
	if cur != nil && cur.Reason == reasonPaused {
		set(corev1.ConditionUnknown, reasonResumed, "Deployment is resumed")
		cur = deploymentCondition(st.Conditions, appsv1.DeploymentProgressing)
	}
	if r.newRS == nil {
		return
	}
	switch {
	case r.created:
		set(corev1.ConditionTrue, reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", r.newRS.Name))
		return
	case r.found:
		set(corev1.ConditionTrue, reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", r.newRS.Name))
		return
	}
	complete := st.UpdatedReplicas == r.replicas && st.Replicas == r.replicas && st.AvailableReplicas == r.replicas && st.ObservedGeneration >= d.Generation
	if cur != nil && cur.Reason == reasonNewRSAvailable && cur.Message == completeMessage(r.newRS) && st.Replicas == st.UpdatedReplicas {
		return
	}
	deadline := time.Duration(ptr.Deref(d.Spec.ProgressDeadlineSeconds, defaultProgressDeadlineSeconds)) * time.Second
	old := d.Status
	progressed := st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
	switch {
	case complete:
		set(corev1.ConditionTrue, reasonNewRSAvailable, completeMessage(r.newRS))
	case cur != nil && cur.Reason == reasonTimedOut:
		// stays stalled
	case progressed || cur == nil:
		msg := fmt.Sprintf("ReplicaSet %q is progressing.", r.newRS.Name)
		c := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, Message: msg,
			LastUpdateTime: metav1.NewTime(r.now), LastTransitionTime: metav1.NewTime(r.now)}
		if cur != nil && cur.Status == corev1.ConditionTrue {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		st.Conditions = replaceCondition(st.Conditions, c)
		r.w.requeue(deadline)
	case ptr.Deref(d.Spec.ProgressDeadlineSeconds, defaultProgressDeadlineSeconds) == math.MaxInt32:
		// no deadline
	case !cur.LastUpdateTime.Add(deadline).After(r.now):
		set(corev1.ConditionFalse, reasonTimedOut, timedOutMessage(r.newRS))
	default:
		r.w.requeue(cur.LastUpdateTime.Add(deadline).Sub(r.now))
	}
}

func completeMessage(rs *appsv1.ReplicaSet) string {
	return fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name)
}

func deploymentCondition(conds []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func replaceCondition(conds []appsv1.DeploymentCondition, c appsv1.DeploymentCondition) []appsv1.DeploymentCondition {
	out := make([]appsv1.DeploymentCondition, 0, len(conds)+1)
	for _, o := range conds {
		if o.Type != c.Type {
			out = append(out, o)
		}
	}
	return append(out, c)
}

func slicesClone(c []appsv1.DeploymentCondition) []appsv1.DeploymentCondition {
	if c == nil {
		return nil
	}
	return append([]appsv1.DeploymentCondition{}, c...)
}

// setDeploymentCondition sets a condition as Kubernetes'
// SetDeploymentCondition does: nothing changes when status and reason are the
// same; lastTransitionTime moves only when the status does.
func setDeploymentCondition(conds []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) []appsv1.DeploymentCondition {
	cur := deploymentCondition(conds, t)
	if cur != nil && cur.Status == status && cur.Reason == reason && cur.Message == msg {
		return conds
	}
	c := appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
	if cur != nil && cur.Status == status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	return replaceCondition(conds, c)
}
