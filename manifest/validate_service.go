package manifest

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	corev1 "k8s.io/api/core/v1"
)

// MaxAffinityTimeoutSeconds bounds sessionAffinityConfig.clientIP.timeoutSeconds
// (Kubernetes' limit: one day).
const MaxAffinityTimeoutSeconds = 86400

// externalName checks a Service of type ExternalName: an alias (a CNAME in
// cluster DNS) for spec.externalName, with no address, selector or node
// port of its own. Ports are allowed and ignored, as in Kubernetes.
func (c *checker) externalName(svc *corev1.Service) {
	spec := &svc.Spec
	name := strings.TrimSuffix(spec.ExternalName, ".")
	switch {
	case spec.ExternalName == "":
		c.add("spec.externalName", "is required for type ExternalName: the DNS name the service is an alias for, e.g. db.example.com")
	case strings.ToLower(name) != name:
		c.add("spec.externalName", "must be lower case")
	default:
		c.addAll("spec.externalName", content.IsDNS1123Subdomain(name))
	}
	if spec.ClusterIP != "" {
		c.add("spec.clusterIP", "an ExternalName service has no cluster IP; remove clusterIP")
	}
	if len(spec.Selector) > 0 {
		c.add("spec.selector", "an ExternalName service selects no pods; remove the selector")
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		c.add("spec.sessionAffinity", "does not apply to an ExternalName service (it is only a DNS alias)")
	}
	if spec.ExternalTrafficPolicy != "" {
		c.add("spec.externalTrafficPolicy", "applies only to NodePort services; remove it or set type: NodePort")
	}
	for i, p := range spec.Ports {
		f := "spec.ports[" + strconv.Itoa(i) + "]"
		c.addAll(f+".port", validation.IsValidPortNum(int(p.Port)))
		c.protocol(f+".protocol", p.Protocol)
		if p.NodePort != 0 {
			c.add(f+".nodePort", "nodePort needs type: NodePort")
		}
	}
}

// sessionAffinityConfig checks spec.sessionAffinityConfig: only with
// sessionAffinity ClientIP, a timeout of 1 s to one day.
func (c *checker) sessionAffinityConfig(spec *corev1.ServiceSpec) {
	cfg := spec.SessionAffinityConfig
	if cfg == nil {
		return
	}
	if spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		c.add("spec.sessionAffinityConfig", "applies only with sessionAffinity: ClientIP")
		return
	}
	if cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
		if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > MaxAffinityTimeoutSeconds {
			c.add("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "must be between 1 and %d (one day); the default is 10800", MaxAffinityTimeoutSeconds)
		}
	}
}
