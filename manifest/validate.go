package manifest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// NodePort range tug allocates and accepts.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// Service addresses (DESIGN.md).
var (
	// ServiceCIDR is the range cluster IPs come from.
	ServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
	// APIServiceIP is reserved, as Kubernetes keeps the first address of the
	// range for its API service.
	APIServiceIP = netip.MustParseAddr("10.43.0.1")
	// ClusterDNSIP is reserved for the cluster DNS service.
	ClusterDNSIP = netip.MustParseAddr("10.43.0.10")
)

// CheckClusterIP says what is wrong with a cluster IP a Service asks for, or
// returns "" when tug can give it out.
func CheckClusterIP(ip netip.Addr) string {
	b := ServiceCIDR.Masked().Addr().As4()
	host := uint32(1)<<(32-ServiceCIDR.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	last := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	switch {
	case !ServiceCIDR.Contains(ip):
		return fmt.Sprintf("%s is outside the service CIDR %s; choose an address in it or leave clusterIP out", ip, ServiceCIDR)
	case ip == ServiceCIDR.Masked().Addr() || ip == last:
		return fmt.Sprintf("%s is the network or broadcast address of %s; choose another", ip, ServiceCIDR)
	case ip == APIServiceIP:
		return fmt.Sprintf("%s is reserved; choose another address or leave clusterIP out", ip)
	case ip == ClusterDNSIP:
		return fmt.Sprintf("%s is reserved for the cluster DNS service; choose another address or leave clusterIP out", ip)
	}
	return ""
}

const (
	maxDataSize       = 1 << 20   // ConfigMap and Secret payload
	maxAnnotationSize = 256 << 10 // all annotations of one object
)

// Validate checks a whole set of decoded objects, normally every object of
// one commit: each object on its own, then the rules that span objects
// (duplicates, namespaces, references, port and address clashes). It returns
// nil or an ErrorList sorted by file and line. Messages never contain Secret
// values.
func Validate(objs []Decoded) error {
	return ValidateSet(objs, ValidateObjects(objs))
}

// checker collects the errors of one object.
type checker struct {
	d    *Decoded
	errs ErrorList
	// claimVolumes are the volumes a StatefulSet's volumeClaimTemplates
	// add to its pods (template name → index).
	claimVolumes map[string]int
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{
		File:   c.d.Source.File,
		Line:   c.d.FieldLine(field),
		Object: describeObject(c.d.Object),
		Field:  field,
		Msg:    fmt.Sprintf(format, args...),
	})
}

// addAll adds one error for field joining msgs, if there are any.
func (c *checker) addAll(field string, msgs []string) {
	if len(msgs) > 0 {
		c.add(field, "%s", strings.Join(msgs, "; "))
	}
}

func validateObject(d *Decoded) ErrorList {
	if d.Object == nil {
		return ErrorList{{File: d.Source.File, Line: d.Source.Line, Msg: "no object"}}
	}
	c := &checker{d: d}
	c.metadata()
	switch obj := d.Object.(type) {
	case *corev1.Namespace:
	case *corev1.ConfigMap:
		c.configMap(obj)
	case *corev1.Secret:
		c.secret(obj)
	case *corev1.Service:
		c.service(obj)
	case *appsv1.Deployment:
		c.deployment(obj)
	case *batchv1.Job:
		c.job("spec", &obj.Spec)
	case *batchv1.CronJob:
		c.cronJob(obj)
	case *appsv1.DaemonSet:
		c.daemonSet(obj)
	case *appsv1.StatefulSet:
		c.statefulSet(obj)
	case *corev1.Node:
		c.node(obj)
	case *corev1.PersistentVolume:
		c.persistentVolume(obj)
	case *corev1.PersistentVolumeClaim:
		c.persistentVolumeClaim(obj)
	case *storagev1.StorageClass:
		c.storageClass(obj)
	case *corev1.Endpoints:
		c.endpoints(obj)
	case *corev1.ResourceQuota:
		c.resourceQuota(obj)
	case *corev1.LimitRange:
		c.limitRange(obj)
	case *networkingv1.NetworkPolicy:
		c.networkPolicy(obj)
	case *policyv1.PodDisruptionBudget:
		c.podDisruptionBudget(obj) // validate_pdb.go
	default:
		c.add("kind", "%s objects cannot be committed", KindOf(d.Object))
	}
	return c.errs
}

