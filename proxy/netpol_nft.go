package proxy

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// policySet returns the nftables set for a policy set, reusing the one
// created (and given its batch ID) earlier.
func (a *Applier) policySet(name string, named bool) *nftables.Set {
	if s, ok := a.psets[name]; ok {
		return s
	}
	s := &nftables.Set{Table: a.table, Name: name, KeyType: nftables.TypeIPAddr}
	if named {
		s.Concatenation = true
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	}
	a.psets[name] = s
	return s
}

// policyRebuild queues the whole policy part of a rebuilt table, the
// forward base chain last, and resets the policy tracker to pr.
func (a *Applier) policyRebuild(pr *PolicyRules) error {
	a.policy = newPolicyTracker()
	a.psets = map[string]*nftables.Set{}
	ch := a.policy.Diff(pr)
	ch.Rules = true
	for _, name := range []string{ChainPolicyIngress, ChainPolicyEgress} {
		a.conn.AddChain(&nftables.Chain{Name: name, Table: a.table})
	}
	if err := a.queuePolicy(ch); err != nil {
		return err
	}
	fwd := a.conn.AddChain(&nftables.Chain{Name: ChainPolicyForward, Table: a.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyAccept)})
	a.conn.AddRule(&nftables.Rule{Table: a.table, Chain: fwd, Exprs: []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	for _, j := range []struct {
		offset uint32
		set    string
		chain  string
	}{{12, SetEgressIsolated, ChainPolicyEgress}, {16, SetIngressIsolated, ChainPolicyIngress}} {
		s := a.psets[j.set]
		a.conn.AddRule(&nftables.Rule{Table: a.table, Chain: fwd, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: j.offset, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: j.chain},
		}})
	}
	return nil
}

// queuePolicy queues one PolicyChange into the current batch.
func (a *Applier) queuePolicy(ch PolicyChange) error {
	c := a.conn
	for _, s := range ch.AddSets {
		set := a.policySet(s.Name, s.Named)
		if err := c.AddSet(set, nil); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
		if err := a.policyElems(s, c.SetAddElements); err != nil {
			return err
		}
	}
	for _, s := range ch.DelElems {
		if err := a.policyElems(s, c.SetDeleteElements); err != nil {
			return err
		}
	}
	for _, s := range ch.AddElems {
		if err := a.policyElems(s, c.SetAddElements); err != nil {
			return err
		}
	}
	if ch.Rules {
		for _, x := range []struct {
			name  string
			rules []PolicyRule
		}{{ChainPolicyIngress, ch.Ingress}, {ChainPolicyEgress, ch.Egress}} {
			chain := &nftables.Chain{Name: x.name, Table: a.table}
			c.FlushChain(chain)
			for _, r := range x.rules {
				c.AddRule(&nftables.Rule{Table: a.table, Chain: chain, Exprs: a.policyRuleExprs(r, x.name)})
			}
			c.AddRule(&nftables.Rule{Table: a.table, Chain: chain, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}})
		}
	}
	for _, name := range ch.DelSets {
		if s, ok := a.psets[name]; ok {
			c.DelSet(s)
			delete(a.psets, name)
		}
	}
	return nil
}

func (a *Applier) policyElems(s PolicySet, op func(*nftables.Set, []nftables.SetElement) error) error {
	set := a.policySet(s.Name, s.Named)
	for start := 0; start < len(s.Elems); start += maxElems {
		batch := s.Elems[start:min(start+maxElems, len(s.Elems))]
		out := make([]nftables.SetElement, len(batch))
		for i, e := range batch {
			if s.Named {
				out[i].Key = concat(addr4(e.Addr), []byte{byte(e.Proto)}, portBytes(e.Port))
			} else {
				out[i].Key = addr4(e.Addr)
			}
		}
		if err := op(set, out); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	return nil
}

// policyRuleExprs encodes r (see PolicyRule.text) for chain.
func (a *Applier) policyRuleExprs(r PolicyRule, chain string) []expr.Any {
	self, peer := uint32(16), uint32(12) // ip daddr, ip saddr
	verdict := expr.VerdictAccept
	if chain == ChainPolicyEgress {
		self, peer, verdict = 12, 16, expr.VerdictReturn
	}
	lookup := func(offset uint32, name string) []expr.Any {
		s := a.psets[name]
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
		}
	}
	prefix := func(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits())), Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: addr4(p.Addr())},
		}
	}
	exprs := lookup(self, r.Targets)
	switch {
	case r.Peers != "":
		exprs = append(exprs, lookup(peer, r.Peers)...)
	case r.CIDR.IsValid():
		exprs = append(exprs, prefix(peer, r.CIDR, expr.CmpOpEq)...)
		for _, e := range r.Except {
			exprs = append(exprs, prefix(peer, e, expr.CmpOpNeq)...)
		}
	}
	if r.Proto != 0 {
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Proto)}})
	}
	dport := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	switch {
	case r.PortSet != "":
		s := a.psets[r.PortSet]
		exprs = append(exprs,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
			&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID})
	case r.Port != 0 && r.EndPort > r.Port:
		exprs = append(exprs, dport, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: portBytes(r.Port), ToData: portBytes(r.EndPort)})
	case r.Port != 0:
		exprs = append(exprs, dport, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: portBytes(r.Port)})
	}
	return append(exprs, &expr.Verdict{Kind: verdict})
}
