package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// maxElems is the most elements one netlink element message carries:
// google/nftables v0.3.0 fails on larger ones.
const maxElems = 500

// socketBuffer is the send and receive buffer forced onto the netlink
// socket: a full rebuild at 10,000 services is one batch of a few MB and
// tens of thousands of acknowledgements.
const socketBuffer = 64 << 20

// Dial opens a lasting nftables netlink connection with large socket
// buffers, in the network namespace netnsFd refers to (0: the current one).
func Dial(netnsFd int) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(forceBuffers)}
	if netnsFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: open netlink socket: %w", err)
	}
	return c, nil
}

func forceBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBuffer); e != nil {
				serr = errors.Join(serr, fmt.Errorf("setsockopt %d: %w", opt, e))
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		// Without CAP_NET_ADMIN fall back to what the sysctl limits allow.
		_ = c.SetWriteBuffer(socketBuffer)
		_ = c.SetReadBuffer(socketBuffer)
	}
	return nil
}

// Applier owns tug's table in one network namespace. It keeps the Ruleset
// it last applied and sends only the Diff; the first Apply and the first
// after an error rebuild the whole table in one batch. Not safe for
// concurrent use.
type Applier struct {
	dial    func() (*nftables.Conn, error)
	log     *slog.Logger
	conn    *nftables.Conn
	tracker *Tracker // nil: rebuild at the next Apply
	cidr    netip.Prefix

	table *nftables.Table
	sets  map[string]*nftables.Set

	policy *policyTracker           // network policy part; reset with tracker
	psets  map[string]*nftables.Set // network policy sets by name
}

// NewApplier returns an Applier that opens its connection with dial, and
// again after an error; nil dials the current network namespace.
func NewApplier(dial func() (*nftables.Conn, error), log *slog.Logger) *Applier {
	if dial == nil {
		dial = func() (*nftables.Conn, error) { return Dial(0) }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	return &Applier{
		dial: dial, log: log, table: t,
		sets: map[string]*nftables.Set{
			MapServiceIPs: {Table: t, Name: MapServiceIPs, IsMap: true, Concatenation: true, DataType: nftables.TypeVerdict,
				KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)},
			MapNodePorts: {Table: t, Name: MapNodePorts, IsMap: true, Concatenation: true, DataType: nftables.TypeVerdict,
				KeyType: nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)},
			// mark, not integer, for the index: nft 1.0.6 cannot list
			// integer inside a concatenation.
			MapEndpoints: {Table: t, Name: MapEndpoints, IsMap: true, Concatenation: true,
				KeyType:  nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark),
				DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)},
			MapNodePortEndpoints: {Table: t, Name: MapNodePortEndpoints, IsMap: true, Concatenation: true,
				KeyType:  nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark),
				DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)},
			SetAffinitySlots: {Table: t, Name: SetAffinitySlots, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict},
			MapAffinity: {Table: t, Name: MapAffinity, IsMap: true, Concatenation: true, Dynamic: true, HasTimeout: true, Timeout: AffinityTimeout,
				KeyType:  nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeMark),
				DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)},
			SetClusterIPs: {Table: t, Name: SetClusterIPs, KeyType: nftables.TypeIPAddr},
			SetHairpin: {Table: t, Name: SetHairpin, Concatenation: true,
				KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)},
		},
	}
}

// Apply makes the table match rs in one atomic batch (and, when an
// affinity port lost endpoints, a second one forgetting the clients
// remembered there). rs must not be changed afterwards: the Applier keeps
// it as the applied state.
func (a *Applier) Apply(rs *Ruleset) error {
	if a.conn == nil {
		c, err := a.dial()
		if err != nil {
			return err
		}
		a.conn = c
	}
	var err error
	if a.tracker == nil || a.cidr != rs.ServiceCIDR {
		a.tracker = nil
		t := NewTracker()
		if err = a.rebuild(t, rs); err == nil {
			a.tracker, a.cidr = t, rs.ServiceCIDR
			a.log.Info("rebuilt nftables table", "table", "ip "+TableName, "servicePorts", len(rs.Ports))
		}
	} else {
		ch, pch := a.tracker.Diff(rs), a.policy.Diff(rs.Policy)
		if !ch.Empty() || !pch.Empty() {
			if err = a.queuePolicy(pch); err == nil {
				err = a.change(ch)
			}
			if err == nil && ch.ForgetAffinity {
				err = a.forgetAffinity()
			}
		}
	}
	if err != nil {
		// Start over with a fresh socket and a full rebuild next time.
		a.tracker = nil
		_ = a.conn.CloseLasting()
		a.conn = nil
		return fmt.Errorf("nftables table ip %s: %w", TableName, err)
	}
	return nil
}

