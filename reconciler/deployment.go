package reconciler

import (
	"maps"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const defaultRevisionHistoryLimit = 10

// planDeployment makes sure the ReplicaSet for the current template exists
// with the desired replicas and scales the older ones down.
//
// The rollout keeps every old pod until the new ReplicaSet is fully
// available (a surge of 100%, no unavailability): the RollingUpdate knobs
// arrive with the workload-controllers work. Recreate scales the old
// ReplicaSets to zero first and starts the new one when their pods are gone.
func planDeployment(w *Writes, d *appsv1.Deployment, ix *index, now time.Time, ids IDs) {
	desired := ptr.Deref(d.Spec.Replicas, 1)
	tmpl := d.Spec.Template.DeepCopy()
	if h := ConfigHash(&tmpl.Spec, ix.configMaps[d.Namespace], ix.secrets[d.Namespace]); h != "" {
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[AnnotationConfigHash] = h
	}
	hash := TemplateHash(tmpl)
	name := d.Name + "-" + hash

	var current *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range ix.rsByOwner[d.UID] {
		if rs.Name == name {
			current = rs
		} else {
			old = append(old, rs)
		}
	}

	oldPods := int32(0)
	for _, rs := range old {
		oldPods += int32(len(livePods(ix.podByOwner[rs.UID])))
	}
	recreate := d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType

	target := desired
	if d.Spec.Paused {
		if current == nil {
			return
		}
		target = ptr.Deref(current.Spec.Replicas, 0)
	} else if recreate && oldPods > 0 {
		target = 0
	}

	if current == nil {
		current = newReplicaSet(d, tmpl, name, hash, target, ids)
		ix.created = append(ix.created, current)
		w.put(current)
	} else if ptr.Deref(current.Spec.Replicas, 0) != target {
		rs := current.DeepCopy()
		rs.Spec.Replicas = ptr.To(target)
		ix.updated[rs.UID] = rs
		w.put(rs)
		current = rs
	}

	// Old ReplicaSets go to zero once the new one is fully available, or at
	// once with Recreate.
	newReady := current.Status.AvailableReplicas >= desired && current.Status.ObservedGeneration >= current.Generation
	if !d.Spec.Paused && (recreate || newReady || desired == 0) {
		for _, rs := range old {
			if ptr.Deref(rs.Spec.Replicas, 0) != 0 {
				u := rs.DeepCopy()
				u.Spec.Replicas = ptr.To[int32](0)
				ix.updated[u.UID] = u
				w.put(u)
			}
		}
	}
	pruneHistory(w, d, old, ix)
	updateDeploymentStatus(w, d, current, old, ix, now)
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
	annotations := map[string]string{"deployment.kubernetes.io/desired-replicas": strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1)))}
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
func pruneHistory(w *Writes, d *appsv1.Deployment, old []*appsv1.ReplicaSet, ix *index) {
	limit := int(ptr.Deref(d.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit))
	var idle []*appsv1.ReplicaSet
	for _, rs := range old {
		if cur, ok := ix.updated[rs.UID].(*appsv1.ReplicaSet); ok {
			rs = cur
		}
		if ptr.Deref(rs.Spec.Replicas, 0) == 0 && len(ix.podByOwner[rs.UID]) == 0 {
			idle = append(idle, rs)
		}
	}
	if len(idle) <= limit {
		return
	}
	sort.Slice(idle, func(i, j int) bool {
		return idle[i].CreationTimestamp.Before(&idle[j].CreationTimestamp)
	})
	for _, rs := range idle[:len(idle)-limit] {
		w.Deletes = append(w.Deletes, rs)
	}
}

func updateDeploymentStatus(w *Writes, d *appsv1.Deployment, current *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, ix *index, now time.Time) {
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
	for _, rs := range append([]*appsv1.ReplicaSet{current}, old...) {
		pods := livePods(ix.podByOwner[rs.UID])
		st.Replicas += int32(len(pods))
		ready := int32(countReady(pods))
		st.ReadyReplicas += ready
		st.AvailableReplicas += ready
		if rs == current {
			st.UpdatedReplicas = int32(len(pods))
		}
	}
	desired := ptr.Deref(d.Spec.Replicas, 1)
	st.UnavailableReplicas = max(0, desired-st.AvailableReplicas)
	st.Conditions = d.Status.Conditions
	avail := corev1.ConditionFalse
	reason, msg := "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	if st.AvailableReplicas >= desired {
		avail, reason, msg = corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability."
	}
	st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentAvailable, avail, reason, msg, now)
	prog, preason, pmsg := corev1.ConditionTrue, "ReplicaSetUpdated", "ReplicaSet \""+current.Name+"\" is progressing."
	if st.UpdatedReplicas == desired && st.Replicas == desired && st.AvailableReplicas >= desired {
		preason, pmsg = "NewReplicaSetAvailable", "ReplicaSet \""+current.Name+"\" has successfully progressed."
	}
	st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentProgressing, prog, preason, pmsg, now)
	if equality.Semantic.DeepEqual(st, d.Status) {
		return
	}
	u := d.DeepCopy()
	u.Status = st
	w.put(u)
}

func setDeploymentCondition(conds []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) []appsv1.DeploymentCondition {
	out := make([]appsv1.DeploymentCondition, 0, len(conds)+1)
	found := false
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
			continue
		}
		found = true
		if c.Status == status && c.Reason == reason && c.Message == msg {
			out = append(out, c)
			continue
		}
		c.LastUpdateTime = metav1.NewTime(now)
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		out = append(out, c)
	}
	if !found {
		out = append(out, appsv1.DeploymentCondition{
			Type: t, Status: status, Reason: reason, Message: msg,
			LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
		})
	}
	return out
}
