package reconciler

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Reasons kube-scheduler gives for filtering a node out.
const (
	reasonAffinity = "node(s) didn't match Pod's node affinity/selector"
	reasonHostPort = "node(s) didn't have free ports for the requested pod ports"
)

// untoleratedTaint returns the first NoSchedule or NoExecute taint of the
// node that the pod does not tolerate, in kube-scheduler's wording.
func untoleratedTaint(pod *corev1.Pod, n *corev1.Node) string {
	for i := range n.Spec.Taints {
		taint := &n.Spec.Taints[i]
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(pod.Spec.Tolerations, taint) {
			return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
		}
	}
	return ""
}

func tolerated(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for _, t := range tolerations {
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Key != "" && t.Value == taint.Value {
				return true
			}
		}
	}
	return false
}

// matchesNodeAffinity checks the pod's nodeSelector and its required node
// affinity: one of the terms must match, a term matching when all its
// expressions do.
func matchesNodeAffinity(pod *corev1.Pod, n *corev1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue // an empty term matches nothing
		}
		if termMatches(term, n) {
			return true
		}
	}
	return false
}

func termMatches(term corev1.NodeSelectorTerm, n *corev1.Node) bool {
	for _, e := range term.MatchExpressions {
		v, has := n.Labels[e.Key]
		if !requirementMatches(e, v, has) {
			return false
		}
	}
	for _, e := range term.MatchFields {
		if e.Key != "metadata.name" || !requirementMatches(e, n.Name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(e corev1.NodeSelectorRequirement, v string, has bool) bool {
	in := func() bool {
		for _, x := range e.Values {
			if x == v {
				return true
			}
		}
		return false
	}
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		return has && in()
	case corev1.NodeSelectorOpNotIn:
		return !has || !in()
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(e.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(e.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if e.Operator == corev1.NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

// hostPort is one port a pod takes on its node's addresses.
type hostPort struct {
	ip       string // "" for every address
	protocol corev1.Protocol
	port     int32
}

func podHostPorts(p *corev1.Pod) []hostPort {
	var out []hostPort
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort == 0 {
				continue
			}
			ip := cp.HostIP
			if ip == "0.0.0.0" || ip == "::" {
				ip = ""
			}
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			out = append(out, hostPort{ip: ip, protocol: proto, port: cp.HostPort})
		}
	}
	return out
}

// hostPortsFree reports whether none of want clashes with the node's used
// host ports: the same protocol and port on the same address, or on every
// address.
func hostPortsFree(used []hostPort, want []hostPort) bool {
	for _, w := range want {
		for _, u := range used {
			if u.port == w.port && u.protocol == w.protocol && (u.ip == "" || w.ip == "" || u.ip == w.ip) {
				return false
			}
		}
	}
	return true
}

// ownerUID is the UID of the pod's controller ("" when it has none).
func ownerUID(p *corev1.Pod) types.UID {
	if ref := controllerOf(p.OwnerReferences); ref != nil {
		return ref.UID
	}
	return ""
}
