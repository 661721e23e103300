package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the network policy part of tug's table.
const (
	// SetIngressIsolated and SetEgressIsolated (ipv4_addr) hold this
	// node's pods that some policy selects for that direction.
	SetIngressIsolated = "ingress-isolated"
	SetEgressIsolated  = "egress-isolated"
	// ChainPolicyForward is the filter base chain (hook forward, priority
	// filter: after the service DNAT, so egress to a service is checked
	// against the endpoint pod).
	ChainPolicyForward = "policy-forward"
	ChainPolicyIngress = "policy-ingress" // allow rules to isolated pods; accept or drop
	ChainPolicyEgress  = "policy-egress"  // allow rules from isolated pods; return or drop
	// podSetPrefix names the sets of pod addresses a selector matches:
	// pods-<hash of the selector key>.
	podSetPrefix = "pods-"
	// portSetPrefix names the sets of named ports: port-<proto>-<name>,
	// elements pod address . protocol . number.
	portSetPrefix = "port-"
)

// PolicyElem is an element of a policy set: a pod address, plus the
// protocol and port number for a named port set.
type PolicyElem struct {
	Addr  netip.Addr
	Proto Protocol
	Port  uint16
}

func comparePolicyElems(a, b PolicyElem) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// PolicySet is one named set of the policy part: the pods a selector
// matches (Key says which), or the pods with a named port (Named).
type PolicySet struct {
	Name  string
	Key   string // what it holds, for people: "ns/selector", "{nsSelector}/selector", "tcp/http"
	Named bool   // ipv4_addr . inet_proto . inet_service instead of ipv4_addr
	Elems []PolicyElem
}

// PolicyRule is one allow rule. In policy-ingress it matches ip daddr
// @Targets and the peer on ip saddr and accepts; in policy-egress it
// matches ip saddr @Targets and the peer on ip daddr and returns (to the
// ingress check). The peer is Peers (a pod set), or CIDR minus Except, or
// anyone when both are unset; the port is Proto (0: any) and Port…EndPort
// (0: any), or the named port set PortSet (ip daddr . l4proto . dport).
type PolicyRule struct {
	Targets string
	Peers   string
	CIDR    netip.Prefix
	Except  []netip.Prefix
	Proto   Protocol
	Port    uint16
	EndPort uint16 // == Port for one port
	PortSet string
}

func (r PolicyRule) equal(o PolicyRule) bool {
	return r.Targets == o.Targets && r.Peers == o.Peers && r.CIDR == o.CIDR && slices.Equal(r.Except, o.Except) &&
		r.Proto == o.Proto && r.Port == o.Port && r.EndPort == o.EndPort && r.PortSet == o.PortSet
}

// PolicyRules is the compiled network policy of one node: the sets (sorted
// by name, the isolation sets among them) and the rules of the ingress and
// egress chains, in order.
type PolicyRules struct {
	Sets    []PolicySet
	Ingress []PolicyRule
	Egress  []PolicyRule
}

