package nodeagent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass is the kubelet's quality-of-service class of pod (GetPodQOS):
// BestEffort when no container (init containers included) requests or
// limits CPU or memory; Guaranteed when every container limits both and
// its requests, where given, equal the limits (a missing request defaults
// to the limit, as the API server does); Burstable otherwise.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				any = true
			}
			if !hasLim || lim.IsZero() || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// oomScoreAdj is the kubelet's oom_score_adj for container c of a pod of
// class qos on a node with memoryCapacity bytes: Guaranteed -997 (less
// likely killed than anything but the node's own daemons), BestEffort 1000,
// Burstable 1000 - 1000*request/capacity kept within 2..999, so that the
// kernel kills best-effort work first and big requests last.
func oomScoreAdj(qos corev1.PodQOSClass, c *corev1.Container, memoryCapacity int64) int {
	switch qos {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	if memoryCapacity <= 0 {
		return 999
	}
	req := int64(0)
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		req = q.Value()
	} else if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		req = q.Value() // the API server's default request
	}
	adj := 1000 - (1000*req)/memoryCapacity
	return int(min(max(adj, 2), 999))
}

// hostAllocatable is the node's allocatable CPU, memory and storage (as
// registered: the whole host), to which a resourceFieldRef to a limit the
// container does not set resolves.
func hostAllocatable(h hostInfo) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(h.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(h.MemoryBytes, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(h.StorageBytes, resource.BinarySI),
	}
}
