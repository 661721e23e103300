package reconciler

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// computeResources are the quota names a pod's containers must declare when
// a quota limits them (cpu and memory are requests.cpu and requests.memory).
var computeResources = map[corev1.ResourceName]struct {
	limit bool
	res   corev1.ResourceName
}{
	corev1.ResourceRequestsCPU:    {false, corev1.ResourceCPU},
	corev1.ResourceCPU:            {false, corev1.ResourceCPU},
	corev1.ResourceRequestsMemory: {false, corev1.ResourceMemory},
	corev1.ResourceMemory:         {false, corev1.ResourceMemory},
	corev1.ResourceLimitsCPU:      {true, corev1.ResourceCPU},
	corev1.ResourceLimitsMemory:   {true, corev1.ResourceMemory},
}

// PodUsage is what one pod counts against a quota, as Kubernetes' pod
// evaluator computes it: pods and count/pods 1; requests and limits of cpu
// and memory as the pod's effective values (the sum over its containers, or
// the largest init container when that is more).
func PodUsage(p *corev1.Pod) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	cpu, mem := podResource(&p.Spec, corev1.ResourceCPU, false), podResource(&p.Spec, corev1.ResourceMemory, false)
	return corev1.ResourceList{
		corev1.ResourcePods:           one,
		countPods:                     one.DeepCopy(),
		corev1.ResourceRequestsCPU:    cpu,
		corev1.ResourceRequestsMemory: mem,
		corev1.ResourceLimitsCPU:      podResource(&p.Spec, corev1.ResourceCPU, true),
		corev1.ResourceLimitsMemory:   podResource(&p.Spec, corev1.ResourceMemory, true),
		corev1.ResourceCPU:            cpu.DeepCopy(),
		corev1.ResourceMemory:         mem.DeepCopy(),
	}
}

var countPods = manifest.CountResource(manifest.KindPod)

// podResource is the pod's effective request (or limit) of r.
func podResource(spec *corev1.PodSpec, r corev1.ResourceName, limit bool) resource.Quantity {
	get := func(c *corev1.Container) resource.Quantity {
		l := c.Resources.Requests
		if limit {
			l = c.Resources.Limits
		}
		return l[r].DeepCopy()
	}
	sum := resource.Quantity{Format: resource.DecimalSI}
	if r == corev1.ResourceMemory {
		sum.Format = resource.BinarySI
	}
	for i := range spec.Containers {
		sum.Add(get(&spec.Containers[i]))
	}
	for i := range spec.InitContainers {
		if q := get(&spec.InitContainers[i]); q.Cmp(sum) > 0 {
			sum = q
		}
	}
	return sum
}

// countsQuota reports whether a pod still counts against quota at now: not
// finished, and not past the end of its graceful deletion.
func countsQuota(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil {
		grace := time.Duration(0)
		if p.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
		}
		return now.Before(p.DeletionTimestamp.Add(grace))
	}
	return true
}

// quotaState is one ResourceQuota and what its namespace uses.
type quotaState struct {
	q     *corev1.ResourceQuota
	names []corev1.ResourceName // of spec.hard, sorted
	used  corev1.ResourceList
}

// add counts u against the quota (only the names it limits).
func (s *quotaState) add(u corev1.ResourceList) {
	for _, name := range s.names {
		if v, ok := u[name]; ok {
			cur := s.used[name]
			cur.Add(v)
			s.used[name] = cur
		}
	}
}

