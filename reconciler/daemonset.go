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
)

// LabelControllerRevisionHash marks the template a DaemonSet pod was made
// from, as Kubernetes does.
const LabelControllerRevisionHash = "controller-revision-hash"

// daemonTolerations are the tolerations Kubernetes' DaemonSet controller
// adds to every daemon pod: it stays on nodes that are not ready,
// unreachable, under pressure or cordoned.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// planDaemonSet keeps one pod on every eligible node (the template's
// nodeSelector and required node affinity match, and the node's NoSchedule
// and NoExecute taints are tolerated, with daemonTolerations added), deletes
// pods on nodes that are no longer eligible, duplicates and failed pods, and
// rolls a changed template out node by node: with RollingUpdate at most
// maxUnavailable (default 1; count or percentage of the desired nodes,
// rounded up) nodes are without an available pod at a time; with OnDelete
// a pod is replaced only once it is gone. Each pod is pinned to its node by
// a required node affinity on metadata.name, as in Kubernetes, and bound by
// the scheduler, so node resources are still checked.
func planDaemonSet(w *Writes, ds *appsv1.DaemonSet, ix *index, now time.Time, ids IDs) {
	tmpl := templateWithConfig(&ds.Spec.Template, ds.Namespace, ix)
	hash := TemplateHash(tmpl)
	tmplSpec := tmpl.Spec.DeepCopy()
	tmplSpec.Tolerations = append(tmplSpec.Tolerations, daemonTolerations...)
	probe := &corev1.Pod{Spec: *tmplSpec}

	byNode := map[string][]*corev1.Pod{}
	terminating := map[string]bool{} // a new pod waits until the old one is gone
	for _, p := range ix.podByOwner[ds.UID] {
		if p.DeletionTimestamp != nil {
			terminating[daemonPodNode(p)] = true
			continue
		}
		if p.Status.Phase == corev1.PodFailed {
			deletePod(w, p, now) // replaced on the next pass, as in Kubernetes
			continue
		}
		byNode[daemonPodNode(p)] = append(byNode[daemonPodNode(p)], p)
	}

	var st appsv1.DaemonSetStatus
	st.ObservedGeneration = ds.Generation
	minReady := time.Duration(ds.Spec.MinReadySeconds) * time.Second
	available := func(p *corev1.Pod) bool {
		since, ok := readySince(p)
		if !ok {
			return false
		}
		if left := since.Add(minReady).Sub(now); left > 0 {
			w.requeue(left)
			return false
		}
		return true
	}
	eligible := map[string]bool{}
	for _, n := range ix.snap.Nodes {
		// A Node committed to Git whose node never registered is not a node yet.
		if registered(n) && matchesNodeAffinity(probe, n) && untoleratedTaint(probe, n) == "" {
			eligible[n.Name] = true
		}
	}

	// Which nodes need a pod and which pods go.
	var nodesNeeding []string
	onNode := map[string]*corev1.Pod{} // the pod kept on each eligible node
	for _, n := range ix.snap.Nodes {
		pods := byNode[n.Name]
		if !eligible[n.Name] {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			for _, p := range pods {
				deletePod(w, p, now)
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			nodesNeeding = append(nodesNeeding, n.Name)
			continue
		}
		st.CurrentNumberScheduled++
		// Keep the oldest pod, preferring one of the current template.
		sort.SliceStable(pods, func(i, j int) bool {
			ci, cj := pods[i].Labels[LabelControllerRevisionHash] == hash, pods[j].Labels[LabelControllerRevisionHash] == hash
			if ci != cj {
				return ci
			}
			return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
		})
		for _, p := range pods[1:] {
			deletePod(w, p, now)
		}
		onNode[n.Name] = pods[0]
	}
	for node, pods := range byNode {
		if node == "" || !nodeExists(ix.snap.Nodes, node) {
			for _, p := range pods {
				deletePod(w, p, now)
			}
		}
	}

	// Roll out: count unavailable nodes, then delete old pods within budget.
	maxUnavailable := int32(1)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		maxUnavailable = max(scaledValue(ru.MaxUnavailable, st.DesiredNumberScheduled, true), 1)
	}
	unavailable := int32(len(nodesNeeding))
	var freeToDelete, candidates []*corev1.Pod
	nodes := sortedKeys(boolSet(onNode))
	for _, node := range nodes {
		p := onNode[node]
		cur := p.Labels[LabelControllerRevisionHash] == hash
		if cur {
			st.UpdatedNumberScheduled++
		}
		if podReady(p) {
			st.NumberReady++
		}
		switch avail := available(p); {
		case avail:
			st.NumberAvailable++
			if !cur {
				candidates = append(candidates, p)
			}
		case !cur:
			unavailable++
			freeToDelete = append(freeToDelete, p)
		default:
			unavailable++
		}
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		for _, p := range freeToDelete {
			deletePod(w, p, now)
		}
		budget := max(maxUnavailable-unavailable, 0)
		for _, p := range candidates[:min(int(budget), len(candidates))] {
			deletePod(w, p, now)
		}
	}
	for _, node := range nodesNeeding {
		if terminating[node] {
			continue
		}
		ix.newPods = append(ix.newPods, newDaemonPod(ds, tmpl.Annotations, tmplSpec, hash, node, ids))
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable

	if equality.Semantic.DeepEqual(st, ds.Status) {
		return
	}
	u := ds.DeepCopy()
	u.Status = st
	w.put(u)
}

func boolSet(m map[string]*corev1.Pod) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func nodeExists(nodes []*corev1.Node, name string) bool {
	for _, n := range nodes {
		if n.Name == name {
			return true
		}
	}
	return false
}

// daemonPodNode returns the node a daemon pod is bound or pinned to.
func daemonPodNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range t.MatchFields {
				if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// templateWithConfig returns a copy of a pod template annotated with the
// hash of the ConfigMaps and Secrets it uses (tug.dev/config-hash), so a
// configuration change rolls the pods, as for Deployments.
func templateWithConfig(tmpl *corev1.PodTemplateSpec, namespace string, ix *index) *corev1.PodTemplateSpec {
	t := tmpl.DeepCopy()
	if h := ConfigHash(&t.Spec, ix.configMaps[namespace], ix.secrets[namespace]); h != "" {
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[AnnotationConfigHash] = h
	}
	return t
}

func newDaemonPod(ds *appsv1.DaemonSet, annotations map[string]string, spec *corev1.PodSpec, hash, node string, ids IDs) *corev1.Pod {
	labels := maps.Clone(ds.Spec.Template.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelControllerRevisionHash] = hash
	labels["pod-template-generation"] = strconv.FormatInt(ds.Generation, 10)
	spec = spec.DeepCopy()
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	spec.Affinity.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
		}}}},
	}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:         ds.Name + "-" + ids.Suffix(),
			GenerateName: ds.Name + "-",
			Namespace:    ds.Namespace,
			UID:          ids.UID(),
			Labels:       labels,
			Annotations:  maps.Clone(annotations),
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet")),
			},
		},
		Spec:   *spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(spec)},
	}
}