func (c *checker) metadata() {
	obj := c.d.Object
	kind := KindOf(obj)
	name := obj.GetName()
	switch {
	case name == "":
		c.add("metadata.name", "name is required")
	case kind == KindNamespace:
		c.addAll("metadata.name", content.IsDNS1123Label(name))
	case kind == KindService:
		c.addAll("metadata.name", validation.IsDNS1035Label(name))
	default:
		c.addAll("metadata.name", content.IsDNS1123Subdomain(name))
	}
	if Namespaced(kind) {
		if ns := obj.GetNamespace(); ns == "" {
			c.add("metadata.namespace", "namespace is required")
		} else {
			c.addAll("metadata.namespace", content.IsDNS1123Label(ns))
		}
	}
	c.labels("metadata.labels", obj.GetLabels())
	c.annotations("metadata.annotations", obj.GetAnnotations())
}

func (c *checker) labels(field string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		p := joinPath(field, k)
		c.addAll(p, prefixMsgs("key", content.IsLabelKey(k)))
		c.addAll(p, prefixMsgs("value", content.IsLabelValue(labels[k])))
	}
}

func (c *checker) annotations(field string, annotations map[string]string) {
	size := 0
	for _, k := range sortedKeys(annotations) {
		size += len(k) + len(annotations[k])
		c.addAll(joinPath(field, k), prefixMsgs("key", content.IsLabelKey(strings.ToLower(k))))
	}
	if size > maxAnnotationSize {
		c.add(field, "annotations take %d bytes, more than the %d allowed", size, maxAnnotationSize)
	}
}

func prefixMsgs(prefix string, msgs []string) []string {
	for i, m := range msgs {
		msgs[i] = prefix + ": " + m
	}
	return msgs
}

func (c *checker) configMap(cm *corev1.ConfigMap) {
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		size += len(k) + len(cm.Data[k])
		c.addAll(joinPath("data", k), validation.IsConfigMapKey(k))
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		size += len(k) + len(cm.BinaryData[k])
		p := joinPath("binaryData", k)
		c.addAll(p, validation.IsConfigMapKey(k))
		if _, dup := cm.Data[k]; dup {
			c.add(p, "key %q is also in data; a key may be in data or binaryData, not both", k)
		}
	}
	if size > maxDataSize {
		c.add("data", "data takes %d bytes, more than the %d allowed", size, maxDataSize)
	}
}

