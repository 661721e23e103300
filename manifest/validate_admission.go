package manifest

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// QuotaResources are the spec.hard names a committed ResourceQuota may set,
// besides count/<resource> for a kind tug stores in a namespace
// ("count/deployments.apps", "count/services").
var QuotaResources = []corev1.ResourceName{
	corev1.ResourcePods,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceServices, corev1.ResourceConfigMaps, corev1.ResourceSecrets,
	corev1.ResourcePersistentVolumeClaims,
}

// CountResource returns the "count/<plural>[.<group>]" quota name of kind,
// as Kubernetes spells it ("count/deployments.apps", "count/pods").
func CountResource(kind string) corev1.ResourceName {
	gvk, ok := GVK(kind)
	if !ok {
		return ""
	}
	name := "count/" + Plural(kind)
	if gvk.Group != "" {
		name += "." + gvk.Group
	}
	return corev1.ResourceName(name)
}

// QuotaCountKinds are the kinds a quota may count (count/<resource>).
var QuotaCountKinds = []string{
	KindPod, KindDeployment, KindReplicaSet, KindStatefulSet, KindDaemonSet, KindJob, KindCronJob,
	KindService, KindConfigMap, KindSecret, KindEndpoints, KindEndpointSlice, KindPersistentVolumeClaim,
	KindResourceQuota, KindLimitRange, KindPodDisruptionBudget,
}

// IsQuotaResource reports whether tug enforces a quota on name.
func IsQuotaResource(name corev1.ResourceName) bool {
	if slices.Contains(QuotaResources, name) {
		return true
	}
	if !strings.HasPrefix(string(name), "count/") {
		return false
	}
	for _, k := range QuotaCountKinds {
		if CountResource(k) == name {
			return true
		}
	}
	return false
}

func (c *checker) resourceQuota(q *corev1.ResourceQuota) {
	if len(q.Spec.Hard) == 0 {
		c.add("spec.hard", "at least one limit is required")
	}
	for _, k := range resourceNames(q.Spec.Hard) {
		f := joinPath("spec.hard", k)
		name := corev1.ResourceName(k)
		if !IsQuotaResource(name) {
			c.add(f, "quota on %q is not supported by tug; use pods, requests.cpu, requests.memory, limits.cpu, limits.memory, cpu, memory, services, configmaps, secrets, persistentvolumeclaims or count/<resource>", k)
			continue
		}
		if v := q.Spec.Hard[name]; v.Sign() < 0 {
			c.add(f, "must not be negative")
		}
	}
}

// limitRangeResources are the resources a LimitRange may constrain in tug.
var limitRangeResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

func (c *checker) limitRange(lr *corev1.LimitRange) {
	if len(lr.Spec.Limits) == 0 {
		c.add("spec.limits", "at least one limit is required")
	}
	for i, l := range lr.Spec.Limits {
		f := "spec.limits[" + strconv.Itoa(i) + "]"
		switch l.Type {
		case corev1.LimitTypeContainer:
		case corev1.LimitTypePod:
			if len(l.Default) > 0 {
				c.add(f+".default", "not allowed for type Pod; set defaults on type Container")
			}
			if len(l.DefaultRequest) > 0 {
				c.add(f+".defaultRequest", "not allowed for type Pod; set defaults on type Container")
			}
		case corev1.LimitTypePersistentVolumeClaim:
			c.add(f+".type", "type PersistentVolumeClaim is not supported by tug yet; use Container or Pod")
			continue
		default:
			c.add(f+".type", "must be Container or Pod")
			continue
		}
		lists := []struct {
			name string
			list corev1.ResourceList
		}{{"min", l.Min}, {"max", l.Max}, {"default", l.Default}, {"defaultRequest", l.DefaultRequest}, {"maxLimitRequestRatio", l.MaxLimitRequestRatio}}
		for _, ls := range lists {
			for _, k := range resourceNames(ls.list) {
				if !slices.Contains(limitRangeResources, corev1.ResourceName(k)) {
					c.add(f+"."+ls.name+"."+k, "resource %q is not supported by tug; use cpu or memory", k)
					continue
				}
				if v := ls.list[corev1.ResourceName(k)]; v.Sign() < 0 {
					c.add(f+"."+ls.name+"."+k, "must not be negative")
				}
			}
		}
		for _, r := range limitRangeResources {
			min, hasMin := l.Min[r]
			max, hasMax := l.Max[r]
			def, hasDef := l.Default[r]
			defReq, hasDefReq := l.DefaultRequest[r]
			ratio, hasRatio := l.MaxLimitRequestRatio[r]
			if hasMin && hasMax && min.Cmp(max) > 0 {
				c.add(f+".min."+string(r), "min %s is more than max %s", min.String(), max.String())
			}
			if hasDefReq && hasMin && defReq.Cmp(min) < 0 {
				c.add(f+".defaultRequest."+string(r), "defaultRequest %s is less than min %s", defReq.String(), min.String())
			}
			if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
				c.add(f+".defaultRequest."+string(r), "defaultRequest %s is more than max %s", defReq.String(), max.String())
			}
			if hasDef && hasMin && def.Cmp(min) < 0 {
				c.add(f+".default."+string(r), "default %s is less than min %s", def.String(), min.String())
			}
			if hasDef && hasMax && def.Cmp(max) > 0 {
				c.add(f+".default."+string(r), "default %s is more than max %s", def.String(), max.String())
			}
			if hasDef && hasDefReq && defReq.Cmp(def) > 0 {
				c.add(f+".defaultRequest."+string(r), "defaultRequest %s is more than default %s", defReq.String(), def.String())
			}
			if hasRatio && ratio.Cmp(resource.MustParse("1")) < 0 {
				c.add(f+".maxLimitRequestRatio."+string(r), "must be at least 1")
			}
		}
	}
}

