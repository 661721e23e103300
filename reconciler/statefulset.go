package reconciler

import (
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels the StatefulSet controller puts on its pods, as Kubernetes does.
const (
	LabelStatefulSetPodName = "statefulset.kubernetes.io/pod-name"
	LabelPodIndex           = "apps.kubernetes.io/pod-index"
)

// planStatefulSet runs one StatefulSet as Kubernetes does: pods named
// <name>-<ordinal> with hostname = pod name and
// subdomain = spec.serviceName; OrderedReady creates them one at a time in
// ordinal order, each once its predecessors are Running and Ready, and
// removes surplus ordinals from the highest, one at a time; Parallel does
// both at once. RollingUpdate replaces pods whose template revision is old,
// from the highest ordinal down to spec.updateStrategy.rollingUpdate.
// partition, one at a time, each once the others are healthy; OnDelete
// replaces a pod only after it is deleted. A pod's name is reused only once
// the old pod object is gone, so a pod on an unreachable node is not
// replaced while it might still run. Each volumeClaimTemplate gives every
// ordinal a claim <template>-<name>-<ordinal>, created before its first pod
// and kept when the set scales down or goes (unless
// persistentVolumeClaimRetentionPolicy says Delete), so a pod that comes
// back finds its data; the pod mounts it as the volume named after the
// template.
//
// Unlike Kubernetes, tug keeps no ControllerRevisions: a pod below the
// partition that is deleted comes back from the current template.
func planStatefulSet(w *Writes, sts *appsv1.StatefulSet, ix *index, now time.Time, ids IDs) {
	replicas := int(ptr.Deref(sts.Spec.Replicas, 1))
	tmpl := templateWithConfig(&sts.Spec.Template, sts.Namespace, ix)
	updateRev := sts.Name + "-" + TemplateHash(tmpl)
	parallel := sts.Spec.PodManagementPolicy == appsv1.ParallelPodManagement

	byOrdinal := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod // ordinal ≥ replicas, or not a valid ordinal
	for _, p := range ix.podByOwner[sts.UID] {
		ord, ok := podOrdinal(sts.Name, p.Name)
		if !ok || ord >= replicas {
			condemned = append(condemned, p)
			continue
		}
		byOrdinal[ord] = p
	}
	sort.Slice(condemned, func(i, j int) bool {
		a, _ := podOrdinal(sts.Name, condemned[i].Name)
		b, _ := podOrdinal(sts.Name, condemned[j].Name)
		return a > b
	})
	minReady := time.Duration(sts.Spec.MinReadySeconds) * time.Second
	available := func(p *corev1.Pod) bool {
		since, ok := readySince(p)
		if !ok || p.DeletionTimestamp != nil {
			return false
		}
		if left := since.Add(minReady).Sub(now); left > 0 {
			w.requeue(left)
			return false
		}
		return true
	}
	healthy := func(p *corev1.Pod) bool {
		return p != nil && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p)
	}

	// Replicas: replace finished pods, create missing ones.
	blocked := false
	for ord := 0; ord < replicas; ord++ {
		p := byOrdinal[ord]
		if p != nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) && p.DeletionTimestamp == nil {
			deletePod(w, p, now)
			if !parallel {
				blocked = true
				break
			}
			continue
		}
		if p == nil {
			if blocked {
				break
			}
			ensureStatefulClaims(w, sts, ord, ix, ids) // see volume_statefulset.go
			np := newStatefulPod(sts, tmpl, ord, updateRev, ids)
			ix.newPods = append(ix.newPods, np)
			byOrdinal[ord] = np
			if !parallel {
				blocked = true
			}
			continue
		}
		if !parallel && !healthy(p) {
			blocked = true
		}
	}

	// Condemned pods: highest ordinal first; OrderedReady waits for every
	// replica to be healthy and for each deletion to finish.
	if !blocked || parallel {
		for _, p := range condemned {
			if p.DeletionTimestamp != nil {
				if !parallel {
					break
				}
				continue
			}
			deletePod(w, p, now)
			if !parallel {
				blocked = true
				break
			}
		}
	}

	// Rolling update, from the highest ordinal down to the partition.
	if !blocked && sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		partition := 0
		if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		for ord := replicas - 1; ord >= partition; ord-- {
			p := byOrdinal[ord]
			if p == nil || p.ResourceVersion == "" {
				break // created in this pass
			}
			if p.Labels[appsv1.StatefulSetRevisionLabel] != updateRev && p.DeletionTimestamp == nil {
				deletePod(w, p, now)
				break
			}
			if !healthy(p) {
				break
			}
		}
	}

	// Status.
	st := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, UpdateRevision: updateRev,
		CurrentRevision: sts.Status.CurrentRevision, CollisionCount: sts.Status.CollisionCount}
	for _, p := range ix.podByOwner[sts.UID] {
		if p.DeletionTimestamp != nil {
			continue
		}
		st.Replicas++
		if podReady(p) {
			st.ReadyReplicas++
		}
		if available(p) {
			st.AvailableReplicas++
		}
		if p.Labels[appsv1.StatefulSetRevisionLabel] == updateRev {
			st.UpdatedReplicas++
		}
	}
	if st.CurrentRevision == "" || st.UpdatedReplicas == int32(replicas) && st.Replicas == int32(replicas) {
		st.CurrentRevision = updateRev
	}
	for _, p := range ix.podByOwner[sts.UID] {
		if p.DeletionTimestamp == nil && p.Labels[appsv1.StatefulSetRevisionLabel] == st.CurrentRevision {
			st.CurrentReplicas++
		}
	}
	if equality.Semantic.DeepEqual(st, sts.Status) {
		return
	}
	u := sts.DeepCopy()
	u.Status = st
	w.put(u)
}

// podOrdinal parses the ordinal of a StatefulSet pod's name.
func podOrdinal(set, pod string) (int, bool) {
	s, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

func newStatefulPod(sts *appsv1.StatefulSet, tmpl *corev1.PodTemplateSpec, ord int, rev string, ids IDs) *corev1.Pod {
	t := tmpl.DeepCopy()
	name := sts.Name + "-" + strconv.Itoa(ord)
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[appsv1.StatefulSetRevisionLabel] = rev
	labels[LabelStatefulSetPodName] = name
	labels[LabelPodIndex] = strconv.Itoa(ord)
	spec := t.Spec
	spec.Hostname = name
	spec.Subdomain = sts.Spec.ServiceName
	spec.Volumes = statefulClaimVolumes(sts, ord, spec.Volumes)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   sts.Namespace,
			UID:         ids.UID(),
			Labels:      labels,
			Annotations: maps.Clone(t.Annotations),
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet")),
			},
		},
		Spec:   spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&spec)},
	}
}
