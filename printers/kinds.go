package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func deploymentColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string"),
		column("Up-to-date", "integer"),
		column("Available", "integer"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
		wide("Selector"),
	}
}

func deploymentRow(obj manifest.Object, now time.Time) ([]any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil, fmt.Errorf("not a deployment: %T", obj)
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp, now),
		names, images, selectorString(d.Spec.Selector),
	}, nil
}

func replicaSetColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer"),
		column("Current", "integer"),
		column("Ready", "integer"),
		column("Age", "string"),
		wide("Containers"),
		wide("Images"),
		wide("Selector"),
	}
}

func replicaSetRow(obj manifest.Object, now time.Time) ([]any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, fmt.Errorf("not a replicaset: %T", obj)
	}
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name,
		int64(replicas(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now),
		names, images, selectorString(rs.Spec.Selector),
	}, nil
}

// replicas is spec.replicas with the Kubernetes default of 1 when unset:
// tug has no API server to fill in defaults, so the printer applies this one.
func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func containerCells(cs []corev1.Container) (names, images string) {
	n := make([]string, len(cs))
	im := make([]string, len(cs))
	for i, c := range cs {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func selectorString(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "<invalid>"
	}
	return sel.String()
}

func serviceColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string"),
		column("Cluster-IP", "string"),
		column("External-IP", "string"),
		column("Port(s)", "string"),
		column("Age", "string"),
		wide("Selector"),
	}
}

func serviceRow(obj manifest.Object, now time.Time) ([]any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("not a service: %T", obj)
	}
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		clusterIP = svc.Spec.ClusterIP
	}
	typ := svc.Spec.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP // the API default
	}
	return []any{
		svc.Name,
		string(typ),
		clusterIP,
		externalIP(svc, typ),
		orNone(portString(svc.Spec.Ports)),
		age(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}, nil
}

func externalIP(svc *corev1.Service, typ corev1.ServiceType) string {
	switch typ {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		seen := map[string]bool{}
		var ips []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			v := in.IP
			if v == "" {
				v = in.Hostname
			}
			if v != "" && !seen[v] {
				seen[v] = true
				ips = append(ips, v)
			}
		}
		sort.Strings(ips)
		ips = append(ips, svc.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

func portString(ports []corev1.ServicePort) string {
	out := make([]string, len(ports))
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP // the API default
		}
		if p.NodePort > 0 {
			out[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto)
		} else {
			out[i] = fmt.Sprintf("%d/%s", p.Port, proto)
		}
	}
	return strings.Join(out, ",")
}

func configMapColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Data", "integer"), column("Age", "string")}
}

func configMapRow(obj manifest.Object, now time.Time) ([]any, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("not a configmap: %T", obj)
	}
	return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}, nil
}

func secretColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Type", "string"), column("Data", "integer"), column("Age", "string")}
}

func secretRow(obj manifest.Object, now time.Time) ([]any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil, fmt.Errorf("not a secret: %T", obj)
	}
	// The API server folds stringData into data; count the union of keys.
	keys := len(s.Data)
	for k := range s.StringData {
		if _, dup := s.Data[k]; !dup {
			keys++
		}
	}
	typ := s.Type
	if typ == "" {
		typ = corev1.SecretTypeOpaque // the API default
	}
	return []any{s.Name, string(typ), int64(keys), age(s.CreationTimestamp, now)}, nil
}

func nodeColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string"),
		column("Roles", "string"),
		column("Age", "string"),
		column("Version", "string"),
		wide("Internal-IP"),
		wide("External-IP"),
		wide("OS-Image"),
		wide("Kernel-Version"),
		wide("Container-Runtime"),
	}
}

func nodeRow(obj manifest.Object, now time.Time) ([]any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("not a node: %T", obj)
	}
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	info := n.Status.NodeInfo
	return []any{
		n.Name,
		status,
		orNone(strings.Join(nodeRoles(n.Labels), ",")),
		age(n.CreationTimestamp, now),
		info.KubeletVersion,
		orNone(nodeAddress(n, corev1.NodeInternalIP)),
		orNone(nodeAddress(n, corev1.NodeExternalIP)),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
	}, nil
}

// nodeRoles reads roles from node-role.kubernetes.io/<role> labels and the
// kubernetes.io/role label, sorted and without duplicates.
func nodeRoles(lbls map[string]string) []string {
	set := map[string]bool{}
	for k, v := range lbls {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			set[role] = true
		} else if k == "kubernetes.io/role" && v != "" {
			set[v] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func nodeAddress(n *corev1.Node, typ corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func namespaceColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Status", "string"), column("Age", "string")}
}

func namespaceRow(obj manifest.Object, now time.Time) ([]any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, fmt.Errorf("not a namespace: %T", obj)
	}
	phase := ns.Status.Phase
	if phase == "" {
		phase = corev1.NamespaceActive // the API default
	}
	return []any{ns.Name, string(phase), age(ns.CreationTimestamp, now)}, nil
}
