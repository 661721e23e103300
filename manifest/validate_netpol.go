package manifest

import (
	"net/netip"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// networkPolicy checks a committed NetworkPolicy: valid selectors, policy
// types Ingress or Egress, each peer either selectors or one IPv4 ipBlock
// whose exceptions lie inside its cidr, and ports whose endPort follows a
// numeric port.
func (c *checker) networkPolicy(np *networkingv1.NetworkPolicy) {
	c.labelSelector("spec.podSelector", &np.Spec.PodSelector)
	seen := map[networkingv1.PolicyType]bool{}
	for i, pt := range np.Spec.PolicyTypes {
		f := "spec.policyTypes[" + strconv.Itoa(i) + "]"
		switch pt {
		case networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress:
			if seen[pt] {
				c.add(f, "%s is listed twice", pt)
			}
			seen[pt] = true
		default:
			c.add(f, "must be Ingress or Egress")
		}
	}
	for i, r := range np.Spec.Ingress {
		f := "spec.ingress[" + strconv.Itoa(i) + "]"
		for j := range r.From {
			c.policyPeer(f+".from["+strconv.Itoa(j)+"]", &r.From[j])
		}
		c.policyPorts(f, r.Ports)
	}
	for i, r := range np.Spec.Egress {
		f := "spec.egress[" + strconv.Itoa(i) + "]"
		for j := range r.To {
			c.policyPeer(f+".to["+strconv.Itoa(j)+"]", &r.To[j])
		}
		c.policyPorts(f, r.Ports)
	}
}

// labelSelector checks a selector that may be empty (selecting everything).
func (c *checker) labelSelector(field string, sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	c.labels(field+".matchLabels", sel.MatchLabels)
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		c.add(field, "invalid selector: %v", err)
	}
}

func (c *checker) policyPeer(f string, p *networkingv1.NetworkPolicyPeer) {
	selectors := p.PodSelector != nil || p.NamespaceSelector != nil
	switch {
	case p.IPBlock != nil && selectors:
		c.add(f, "ipBlock cannot be combined with podSelector or namespaceSelector: make them two peers")
	case p.IPBlock == nil && !selectors:
		c.add(f, "a peer needs podSelector, namespaceSelector or ipBlock")
	}
	c.labelSelector(f+".podSelector", p.PodSelector)
	c.labelSelector(f+".namespaceSelector", p.NamespaceSelector)
	if p.IPBlock == nil {
		return
	}
	cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
	switch {
	case p.IPBlock.CIDR == "":
		c.add(f+".ipBlock.cidr", "cidr is required, e.g. 10.42.0.0/16")
		return
	case err != nil:
		c.add(f+".ipBlock.cidr", "%q is not a CIDR such as 10.42.0.0/16", p.IPBlock.CIDR)
		return
	case !cidr.Addr().Is4():
		c.add(f+".ipBlock.cidr", "IPv6 is not supported by tug yet")
		return
	}
	for k, e := range p.IPBlock.Except {
		ef := f + ".ipBlock.except[" + strconv.Itoa(k) + "]"
		ex, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			c.add(ef, "%q is not a CIDR such as 10.42.1.0/24", e)
		case !ex.Addr().Is4() || ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()):
			c.add(ef, "%s is not strictly inside the cidr %s", e, p.IPBlock.CIDR)
		}
	}
}

func (c *checker) policyPorts(f string, ports []networkingv1.NetworkPolicyPort) {
	for i, p := range ports {
		pf := f + ".ports[" + strconv.Itoa(i) + "]"
		if p.Protocol != nil {
			c.protocol(pf+".protocol", *p.Protocol)
		}
		if p.Port != nil {
			if p.Port.Type == intstr.Int {
				c.addAll(pf+".port", validation.IsValidPortNum(int(p.Port.IntVal)))
			} else {
				c.addAll(pf+".port", validation.IsValidPortName(p.Port.StrVal))
			}
		}
		if p.EndPort == nil {
			continue
		}
		switch {
		case p.Port == nil || p.Port.Type != intstr.Int:
			c.add(pf+".endPort", "endPort needs a numeric port to start the range")
		case *p.EndPort < p.Port.IntVal:
			c.add(pf+".endPort", "endPort %d is below port %d", *p.EndPort, p.Port.IntVal)
		case *p.EndPort > 65535:
			c.add(pf+".endPort", "endPort %d is above 65535", *p.EndPort)
		}
	}
}