// Delete removes tug's table (if present) and forgets the applied state.
func (a *Applier) Delete() error {
	if a.conn == nil {
		c, err := a.dial()
		if err != nil {
			return err
		}
		a.conn = c
	}
	a.tracker = nil
	a.conn.AddTable(a.table) // so that deleting cannot fail on a missing table
	a.conn.DelTable(a.table)
	if err := a.conn.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table ip %s: %w", TableName, err)
	}
	return nil
}

// Close closes the netlink connection; the table stays.
func (a *Applier) Close() error {
	if a.conn == nil {
		return nil
	}
	err := a.conn.CloseLasting()
	a.conn = nil
	return err
}

// rebuild replaces the table with rs: add, delete and add it in one batch.
func (a *Applier) rebuild(t *Tracker, rs *Ruleset) error {
	c := a.conn
	c.AddTable(a.table)
	c.DelTable(a.table)
	c.AddTable(a.table)
	for _, name := range slices.Concat(setNames, dynamicSets) {
		if err := c.AddSet(a.sets[name], nil); err != nil {
			return fmt.Errorf("add set %s: %w", name, err)
		}
	}
	reject := c.AddChain(&nftables.Chain{Name: ChainReject, Table: a.table})
	c.AddRule(&nftables.Rule{Table: a.table, Chain: reject, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
	}})
	c.AddRule(&nftables.Rule{Table: a.table, Chain: reject, Exprs: []expr.Any{
		&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}, // port unreachable
	}})
	if err := a.queue(t.Diff(rs)); err != nil {
		return err
	}
	if err := a.policyRebuild(rs.Policy); err != nil {
		return err
	}
	a.skeleton(rs.ServiceCIDR)
	return c.Flush()
}

// change sends one Change as one batch.
func (a *Applier) change(ch Change) error {
	if err := a.queue(ch); err != nil {
		return err
	}
	return a.conn.Flush()
}

func (a *Applier) queue(ch Change) error {
	c := a.conn
	for _, d := range ch.AddChains {
		a.addChain(d)
	}
	for _, se := range ch.DelElems {
		if err := a.elems(se, c.SetDeleteElements); err != nil {
			return err
		}
	}
	for _, se := range ch.AddElems {
		if err := a.elems(se, c.SetAddElements); err != nil {
			return err
		}
	}
	for _, d := range ch.ReplaceChains {
		chain := &nftables.Chain{Name: d.Name, Table: a.table}
		c.FlushChain(chain)
		a.stickyRules(chain, d)
	}
	for _, d := range ch.DelChains {
		chain := &nftables.Chain{Name: d.Name, Table: a.table}
		c.FlushChain(chain)
		c.DelChain(chain)
	}
	return nil
}

func (a *Applier) elems(se SetElems, op func(*nftables.Set, []nftables.SetElement) error) error {
	set := a.sets[se.Set]
	for start := 0; start < len(se.Elems); start += maxElems {
		batch := se.Elems[start:min(start+maxElems, len(se.Elems))]
		out := make([]nftables.SetElement, len(batch))
		for i, e := range batch {
			out[i] = nftables.SetElement{Key: elemKey(se.Set, e)}
			switch {
			case se.Set == MapEndpoints || se.Set == MapNodePortEndpoints:
				out[i].Val = concat(addr4(e.Endpoint.Addr), portBytes(e.Endpoint.Port))
			case se.Set == SetAffinitySlots: // jump: the remember chain returns to nat-postrouting
				out[i].VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Goto}
			case set.IsMap:
				out[i].VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Goto}
			}
		}
		if err := op(set, out); err != nil {
			return fmt.Errorf("set %s: %w", se.Set, err)
		}
	}
	return nil
}