// secretRequiredKeys lists the keys some Secret types must have.
var secretRequiredKeys = map[corev1.SecretType][]string{
	corev1.SecretTypeTLS:              {corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
	corev1.SecretTypeDockerConfigJson: {corev1.DockerConfigJsonKey},
	corev1.SecretTypeDockercfg:        {corev1.DockerConfigKey},
}

// secret checks a Secret. Only keys are ever named, never values.
func (c *checker) secret(s *corev1.Secret) {
	size := 0
	for _, k := range sortedKeys(s.Data) {
		size += len(k) + len(s.Data[k])
		p := joinPath("data", k)
		if _, ok := c.d.lines[p]; !ok {
			if _, inStringData := c.d.lines[joinPath("stringData", k)]; inStringData {
				p = joinPath("stringData", k)
			}
		}
		c.addAll(p, validation.IsConfigMapKey(k))
	}
	if size > maxDataSize {
		c.add("data", "data takes %d bytes, more than the %d allowed", size, maxDataSize)
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken, corev1.SecretTypeBootstrapToken:
		c.add("type", "type %s is not supported by tug yet; use Opaque", s.Type)
	case "":
	default:
		c.addAll("type", content.IsLabelKey(string(s.Type)))
	}
	for _, k := range secretRequiredKeys[s.Type] {
		if _, ok := s.Data[k]; !ok {
			c.add("type", "a Secret of type %s needs the key %q in data or stringData", s.Type, k)
		}
	}
	c.dockerConfig(s) // validate_secret.go
}

func (c *checker) service(svc *corev1.Service) {
	spec := &svc.Spec
	switch spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
	case corev1.ServiceTypeExternalName:
		c.externalName(svc) // validate_service.go
		return
	case corev1.ServiceTypeLoadBalancer:
		c.add("spec.type", "type %s is not supported by tug yet; use ClusterIP, NodePort or ExternalName", spec.Type)
	default:
		c.add("spec.type", "unknown type %q; use ClusterIP, NodePort or ExternalName", spec.Type)
	}
	if spec.ExternalName != "" {
		c.add("spec.externalName", "applies only to type ExternalName")
	}
	c.sessionAffinityConfig(spec) // validate_service.go
	headless := spec.ClusterIP == corev1.ClusterIPNone
	switch {
	case spec.ClusterIP == "" || headless:
	default:
		if ip, err := netip.ParseAddr(spec.ClusterIP); err != nil || ip.Zone() != "" || ip.String() != spec.ClusterIP {
			c.add("spec.clusterIP", "must be an IP address in canonical form, \"None\" for a headless service, or left out")
		} else if msg := CheckClusterIP(ip); msg != "" {
			c.add("spec.clusterIP", "%s", msg)
		}
	}
	if headless && spec.Type == corev1.ServiceTypeNodePort {
		c.add("spec.clusterIP", "a NodePort service cannot be headless (clusterIP: None)")
	}
	switch spec.SessionAffinity {
	case "", corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
	default:
		c.add("spec.sessionAffinity", "must be None or ClientIP")
	}
	switch spec.ExternalTrafficPolicy {
	case "", corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
		if spec.ExternalTrafficPolicy != "" && spec.Type != corev1.ServiceTypeNodePort {
			c.add("spec.externalTrafficPolicy", "applies only to NodePort services; remove it or set type: NodePort")
		}
	default:
		c.add("spec.externalTrafficPolicy", "must be Cluster or Local")
	}
	c.labels("spec.selector", spec.Selector)
	if len(spec.Ports) == 0 && !headless {
		c.add("spec.ports", "at least one port is required (or clusterIP: None for a headless service)")
	}
	names := map[string]int{}
	ports := map[string]int{}
	for i, p := range spec.Ports {
		f := "spec.ports[" + strconv.Itoa(i) + "]"
		switch {
		case p.Name == "" && len(spec.Ports) > 1:
			c.add(f+".name", "name is required when a service has more than one port")
		case p.Name != "":
			c.addAll(f+".name", content.IsDNS1123Label(p.Name))
			if j, dup := names[p.Name]; dup {
				c.add(f+".name", "name %q is also used by spec.ports[%d]", p.Name, j)
			}
			names[p.Name] = i
		}
		c.addAll(f+".port", validation.IsValidPortNum(int(p.Port)))
		c.protocol(f+".protocol", p.Protocol)
		key := fmt.Sprintf("%d/%s", p.Port, protocolOrTCP(p.Protocol))
		if j, dup := ports[key]; dup {
			c.add(f+".port", "port %s is also used by spec.ports[%d]", key, j)
		}
		ports[key] = i
		c.intOrPortName(f+".targetPort", p.TargetPort)
		if p.NodePort != 0 {
			if spec.Type != corev1.ServiceTypeNodePort {
				c.add(f+".nodePort", "nodePort needs type: NodePort")
			} else if p.NodePort < NodePortMin || p.NodePort > NodePortMax {
				c.add(f+".nodePort", "must be between %d and %d", NodePortMin, NodePortMax)
			}
		}
	}
}

func (c *checker) protocol(field string, p corev1.Protocol) {
	switch p {
	case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		c.add(field, "must be TCP, UDP or SCTP")
	}
}

func protocolOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// intOrPortName checks a port given as a number or a container port name.
func (c *checker) intOrPortName(field string, v intstr.IntOrString) {
	switch {
	case v.Type == intstr.Int && v.IntVal == 0:
		// left out: defaults to the port
	case v.Type == intstr.Int:
		c.addAll(field, validation.IsValidPortNum(int(v.IntVal)))
	default:
		c.addAll(field, validation.IsValidPortName(v.StrVal))
	}
}
