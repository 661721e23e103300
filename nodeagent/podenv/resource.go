package podenv

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceValue resolves a resourceFieldRef as the kubelet does: the
// resource (limits.* or requests.* of cpu, memory or ephemeral-storage) of
// the container ref names (ContainerName, else c), divided by the divisor
// (default 1) and rounded up; CPU in cores (or millicores with divisor 1m),
// memory and storage in bytes. A limit the container does not set is the
// node's allocatable amount (allocatable); a request it does not set is
// its limit when it sets one (the API server's default), else 0.
func ResourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	target := c
	if ref.ContainerName != "" {
		target = nil
		for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for i := range list {
				if list[i].Name == ref.ContainerName {
					target = &list[i]
				}
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container named %q in the pod", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	res := corev1.ResourceName(name)
	if !ok || (kind != "limits" && kind != "requests") ||
		(res != corev1.ResourceCPU && res != corev1.ResourceMemory && res != corev1.ResourceEphemeralStorage) {
		return "", fmt.Errorf("resourceFieldRef: resource %q is not supported", ref.Resource)
	}
	limit, hasLimit := target.Resources.Limits[res]
	if !hasLimit || limit.IsZero() {
		limit, hasLimit = allocatable[res], false
	}
	q := limit
	if kind == "requests" {
		req, hasReq := target.Resources.Requests[res]
		switch {
		case hasReq:
			q = req
		case hasLimit:
			q = limit
		default:
			q = resource.Quantity{}
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var v float64
	if res == corev1.ResourceCPU {
		v = math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	} else {
		v = math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	}
	return strconv.FormatInt(int64(v), 10), nil
}