// elemKey encodes e as set's key: concatenated fields are padded to 4 bytes.
func elemKey(set string, e Elem) []byte {
	switch set {
	case MapServiceIPs:
		return concat(addr4(e.Addr), []byte{byte(e.Proto)}, portBytes(e.Port))
	case MapNodePorts:
		return concat([]byte{byte(e.Proto)}, portBytes(e.Port))
	case MapEndpoints:
		return concat(addr4(e.Addr), []byte{byte(e.Proto)}, portBytes(e.Port), binaryutil.NativeEndian.PutUint32(e.Index))
	case MapNodePortEndpoints:
		return concat([]byte{byte(e.Proto)}, portBytes(e.Port), binaryutil.NativeEndian.PutUint32(e.Index))
	case SetAffinitySlots:
		return binaryutil.NativeEndian.PutUint32(AffinityTag | e.Slot)
	case SetClusterIPs:
		return addr4(e.Addr)
	case SetHairpin:
		return concat(addr4(e.Addr), addr4(e.Endpoint.Addr))
	}
	panic("proxy: unknown set " + set)
}

func concat(fields ...[]byte) []byte {
	var out []byte
	for _, f := range fields {
		out = append(out, f...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

func addr4(a netip.Addr) []byte { b := a.As4(); return b[:] }

func portBytes(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

// addChain adds a shared DNAT chain (see Chain).
func (a *Applier) addChain(d Chain) {
	c, t := a.conn, a.table
	chain := c.AddChain(&nftables.Chain{Name: d.Name, Table: t})
	if d.Timeout > 0 {
		a.rememberRule(chain, d.Timeout)
		return
	}
	if d.Sticky {
		a.stickyRules(chain, d)
		return
	}
	numgen := &expr.Numgen{Modulus: uint32(d.N), Type: unix.NFT_NG_RANDOM}
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true}
	if d.NodePort {
		if !d.Local {
			c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: markForMasquerade()})
		}
		numgen.Register = 10
		c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			numgen,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: MapNodePortEndpoints, SetID: a.sets[MapNodePortEndpoints].ID},
			nat,
		}})
		return
	}
	numgen.Register = 11
	c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		numgen,
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: MapEndpoints, SetID: a.sets[MapEndpoints].ID},
		nat,
	}})
}

// stickyRules queues a sticky chain's rules (see Chain).
func (a *Applier) stickyRules(chain *nftables.Chain, d Chain) {
	c, t := a.conn, a.table
	if d.NodePort && !d.Local {
		c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: markForMasquerade()})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(AffinityTag | d.Slot)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
	}})
	aff := a.sets[MapAffinity]
	c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 9},
		&expr.Lookup{SourceRegister: 8, DestRegister: 1, IsDestRegSet: true, SetName: aff.Name, SetID: aff.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true},
	}})
	c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: d.fallback().Name},
	}})
}

func markForMasquerade() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(MasqueradeMark)),
			Xor:  binaryutil.NativeEndian.PutUint32(MasqueradeMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	}
}

// rememberRules queues the nat-postrouting rule that sends every new
// connection to an affinity port (by its ct mark) to the remember chain of
// the port's timeout. It runs before masquerading, so ip saddr is still
// the client, and after DNAT, so ip daddr . th dport is the endpoint.
func (a *Applier) rememberRules(post *nftables.Chain) {
	slots := a.sets[SetAffinitySlots]
	a.conn.AddRule(&nftables.Rule{Table: a.table, Chain: post, Exprs: []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: slots.Name, SetID: slots.ID, IsDestRegSet: true, DestRegister: 0},
	}})
}