// CompilePolicies turns NetworkPolicies into this node's rules. A pod on
// node (every pod when node is "") selected by a policy of its namespace
// is isolated in the policy's directions; the allow rules are the union of
// all policies. Selector sets hold matching pods cluster-wide (peers may be
// anywhere); named ports resolve against the destination pod's container
// ports. Pods without an IPv4 address, host-network pods and finished pods
// are in no set. It is pure.
func CompilePolicies(node string, policies []*networkingv1.NetworkPolicy, pods []*corev1.Pod, namespaces []*corev1.Namespace) *PolicyRules {
	c := &compiler{sets: map[string]*PolicySet{}, nsLabels: map[string]labels.Set{}, nsFull: map[string]labels.Set{}}
	for _, ns := range namespaces {
		c.nsLabels[ns.Name] = ns.Labels
	}
	for _, p := range pods {
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		addr, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !addr.Is4() {
			continue
		}
		c.pods = append(c.pods, policyPod{pod: p, addr: addr, local: node == "" || p.Spec.NodeName == node})
	}
	slices.SortFunc(c.pods, func(a, b policyPod) int { return a.addr.Compare(b.addr) })
	c.byNS = map[string][]policyPod{}
	for _, p := range c.pods {
		c.byNS[p.pod.Namespace] = append(c.byNS[p.pod.Namespace], p) // still sorted
	}
	policies = slices.Clone(policies)
	slices.SortFunc(policies, func(a, b *networkingv1.NetworkPolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	isolated := map[string]map[netip.Addr]bool{SetIngressIsolated: {}, SetEgressIsolated: {}}
	for _, np := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			continue // validation refuses it; select nothing rather than everything
		}
		ingress, egress := policyTypes(np)
		targets := c.podSet(nil, np.Namespace, sel)
		for _, p := range c.byNS[np.Namespace] {
			if p.local && sel.Matches(labels.Set(p.pod.Labels)) {
				if ingress {
					isolated[SetIngressIsolated][p.addr] = true
				}
				if egress {
					isolated[SetEgressIsolated][p.addr] = true
				}
			}
		}
		if ingress {
			for _, r := range np.Spec.Ingress {
				c.ingress = c.rules(c.ingress, np.Namespace, targets, r.From, r.Ports)
			}
		}
		if egress {
			for _, r := range np.Spec.Egress {
				c.egress = c.rules(c.egress, np.Namespace, targets, r.To, r.Ports)
			}
		}
	}
	out := &PolicyRules{Ingress: c.ingress, Egress: c.egress}
	for name, addrs := range isolated {
		s := PolicySet{Name: name, Key: name}
		for a := range addrs {
			s.Elems = append(s.Elems, PolicyElem{Addr: a})
		}
		slices.SortFunc(s.Elems, comparePolicyElems)
		out.Sets = append(out.Sets, s)
	}
	for _, s := range c.sets {
		out.Sets = append(out.Sets, *s)
	}
	slices.SortFunc(out.Sets, func(a, b PolicySet) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// policyTypes reports the directions np isolates: its policyTypes, or
// Ingress plus Egress when it has egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress), slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

type policyPod struct {
	pod   *corev1.Pod
	addr  netip.Addr
	local bool
}

type compiler struct {
	pods            []policyPod            // sorted by address
	byNS            map[string][]policyPod // by namespace, each sorted by address
	nsLabels        map[string]labels.Set  // as the Namespace objects have them
	nsFull          map[string]labels.Set  // namespaceLabels, computed once
	sets            map[string]*PolicySet
	ingress, egress []PolicyRule
}

// podSet returns the name of the set of pods in namespaces nsSel matches
// (namespace ns alone when nsSel is nil) whose labels podSel matches,
// creating it on first use.
func (c *compiler) podSet(nsSel labels.Selector, ns string, podSel labels.Selector) string {
	var key string
	if nsSel == nil {
		key = ns + "/" + podSel.String()
	} else {
		key = "{" + nsSel.String() + "}/" + podSel.String()
	}
	sum := sha256.Sum256([]byte(key))
	name := podSetPrefix + hex.EncodeToString(sum[:6])
	if _, ok := c.sets[name]; ok {
		return name
	}
	s := &PolicySet{Name: name, Key: key}
	pods := c.byNS[ns]
	if nsSel != nil {
		pods = c.pods
	}
	for _, p := range pods {
		if nsSel != nil && !nsSel.Matches(c.namespaceLabels(p.pod.Namespace)) {
			continue
		}
		if podSel.Matches(labels.Set(p.pod.Labels)) {
			s.Elems = append(s.Elems, PolicyElem{Addr: p.addr})
		}
	}
	c.sets[name] = s
	return name
}

// namespaceLabels returns the labels of namespace ns plus the label
// kubernetes.io/metadata.name=ns that Kubernetes gives every namespace
// (also when ns has no Namespace object).
func (c *compiler) namespaceLabels(ns string) labels.Set {
	if l, ok := c.nsFull[ns]; ok {
		return l
	}
	out := labels.Set{metadataNameLabel: ns}
	for k, v := range c.nsLabels[ns] {
		if k != metadataNameLabel {
			out[k] = v
		}
	}
	c.nsFull[ns] = out
	return out
}

// metadataNameLabel is the label every namespace carries with its name.
const metadataNameLabel = "kubernetes.io/metadata.name"

// portSet returns the name of the set of every pod's container port named
// name with protocol proto, creating it on first use.
func (c *compiler) portSet(proto Protocol, name string) string {
	setName := portSetPrefix + proto.String() + "-" + name
	if _, ok := c.sets[setName]; ok {
		return setName
	}
	s := &PolicySet{Name: setName, Key: proto.String() + "/" + name, Named: true}
	for _, p := range c.pods {
		for _, ct := range p.pod.Spec.Containers {
			for _, cp := range ct.Ports {
				pr, ok := protocolOf(cp.Protocol)
				if ok && pr == proto && cp.Name == name && cp.ContainerPort > 0 && cp.ContainerPort <= 65535 {
					s.Elems = append(s.Elems, PolicyElem{Addr: p.addr, Proto: proto, Port: uint16(cp.ContainerPort)})
				}
			}
		}
	}
	slices.SortFunc(s.Elems, comparePolicyElems)
	s.Elems = slices.Compact(s.Elems)
	c.sets[setName] = s
	return setName
}

// rules appends the allow rules of one ingress or egress rule: one per
// peer and port (a rule without peers allows anyone, one without ports
// every port), skipping rules already present.
func (c *compiler) rules(out []PolicyRule, ns, targets string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) []PolicyRule {
	peerRules := []PolicyRule{{Targets: targets}}
	if len(peers) > 0 {
		peerRules = peerRules[:0]
	}
	for _, peer := range peers {
		r := PolicyRule{Targets: targets}
		switch {
		case peer.IPBlock != nil:
			cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
			if err != nil || !cidr.Addr().Is4() {
				continue
			}
			r.CIDR = cidr.Masked()
			for _, e := range peer.IPBlock.Except {
				if ex, err := netip.ParsePrefix(e); err == nil && ex.Addr().Is4() {
					r.Except = append(r.Except, ex.Masked())
				}
			}
			slices.SortFunc(r.Except, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
			r.Except = slices.Compact(r.Except)
		default:
			podSel, nsSel := labels.Everything(), labels.Selector(nil)
			if peer.PodSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
				if err != nil {
					continue
				}
				podSel = s
			}
			if peer.NamespaceSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
				if err != nil {
					continue
				}
				nsSel = s
			}
			r.Peers = c.podSet(nsSel, ns, podSel)
		}
		peerRules = append(peerRules, r)
	}
	for _, r := range peerRules {
		if len(ports) == 0 {
			out = c.appendRule(out, r)
			continue
		}
		for _, p := range ports {
			proto, ok := TCP, true
			if p.Protocol != nil {
				proto, ok = protocolOf(*p.Protocol)
			}
			if !ok {
				continue
			}
			pr := r
			pr.Proto = proto
			switch {
			case p.Port == nil:
			case p.Port.Type == intstr.String:
				pr.PortSet = c.portSet(proto, p.Port.StrVal)
			case p.Port.IntVal > 0 && p.Port.IntVal <= 65535:
				pr.Port, pr.EndPort = uint16(p.Port.IntVal), uint16(p.Port.IntVal)
				if p.EndPort != nil && *p.EndPort > p.Port.IntVal && *p.EndPort <= 65535 {
					pr.EndPort = uint16(*p.EndPort)
				}
			default:
				continue
			}
			out = c.appendRule(out, pr)
		}
	}
	return out
}

func (c *compiler) appendRule(out []PolicyRule, r PolicyRule) []PolicyRule {
	if slices.ContainsFunc(out, r.equal) {
		return out
	}
	return append(out, r)
}
