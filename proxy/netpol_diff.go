package proxy

import (
	"fmt"
	"slices"
	"strings"
)

// emptyPolicy is the policy part with no NetworkPolicy: the isolation sets,
// empty, and no rules.
func emptyPolicy() *PolicyRules {
	return &PolicyRules{Sets: []PolicySet{{Name: SetEgressIsolated, Key: SetEgressIsolated}, {Name: SetIngressIsolated, Key: SetIngressIsolated}}}
}

// PolicyChange turns one PolicyRules into another, in the order the
// Applier sends it (in the same batch as the service Change): add sets
// with their elements, delete and add elements of kept sets, rewrite the
// ingress and egress chains when the rules changed, delete sets.
type PolicyChange struct {
	AddSets  []PolicySet
	DelElems []PolicySet // Name and Elems only
	AddElems []PolicySet
	Rules    bool // rewrite policy-ingress and policy-egress with Ingress and Egress
	Ingress  []PolicyRule
	Egress   []PolicyRule
	DelSets  []string
}

// Empty reports whether c changes nothing.
func (c PolicyChange) Empty() bool {
	return len(c.AddSets) == 0 && len(c.DelElems) == 0 && len(c.AddElems) == 0 && !c.Rules && len(c.DelSets) == 0
}

// policyTracker is the applied policy part, kept in memory like Tracker.
type policyTracker struct {
	sets            map[string]PolicySet
	ingress, egress []PolicyRule
}

func newPolicyTracker() *policyTracker { return &policyTracker{sets: map[string]PolicySet{}} }

// Diff returns the change from the tracked state to pr (nil: no policy)
// and records pr as applied. Its cost is one merge walk over each set's
// sorted elements. pr must not be modified afterwards.
func (t *policyTracker) Diff(pr *PolicyRules) PolicyChange {
	if pr == nil {
		pr = emptyPolicy()
	}
	var ch PolicyChange
	want := make(map[string]bool, len(pr.Sets))
	for _, s := range pr.Sets {
		want[s.Name] = true
		old, ok := t.sets[s.Name]
		if !ok {
			ch.AddSets = append(ch.AddSets, s)
			continue
		}
		add, del := diffElems(old.Elems, s.Elems)
		if len(del) > 0 {
			ch.DelElems = append(ch.DelElems, PolicySet{Name: s.Name, Named: s.Named, Elems: del})
		}
		if len(add) > 0 {
			ch.AddElems = append(ch.AddElems, PolicySet{Name: s.Name, Named: s.Named, Elems: add})
		}
	}
	for name := range t.sets {
		if !want[name] {
			ch.DelSets = append(ch.DelSets, name)
		}
	}
	slices.Sort(ch.DelSets)
	if !slices.EqualFunc(t.ingress, pr.Ingress, PolicyRule.equal) || !slices.EqualFunc(t.egress, pr.Egress, PolicyRule.equal) {
		ch.Rules, ch.Ingress, ch.Egress = true, pr.Ingress, pr.Egress
	}
	clear(t.sets)
	for _, s := range pr.Sets {
		t.sets[s.Name] = s
	}
	t.ingress, t.egress = pr.Ingress, pr.Egress
	return ch
}

// diffElems walks two sorted element lists.
func diffElems(old, cur []PolicyElem) (add, del []PolicyElem) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && comparePolicyElems(old[i], cur[j]) < 0):
			del = append(del, old[i])
			i++
		case i == len(old) || comparePolicyElems(cur[j], old[i]) < 0:
			add = append(add, cur[j])
			j++
		default:
			i++
			j++
		}
	}
	return add, del
}

func (e PolicyElem) text(named bool) string {
	if named {
		return fmt.Sprintf("%s . %s . %d", e.Addr, e.Proto, e.Port)
	}
	return e.Addr.String()
}

// text prints r as an nft rule of chain (ChainPolicyIngress or
// ChainPolicyEgress).
func (r PolicyRule) text(chain string) string {
	self, peer, verdict := "daddr", "saddr", "accept"
	if chain == ChainPolicyEgress {
		self, peer, verdict = "saddr", "daddr", "return"
	}
	parts := []string{"ip " + self + " @" + r.Targets}
	switch {
	case r.Peers != "":
		parts = append(parts, "ip "+peer+" @"+r.Peers)
	case r.CIDR.IsValid():
		parts = append(parts, "ip "+peer+" "+r.CIDR.String())
		for _, e := range r.Except {
			parts = append(parts, "ip "+peer+" != "+e.String())
		}
	}
	if r.Proto != 0 {
		parts = append(parts, "meta l4proto "+r.Proto.String())
	}
	switch {
	case r.PortSet != "":
		parts = append(parts, "ip daddr . meta l4proto . th dport @"+r.PortSet)
	case r.Port != 0 && r.EndPort > r.Port:
		parts = append(parts, fmt.Sprintf("th dport %d-%d", r.Port, r.EndPort))
	case r.Port != 0:
		parts = append(parts, fmt.Sprintf("th dport %d", r.Port))
	}
	return strings.Join(append(parts, verdict), " ")
}

// Text prints the policy part of tug's table in nft syntax, as a rebuild
// creates it; a comment names what each pod set selects.
func (pr *PolicyRules) Text() string {
	if pr == nil {
		pr = emptyPolicy()
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	for _, s := range pr.Sets {
		typ := "ipv4_addr"
		if s.Named {
			typ = "ipv4_addr . inet_proto . inet_service"
		}
		if s.Key != s.Name {
			w("\t# %s", s.Key)
		}
		w("\tset %s {\n\t\ttype %s", s.Name, typ)
		if len(s.Elems) > 0 {
			w("\t\telements = {")
			for _, e := range s.Elems {
				w("\t\t\t%s,", e.text(s.Named))
			}
			w("\t\t}")
		}
		w("\t}")
	}
	w("\tchain %s {\n\t\ttype filter hook forward priority filter; policy accept;", ChainPolicyForward)
	w("\t\tct state established,related accept")
	w("\t\tip saddr @%s jump %s", SetEgressIsolated, ChainPolicyEgress)
	w("\t\tip daddr @%s jump %s\n\t}", SetIngressIsolated, ChainPolicyIngress)
	for _, c := range []struct {
		name  string
		rules []PolicyRule
	}{{ChainPolicyIngress, pr.Ingress}, {ChainPolicyEgress, pr.Egress}} {
		w("\tchain %s {", c.name)
		for _, r := range c.rules {
			w("\t\t%s", r.text(c.name))
		}
		w("\t\tdrop\n\t}")
	}
	return b.String()
}