// admit checks pod usage u against the quota. It returns "" or the reason
// Kubernetes' quota admission gives (without the pods "x" is forbidden:
// prefix).
func (s *quotaState) admit(p *corev1.Pod, u corev1.ResourceList) string {
	// Containers must declare what a quota limits.
	var missing []string
	for _, name := range s.names {
		cr, ok := computeResources[name]
		if !ok {
			continue
		}
		var names []string
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range cs {
				l := c.Resources.Requests
				if cr.limit {
					l = c.Resources.Limits
				}
				if _, ok := l[cr.res]; !ok {
					names = append(names, c.Name)
				}
			}
		}
		if len(names) > 0 {
			missing = append(missing, fmt.Sprintf("%s for: %s", name, strings.Join(names, ",")))
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("failed quota: %s: must specify %s", s.q.Name, strings.Join(missing, "; "))
	}
	var over []corev1.ResourceName
	for _, name := range s.names {
		req, ok := u[name]
		if !ok || req.IsZero() {
			continue
		}
		total := s.used[name].DeepCopy()
		total.Add(req)
		if total.Cmp(s.q.Spec.Hard[name]) > 0 {
			over = append(over, name)
		}
	}
	if len(over) == 0 {
		return ""
	}
	list := func(l corev1.ResourceList) string {
		parts := make([]string, 0, len(over))
		for _, name := range over {
			v := l[name]
			parts = append(parts, string(name)+"="+v.String())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s", s.q.Name, list(u), list(s.used), list(s.q.Spec.Hard))
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	out := slices.Collect(maps.Keys(l))
	slices.Sort(out)
	return out
}

// objectCounts counts the objects of a snapshot by count/<resource> name and
// by the short quota names (services, configmaps, secrets) per namespace.
func objectCounts(s Snapshot) map[string]corev1.ResourceList {
	counts := map[string]map[corev1.ResourceName]int64{}
	countNames := map[string]corev1.ResourceName{}
	add := func(ns, kind string, short corev1.ResourceName) {
		c := counts[ns]
		if c == nil {
			c = map[corev1.ResourceName]int64{}
			counts[ns] = c
		}
		name, ok := countNames[kind]
		if !ok {
			name = manifest.CountResource(kind)
			countNames[kind] = name
		}
		c[name]++
		if short != "" {
			c[short]++
		}
	}
	for _, o := range s.Services {
		add(o.Namespace, manifest.KindService, corev1.ResourceServices)
	}
	for _, o := range s.ConfigMaps {
		add(o.Namespace, manifest.KindConfigMap, corev1.ResourceConfigMaps)
	}
	for _, o := range s.Secrets {
		add(o.Namespace, manifest.KindSecret, corev1.ResourceSecrets)
	}
	for _, o := range s.Deployments {
		add(o.Namespace, manifest.KindDeployment, "")
	}
	for _, o := range s.ReplicaSets {
		add(o.Namespace, manifest.KindReplicaSet, "")
	}
	for _, o := range s.StatefulSets {
		add(o.Namespace, manifest.KindStatefulSet, "")
	}
	for _, o := range s.DaemonSets {
		add(o.Namespace, manifest.KindDaemonSet, "")
	}
	for _, o := range s.Jobs {
		add(o.Namespace, manifest.KindJob, "")
	}
	for _, o := range s.CronJobs {
		add(o.Namespace, manifest.KindCronJob, "")
	}
	for _, o := range s.Endpoints {
		add(o.Namespace, manifest.KindEndpoints, "")
	}
	for _, o := range s.PersistentVolumeClaims {
		add(o.Namespace, manifest.KindPersistentVolumeClaim, corev1.ResourcePersistentVolumeClaims)
	}
	for _, o := range s.EndpointSlices {
		add(o.Namespace, manifest.KindEndpointSlice, "")
	}
	for _, o := range s.ResourceQuotas {
		add(o.Namespace, manifest.KindResourceQuota, "")
	}
	for _, o := range s.LimitRanges {
		add(o.Namespace, manifest.KindLimitRange, "")
	}
	for _, o := range s.PodDisruptionBudgets {
		add(o.Namespace, manifest.KindPodDisruptionBudget, "")
	}
	out := make(map[string]corev1.ResourceList, len(counts))
	for ns, c := range counts {
		l := make(corev1.ResourceList, len(c))
		for name, n := range c {
			l[name] = *resource.NewQuantity(n, resource.DecimalSI)
		}
		out[ns] = l
	}
	return out
}

// quotasByNamespace returns the namespace's quotas, sorted by name, with
// their usage from the pods that count at now (except those deleted in this
// pass) and the snapshot's objects.
func quotasByNamespace(s Snapshot, deleted map[string]bool, now time.Time) map[string][]*quotaState {
	out := map[string][]*quotaState{}
	qs := slices.Clone(s.ResourceQuotas)
	sort.Slice(qs, func(i, j int) bool { return qs[i].Name < qs[j].Name })
	for _, q := range qs {
		out[q.Namespace] = append(out[q.Namespace], &quotaState{q: q, names: sortedResourceNames(q.Spec.Hard), used: zeroUsage(q.Spec.Hard)})
	}
	if len(out) == 0 {
		return out
	}
	for _, p := range s.Pods {
		if len(out[p.Namespace]) == 0 || deleted[string(p.UID)] || !countsQuota(p, now) {
			continue
		}
		u := PodUsage(p)
		for _, st := range out[p.Namespace] {
			st.add(u)
		}
	}
	counts := objectCounts(s)
	for ns, states := range out {
		for _, st := range states {
			st.add(counts[ns])
		}
	}
	return out
}

// zeroUsage lists every name hard limits with a zero quantity, as the
// quota controller reports status.used.
func zeroUsage(hard corev1.ResourceList) corev1.ResourceList {
	out := make(corev1.ResourceList, len(hard))
	for name := range hard {
		out[name] = resource.MustParse("0")
	}
	return out
}

// writeQuotaStatus records each quota's hard and used in its status when
// they changed.
func writeQuotaStatus(w *Writes, quotas map[string][]*quotaState) {
	var all []*quotaState
	for _, states := range quotas {
		all = append(all, states...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].q.Namespace != all[j].q.Namespace {
			return all[i].q.Namespace < all[j].q.Namespace
		}
		return all[i].q.Name < all[j].q.Name
	})
	for _, st := range all {
		if resourceListsEqual(st.q.Status.Hard, st.q.Spec.Hard) && resourceListsEqual(st.q.Status.Used, st.used) {
			continue
		}
		u := st.q.DeepCopy()
		u.Status.Hard = st.q.Spec.DeepCopy().Hard
		u.Status.Used = st.used
		w.put(u)
	}
}

func resourceListsEqual(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// QuotaErrors checks the objects a commit holds against the ResourceQuotas
// it holds: a namespace with more Services, ConfigMaps, Secrets,
// PersistentVolumeClaims or count/<resource> objects than a quota allows
// refuses the commit, naming the quota and the first object over it.
func QuotaErrors(objs []manifest.Object) []string {
	var quotas []*corev1.ResourceQuota
	for _, o := range objs {
		if q, ok := o.(*corev1.ResourceQuota); ok {
			quotas = append(quotas, q)
		}
	}
	if len(quotas) == 0 {
		return nil
	}
	sort.Slice(quotas, func(i, j int) bool {
		if quotas[i].Namespace != quotas[j].Namespace {
			return quotas[i].Namespace < quotas[j].Namespace
		}
		return quotas[i].Name < quotas[j].Name
	})
	sorted := slices.Clone(objs)
	sort.SliceStable(sorted, func(i, j int) bool {
		return manifest.KeyOf(sorted[i]).String() < manifest.KeyOf(sorted[j]).String()
	})
	short := map[string]corev1.ResourceName{
		manifest.KindService: corev1.ResourceServices, manifest.KindConfigMap: corev1.ResourceConfigMaps,
		manifest.KindSecret: corev1.ResourceSecrets, manifest.KindPersistentVolumeClaim: corev1.ResourcePersistentVolumeClaims,
	}
	var errs []string
	for _, q := range quotas {
		used := corev1.ResourceList{}
		reported := map[corev1.ResourceName]bool{}
		for _, o := range sorted {
			kind := manifest.KindOf(o)
			if o.GetNamespace() != q.Namespace || kind == manifest.KindEvent {
				continue
			}
			for _, name := range []corev1.ResourceName{manifest.CountResource(kind), short[kind]} {
				hard, limited := q.Spec.Hard[name]
				if name == "" || !limited {
					continue
				}
				v := used[name]
				if v.Cmp(hard) >= 0 && !reported[name] {
					reported[name] = true
					errs = append(errs, fmt.Sprintf("%s: %s %q is forbidden: exceeded quota: %s, requested: %s=1, used: %s=%s, limited: %s=%s; raise the quota or remove objects",
						sourceOf(o), manifest.Plural(kind), o.GetName(), q.Name, name, name, v.String(), name, hard.String()))
				}
				v.Add(resource.MustParse("1"))
				used[name] = v
			}
		}
	}
	return errs
}
