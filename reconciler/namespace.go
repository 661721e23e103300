package reconciler

import (
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// Namespace removal works as Kubernetes' namespace controller empties a
// terminating namespace. Once a namespace is gone from the store (Git
// removed it; Git's own objects in it left with the same commit, since
// validation requires their namespace), every namespaced object still in
// it is deleted: pods bound to a node gracefully (the node agent removes
// them once stopped), everything else at once. The controllers do not see
// the removed namespace's objects, so nothing new is created there; its
// bound pods stay visible to the scheduler until they are gone, since they
// still hold their node's resources.

// removeNamespaces returns s without the objects of namespaces that no
// longer exist (their bound pods excepted, which sweepNamespaces deletes
// gracefully) and those objects, to delete at once.
func removeNamespaces(s Snapshot) (Snapshot, []manifest.Object) {
	live := map[string]bool{}
	for _, ns := range BuiltinNamespaces {
		live[ns] = true
	}
	for _, ns := range s.Namespaces {
		live[ns.Name] = true
	}
	var gone []manifest.Object
	s.Deployments = keepLive(s.Deployments, live, &gone)
	s.ReplicaSets = keepLive(s.ReplicaSets, live, &gone)
	s.ConfigMaps = keepLive(s.ConfigMaps, live, &gone)
	s.Secrets = keepLive(s.Secrets, live, &gone)
	s.Services = keepLive(s.Services, live, &gone)
	s.Endpoints = keepLive(s.Endpoints, live, &gone)
	s.Jobs = keepLive(s.Jobs, live, &gone)
	s.CronJobs = keepLive(s.CronJobs, live, &gone)
	s.DaemonSets = keepLive(s.DaemonSets, live, &gone)
	s.StatefulSets = keepLive(s.StatefulSets, live, &gone)
	s.PersistentVolumeClaims = keepLive(s.PersistentVolumeClaims, live, &gone)
	var pods []*corev1.Pod
	for _, p := range s.Pods {
		if !live[p.Namespace] && p.Spec.NodeName == "" {
			gone = append(gone, p)
			continue
		}
		pods = append(pods, p)
	}
	s.Pods = pods
	return s, gone
}

// keepLive returns the objects of live namespaces and adds the others to
// gone. The slice is copied only when something is removed.
func keepLive[T manifest.Object](objs []T, live map[string]bool, gone *[]manifest.Object) []T {
	out := objs[:0:0]
	removed := false
	for _, o := range objs {
		if live[o.GetNamespace()] {
			out = append(out, o)
			continue
		}
		*gone = append(*gone, o)
		removed = true
	}
	if !removed {
		return objs
	}
	return out
}

// sweepNamespaces deletes what removeNamespaces took out, and gracefully
// the bound pods of removed namespaces (a no-op for those terminating).
func sweepNamespaces(w *Writes, s Snapshot, gone []manifest.Object, now time.Time) {
	w.Deletes = append(w.Deletes, gone...)
	live := map[string]bool{}
	for _, ns := range BuiltinNamespaces {
		live[ns] = true
	}
	for _, ns := range s.Namespaces {
		live[ns.Name] = true
	}
	for _, p := range s.Pods {
		if !live[p.Namespace] {
			deletePod(w, p, now)
		}
	}
}