// endpoints checks a committed Endpoints object (for a Service without a
// selector; validateEndpointsOwners checks that part).
func (c *checker) endpoints(ep *corev1.Endpoints) {
	if len(ep.Name) > 0 {
		// An Endpoints object is found by its Service's name.
		c.addAll("metadata.name", validation.IsDNS1035Label(ep.Name))
	}
	for i, ss := range ep.Subsets {
		f := "subsets[" + strconv.Itoa(i) + "]"
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			c.add(f, "a subset needs addresses or notReadyAddresses")
		}
		for j, a := range ss.Addresses {
			c.endpointAddress(f+".addresses["+strconv.Itoa(j)+"]", a)
		}
		for j, a := range ss.NotReadyAddresses {
			c.endpointAddress(f+".notReadyAddresses["+strconv.Itoa(j)+"]", a)
		}
		if len(ss.Ports) == 0 {
			c.add(f+".ports", "at least one port is required")
		}
		names := map[string]int{}
		for j, p := range ss.Ports {
			pf := f + ".ports[" + strconv.Itoa(j) + "]"
			switch {
			case p.Name == "" && len(ss.Ports) > 1:
				c.add(pf+".name", "name is required when a subset has more than one port; use the Service port's name")
			case p.Name != "":
				c.addAll(pf+".name", content.IsDNS1123Label(p.Name))
				if k, dup := names[p.Name]; dup {
					c.add(pf+".name", "name %q is also used by ports[%d]", p.Name, k)
				}
				names[p.Name] = j
			}
			c.addAll(pf+".port", validation.IsValidPortNum(int(p.Port)))
			c.protocol(pf+".protocol", p.Protocol)
		}
	}
}

func (c *checker) endpointAddress(f string, a corev1.EndpointAddress) {
	ip, err := netip.ParseAddr(a.IP)
	switch {
	case err != nil || ip.Zone() != "" || ip.String() != a.IP:
		c.add(f+".ip", "must be an IPv4 address in canonical form")
	case !ip.Is4():
		c.add(f+".ip", "only IPv4 addresses are supported by tug")
	case ip.IsUnspecified():
		c.add(f+".ip", "may not be unspecified (0.0.0.0)")
	case ip.IsLoopback():
		c.add(f+".ip", "may not be in the loopback range (127.0.0.0/8)")
	case ip.IsLinkLocalUnicast():
		c.add(f+".ip", "may not be in the link-local range (169.254.0.0/16)")
	case ip.IsMulticast() || ip.IsLinkLocalMulticast():
		c.add(f+".ip", "may not be a multicast address")
	case ServiceCIDR.Contains(ip):
		c.add(f+".ip", "%s is in the service CIDR %s; an endpoint must be a pod or an outside address", ip, ServiceCIDR)
	}
	if a.Hostname != "" {
		c.addAll(f+".hostname", content.IsDNS1123Label(a.Hostname))
	}
}

// validateEndpointsOwners refuses a committed Endpoints object whose Service
// has a selector: tug computes that Service's endpoints from its pods.
func validateEndpointsOwners(objs []Decoded) ErrorList {
	selectors := map[Key]*Decoded{}
	for i := range objs {
		if svc, ok := objs[i].Object.(*corev1.Service); ok && len(svc.Spec.Selector) > 0 {
			selectors[Key{Kind: KindService, Namespace: svc.Namespace, Name: svc.Name}] = &objs[i]
		}
	}
	var errs ErrorList
	for i := range objs {
		ep, ok := objs[i].Object.(*corev1.Endpoints)
		if !ok {
			continue
		}
		if svc := selectors[Key{Kind: KindService, Namespace: ep.Namespace, Name: ep.Name}]; svc != nil {
			c := &checker{d: &objs[i]}
			c.add("metadata.name", "Service %s/%s at %s has a selector, so tug computes its Endpoints from its pods; remove this Endpoints object or the Service's spec.selector", ep.Namespace, ep.Name, svc.Source)
			errs = append(errs, c.errs...)
		}
	}
	return errs
}

// resourceNames returns the names of l, sorted.
func resourceNames(l corev1.ResourceList) []string {
	out := make([]string, 0, len(l))
	for k := range l {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}