// rememberRule queues a remember chain's rule: remember (or refresh) the
// client's endpoint for secs seconds.
func (a *Applier) rememberRule(chain *nftables.Chain, secs uint32) {
	aff := a.sets[MapAffinity]
	a.conn.AddRule(&nftables.Rule{Table: a.table, Chain: chain, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Payload{DestRegister: 11, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Dynset{SrcRegKey: 8, SrcRegData: 10, SetName: aff.Name, SetID: aff.ID,
			Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: time.Duration(secs) * time.Second},
	}})
}

// forgetAffinity deletes remembered clients whose endpoint is no longer
// one of their port's. It reads only the dynamic affinity map, which only
// the packet path fills, and only after an affinity port lost endpoints.
func (a *Applier) forgetAffinity() error {
	current := a.tracker.affinityEndpoints()
	set := a.sets[MapAffinity]
	elems, err := a.conn.GetSetElements(set)
	if err != nil {
		return fmt.Errorf("list %s: %w", MapAffinity, err)
	}
	var stale []nftables.SetElement
	for _, e := range elems {
		if len(e.Key) < 8 || len(e.Val) < 6 {
			continue
		}
		slot := binaryutil.NativeEndian.Uint32(e.Key[4:8]) &^ AffinityTag
		ep := Endpoint{Addr: netip.AddrFrom4([4]byte(e.Val[:4])), Port: binary.BigEndian.Uint16(e.Val[4:6])}
		if !slices.Contains(current[slot], ep) {
			stale = append(stale, nftables.SetElement{Key: e.Key})
		}
	}
	for start := 0; start < len(stale); start += maxElems {
		if err := a.conn.SetDeleteElements(set, stale[start:min(start+maxElems, len(stale))]); err != nil {
			return fmt.Errorf("set %s: %w", MapAffinity, err)
		}
	}
	return a.conn.Flush()
}

// skeleton queues the fixed chains and rules, base chains last so that
// the hooks see a complete table.
func (a *Applier) skeleton(cidr netip.Prefix) {
	c, t := a.conn, a.table
	daddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	services := c.AddChain(&nftables.Chain{Name: ChainServices, Table: t})
	c.AddRule(&nftables.Rule{Table: t, Chain: services, Exprs: []expr.Any{
		daddr,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: MapServiceIPs, SetID: a.sets[MapServiceIPs].ID, IsDestRegSet: true, DestRegister: 0},
	}})
	c.AddRule(&nftables.Rule{Table: t, Chain: services, Exprs: []expr.Any{
		daddr,
		&expr.Lookup{SourceRegister: 1, SetName: SetClusterIPs, SetID: a.sets[SetClusterIPs].ID},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: ChainReject},
	}})
	if cidr.IsValid() {
		mask := netip.PrefixFrom(cidr.Addr(), cidr.Bits()).Masked()
		bits := make([]byte, 4)
		binary.BigEndian.PutUint32(bits, ^uint32(0)<<(32-cidr.Bits()))
		c.AddRule(&nftables.Rule{Table: t, Chain: services, Exprs: []expr.Any{
			daddr,
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: bits, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr4(mask.Addr())},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: services, Exprs: []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: MapNodePorts, SetID: a.sets[MapNodePorts].ID, IsDestRegSet: true, DestRegister: 0},
	}})

	post := c.AddChain(&nftables.Chain{Name: "nat-postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: ptr(nftables.ChainPolicyAccept)})
	a.rememberRules(post)
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(MasqueradeMark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(MasqueradeMark)},
		&expr.Masq{},
	}})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: SetHairpin, SetID: a.sets[SetHairpin].ID},
		&expr.Masq{},
	}})
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"nat-prerouting", nftables.ChainHookPrerouting}, {"nat-output", nftables.ChainHookOutput}} {
		base := c.AddChain(&nftables.Chain{Name: h.name, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: h.hook, Priority: nftables.ChainPriorityNATDest, Policy: ptr(nftables.ChainPolicyAccept)})
		c.AddRule(&nftables.Rule{Table: t, Chain: base, Exprs: []expr.Any{
			&expr.Verdict{Kind: expr.VerdictJump, Chain: ChainServices},
		}})
	}
}

func ptr[T any](v T) *T { return &v }
