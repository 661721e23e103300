package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names in tug's table. The table, its base chains, maps and sets are the
// fixed skeleton; only the dnat_<N>/npdnat_<N> chains and elements change.
const (
	TableName     = "tug"
	MapServiceIPs = "service-ips"       // ipv4_addr . inet_proto . inet_service : verdict
	MapNodePorts  = "service-nodeports" // inet_proto . inet_service : verdict
	// MapEndpoints: ipv4_addr . inet_proto . inet_service . mark (index) : ipv4_addr . inet_service
	MapEndpoints = "endpoints"
	// MapNodePortEndpoints: inet_proto . inet_service . mark (index) : ipv4_addr . inet_service
	MapNodePortEndpoints = "nodeport-endpoints"
	// SetAffinitySlots: mark : verdict; the conntrack marks AffinityTag|slot
	// that sessionAffinity ClientIP ports give their connections, each to
	// the remember chain (affto_<seconds>) of its port's timeout.
	SetAffinitySlots = "affinity-slots"
	// MapAffinity (dynamic, timeout): ipv4_addr (client) . mark (slot) : ipv4_addr . inet_service
	MapAffinity   = "affinity"
	SetClusterIPs = "cluster-ips" // ipv4_addr
	SetHairpin    = "hairpin"     // ipv4_addr . ipv4_addr (endpoint . itself)
	ChainServices = "services"
	ChainReject   = "reject"
	// MasqueradeMark is the packet mark bit that node port DNAT chains set
	// and nat-postrouting masquerades.
	MasqueradeMark = 0x4000
	// AffinityTimeout is how long a ClientIP affinity lasts after the
	// client's last new connection unless the Service's
	// sessionAffinityConfig.clientIP.timeoutSeconds says otherwise
	// (Kubernetes' default); also the affinity map's default timeout.
	AffinityTimeout = 10800 * time.Second
	// AffinityTag marks the conntrack entries of affinity connections:
	// ct mark = AffinityTag | slot.
	AffinityTag = 0x7e570000
)

// setNames is the order sets are created and their changes listed in.
var setNames = []string{MapServiceIPs, MapNodePorts, MapEndpoints, MapNodePortEndpoints,
	SetAffinitySlots, SetClusterIPs, SetHairpin}

// dynamicSets are filled by the packet path, never by the proxy.
var dynamicSets = []string{MapAffinity}

// Chain is a dynamic chain. Most are shared DNAT chains: dnat_<N> picks
// index numgen random mod N and DNATs to the endpoints map's value under
// the packet's ip daddr . meta l4proto . th dport . index; npdnat_<N>
// (NodePort) also sets MasqueradeMark and uses the nodeport-endpoints map,
// keyed without the address. Every service port with N endpoints goes to
// the same chain, so each map is bound to a handful of rules: the kernel
// walks every element of a map each time a rule in another chain binds it
// (so one rule per service is quadratic), and it refuses to read a register
// a rule did not load (so a per-service chain cannot hand a slot number to
// a shared one).
//
// Sticky chains (aff_<slot>, affnp_<slot>) serve sessionAffinity ClientIP
// ports, one per port and path: they set ct mark AffinityTag|Slot, DNAT to
// the endpoint the affinity map remembers for ip saddr . ct mark, and
// otherwise go to the shared DNAT chain for N. nat-postrouting remembers
// (or refreshes) the endpoint of every new connection so marked; the
// Applier deletes remembered endpoints a port no longer has.
//
// Node port chains of externalTrafficPolicy Local ports (lnpdnat_<N>,
// afflnp_<slot>) are the same without MasqueradeMark, so the endpoint sees
// the client's own address.
type Chain struct {
	Name     string
	N        int
	NodePort bool
	Sticky   bool
	Slot     uint32
	Local    bool // node port chain of an externalTrafficPolicy Local port: no masquerade
	// Timeout (seconds) makes this a remember chain, affto_<Timeout>,
	// shared by the affinity ports with that timeout: nat-postrouting jumps
	// there through the affinity-slots map, and it updates the affinity
	// map with that element timeout.
	Timeout uint32
}

// rememberChain is the remember chain for affinity timeout secs.
func rememberChain(secs uint32) Chain {
	return Chain{Name: "affto_" + strconv.FormatUint(uint64(secs), 10), Timeout: secs}
}

func dnatChain(n int, nodePort bool) Chain {
	if nodePort {
		return Chain{Name: "npdnat_" + strconv.Itoa(n), N: n, NodePort: true}
	}
	return Chain{Name: "dnat_" + strconv.Itoa(n), N: n}
}

// npChain is the shared node port DNAT chain for n endpoints.
func npChain(n int, local bool) Chain {
	if local {
		return Chain{Name: "lnpdnat_" + strconv.Itoa(n), N: n, NodePort: true, Local: true}
	}
	return dnatChain(n, true)
}

// npStickyChain is a node port sticky chain.
func npStickyChain(slot uint32, n int, local bool) Chain {
	if local {
		return Chain{Name: "afflnp_" + strconv.Itoa(int(slot)), N: n, NodePort: true, Sticky: true, Slot: slot, Local: true}
	}
	return stickyChain(slot, n, true)
}

func stickyChain(slot uint32, n int, nodePort bool) Chain {
	name := "aff_"
	if nodePort {
		name = "affnp_"
	}
	return Chain{Name: name + strconv.Itoa(int(slot)), N: n, NodePort: nodePort, Sticky: true, Slot: slot}
}

// fallback is the shared chain a sticky chain goes to.
func (c Chain) fallback() Chain {
	if c.NodePort {
		return npChain(c.N, c.Local)
	}
	return dnatChain(c.N, false)
}

// Elem is an element of one of the fixed maps or sets; the fields a set's
// key does not use are zero. Goto is a verdict map element's chain and
// Endpoint the endpoint maps' value.
type Elem struct {
	Slot     uint32
	Addr     netip.Addr
	Proto    Protocol
	Port     uint16
	Index    uint32
	Goto     string
	Endpoint Endpoint
}

// SetElems are elements of one named set or map.
type SetElems struct {
	Set   string
	Elems []Elem
}

// Change is what turns one Ruleset into another, in the order Applier sends
// it: add chains, delete elements, add elements, replace sticky chains'
// rules, delete chains.
type Change struct {
	AddChains     []Chain
	DelElems      []SetElems
	AddElems      []SetElems
	ReplaceChains []Chain
	DelChains     []Chain
	// ForgetAffinity: an affinity port lost endpoints, so after the batch
	// the Applier deletes remembered clients whose endpoint is gone.
	ForgetAffinity bool
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool {
	return len(c.AddChains) == 0 && len(c.DelElems) == 0 && len(c.AddElems) == 0 && len(c.ReplaceChains) == 0 && len(c.DelChains) == 0
}

// affinityEndpoints returns the endpoints of every affinity port by slot.
func (t *Tracker) affinityEndpoints() map[uint32][]Endpoint {
	out := map[uint32][]Endpoint{}
	for _, p := range t.ports {
		if p.Affinity {
			out[t.slots[p.String()]] = p.Endpoints
		}
	}
	return out
}

// Tracker is the applied state the Applier keeps in memory: the applied
// ports and reference counts for what several ports share. Diff moves it
// forward; it does no I/O. After a failed apply the Tracker must be
// discarded (the table is rebuilt).
type Tracker struct {
	ports    []ServicePort // applied, in Ruleset order
	clusters map[netip.Addr]int
	hairpins map[netip.Addr]int
	dnats    map[Chain]int     // service ports going to each DNAT chain (and remember chain)
	slots    map[string]uint32 // affinity port → slot
	free     []uint32
	next     uint32
}

// NewTracker returns the state of an empty table.
func NewTracker() *Tracker {
	return &Tracker{clusters: map[netip.Addr]int{}, hairpins: map[netip.Addr]int{}, dnats: map[Chain]int{}, slots: map[string]uint32{}}
}

// changeBuilder collects one Change.
type changeBuilder struct {
	t        *Tracker
	add, del map[string][]Elem
	c        Change
	freed    []uint32
}

// Diff returns the Change from the tracked state to rs and records rs as
// applied. Its cost is one walk over both sorted port lists plus the size
// of the change. rs must not be modified afterwards.
func (t *Tracker) Diff(rs *Ruleset) Change {
	b := &changeBuilder{t: t, add: map[string][]Elem{}, del: map[string][]Elem{}}
	var ports []ServicePort
	if rs != nil {
		ports = rs.Ports
	}
	old := t.ports
	i, j := 0, 0
	for i < len(old) || j < len(ports) {
		switch {
		case j == len(ports) || (i < len(old) && comparePorts(&old[i], &ports[j]) < 0):
			b.port(old[i], -1)
			i++
		case i == len(old) || comparePorts(&ports[j], &old[i]) < 0:
			b.port(ports[j], +1)
			j++
		default:
			if !portEqual(old[i], ports[j]) {
				b.update(old[i], ports[j])
			}
			i++
			j++
		}
	}
	t.ports = ports
	t.free = append(t.free, b.freed...) // reused from the next change on
	// Chains are added after those they go to and deleted after those
	// going to them.
	slices.SortStableFunc(b.c.AddChains, func(x, y Chain) int { return boolCmp(x.Sticky, y.Sticky) })
	slices.SortStableFunc(b.c.DelChains, func(x, y Chain) int { return boolCmp(y.Sticky, x.Sticky) })
	for _, s := range setNames {
		if len(b.del[s]) > 0 {
			b.c.DelElems = append(b.c.DelElems, SetElems{Set: s, Elems: b.del[s]})
		}
		if len(b.add[s]) > 0 {
			b.c.AddElems = append(b.c.AddElems, SetElems{Set: s, Elems: b.add[s]})
		}
	}
	return b.c
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func portEqual(a, b ServicePort) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.Protocol == b.Protocol && a.ClusterIP == b.ClusterIP && a.Port == b.Port &&
		a.NodePort == b.NodePort && a.Affinity == b.Affinity && a.AffinityTimeout == b.AffinityTimeout && a.Local == b.Local &&
		slices.Equal(a.Endpoints, b.Endpoints)
}

// verdict is where a port's traffic goes: its sticky chain, the DNAT
// chain for its number of endpoints, or reject when it has none.
func (b *changeBuilder) verdict(p ServicePort, nodePort bool) string {
	switch {
	case len(p.Endpoints) == 0:
		return ChainReject
	case p.Affinity && nodePort:
		return npStickyChain(b.t.slots[p.String()], len(p.Endpoints), p.Local).Name
	case p.Affinity:
		return stickyChain(b.t.slots[p.String()], len(p.Endpoints), false).Name
	case nodePort:
		return npChain(len(p.Endpoints), p.Local).Name
	}
	return dnatChain(len(p.Endpoints), false).Name
}

// stickyChains are p's sticky chains (none without endpoints).
func (b *changeBuilder) stickyChains(p ServicePort) []Chain {
	if !p.Affinity || len(p.Endpoints) == 0 {
		return nil
	}
	var out []Chain
	slot := b.t.slots[p.String()]
	if p.ClusterIP.IsValid() {
		out = append(out, stickyChain(slot, len(p.Endpoints), false))
	}
	if p.NodePort != 0 {
		out = append(out, npStickyChain(slot, len(p.Endpoints), p.Local))
	}
	return out
}

func (b *changeBuilder) op(set string, d int, e Elem) {
	if d > 0 {
		b.add[set] = append(b.add[set], e)
	} else {
		b.del[set] = append(b.del[set], e)
	}
}

// port adds (d = +1) or removes (d = -1) everything of p.
func (b *changeBuilder) port(p ServicePort, d int) {
	t := b.t
	if p.Affinity && d > 0 {
		var slot uint32
		if n := len(t.free); n > 0 {
			slot, t.free = t.free[n-1], t.free[:n-1]
		} else {
			slot = t.next
			t.next++
		}
		t.slots[p.String()] = slot
	}
	if p.Affinity {
		remember := rememberChain(p.timeout())
		b.op(SetAffinitySlots, d, Elem{Slot: t.slots[p.String()], Goto: remember.Name})
		b.dnat(remember, d)
		for _, c := range b.stickyChains(p) {
			if d > 0 {
				b.c.AddChains = append(b.c.AddChains, c)
			} else {
				b.c.DelChains = append(b.c.DelChains, c)
			}
		}
	}
	b.clusterIP(p, d)
	b.nodePort(p, d)
	b.endpoints(p, 0, d)
	for _, e := range p.Endpoints {
		b.ref(SetHairpin, t.hairpins, e.Addr, d)
	}
	if p.Affinity && d < 0 {
		b.freed = append(b.freed, t.slots[p.String()])
		delete(t.slots, p.String())
		if len(p.Endpoints) > 0 {
			b.c.ForgetAffinity = true
		}
	}
}

func (b *changeBuilder) clusterIP(p ServicePort, d int) {
	if !p.ClusterIP.IsValid() {
		return
	}
	b.op(MapServiceIPs, d, Elem{Addr: p.ClusterIP, Proto: p.Protocol, Port: p.Port, Goto: b.verdict(p, false)})
	b.ref(SetClusterIPs, b.t.clusters, p.ClusterIP, d)
	if len(p.Endpoints) > 0 {
		b.dnat(dnatChain(len(p.Endpoints), false), d)
	}
}

func (b *changeBuilder) nodePort(p ServicePort, d int) {
	if p.NodePort == 0 {
		return
	}
	b.op(MapNodePorts, d, Elem{Proto: p.Protocol, Port: p.NodePort, Goto: b.verdict(p, true)})
	if len(p.Endpoints) > 0 {
		b.dnat(npChain(len(p.Endpoints), p.Local), d)
	}
}

// endpoints adds or removes p's endpoint elements from index from on.
func (b *changeBuilder) endpoints(p ServicePort, from int, d int) {
	for i, e := range p.Endpoints[from:] {
		i += from
		if p.ClusterIP.IsValid() {
			b.op(MapEndpoints, d, Elem{Addr: p.ClusterIP, Proto: p.Protocol, Port: p.Port, Index: uint32(i), Endpoint: e})
		}
		if p.NodePort != 0 {
			b.op(MapNodePortEndpoints, d, Elem{Proto: p.Protocol, Port: p.NodePort, Index: uint32(i), Endpoint: e})
		}
	}
}

func (b *changeBuilder) update(o, n ServicePort) {
	if o.ClusterIP != n.ClusterIP || o.Protocol != n.Protocol || o.Port != n.Port || o.NodePort != n.NodePort || o.Affinity != n.Affinity || o.Local != n.Local ||
		o.AffinityTimeout != n.AffinityTimeout {
		b.port(o, -1)
		b.port(n, +1)
		return
	}
	// Only the endpoints changed.
	if o.Affinity && slices.ContainsFunc(o.Endpoints, func(e Endpoint) bool { return !slices.Contains(n.Endpoints, e) }) {
		b.c.ForgetAffinity = true
	}
	if len(o.Endpoints) != len(n.Endpoints) {
		oc, nc := b.stickyChains(o), b.stickyChains(n)
		switch {
		case len(oc) > 0 && len(nc) > 0:
			b.c.ReplaceChains = append(b.c.ReplaceChains, nc...)
		case len(nc) > 0:
			b.c.AddChains = append(b.c.AddChains, nc...)
		default:
			b.c.DelChains = append(b.c.DelChains, oc...)
		}
		b.clusterIP(o, -1)
		b.clusterIP(n, +1)
		b.cancelLast(MapServiceIPs)
		b.nodePort(o, -1)
		b.nodePort(n, +1)
		b.cancelLast(MapNodePorts)
	}
	same := 0
	for same < min(len(o.Endpoints), len(n.Endpoints)) && o.Endpoints[same] == n.Endpoints[same] {
		same++
	}
	b.endpoints(o, same, -1)
	b.endpoints(n, same, +1)
	for _, e := range n.Endpoints {
		b.ref(SetHairpin, b.t.hairpins, e.Addr, +1)
	}
	for _, e := range o.Endpoints {
		b.ref(SetHairpin, b.t.hairpins, e.Addr, -1)
	}
}

// cancelLast drops the last deletion and addition in set when they are the
// same element (a sticky chain's verdict does not change with N).
func (b *changeBuilder) cancelLast(set string) {
	d, a := b.del[set], b.add[set]
	if len(d) > 0 && len(a) > 0 && d[len(d)-1] == a[len(a)-1] {
		b.del[set], b.add[set] = d[:len(d)-1], a[:len(a)-1]
	}
}

// dnat counts the service ports going to c and adds or deletes it.
func (b *changeBuilder) dnat(c Chain, d int) {
	refs := b.t.dnats
	refs[c] += d
	switch {
	case refs[c] == 0:
		delete(refs, c)
		if k := slices.Index(b.c.AddChains, c); k >= 0 {
			b.c.AddChains = slices.Delete(b.c.AddChains, k, k+1)
		} else {
			b.c.DelChains = append(b.c.DelChains, c)
		}
	case refs[c] == 1 && d > 0:
		if k := slices.Index(b.c.DelChains, c); k >= 0 {
			b.c.DelChains = slices.Delete(b.c.DelChains, k, k+1)
		} else {
			b.c.AddChains = append(b.c.AddChains, c)
		}
	}
}

// ref counts a shared element up or down and emits its addition at 0 → 1
// and its deletion at 1 → 0.
func (b *changeBuilder) ref(set string, refs map[netip.Addr]int, a netip.Addr, d int) {
	n := refs[a] + d
	e := Elem{Addr: a}
	if set == SetHairpin {
		e.Endpoint.Addr = a // the key is ip saddr . ip daddr, both the endpoint
	}
	switch {
	case n == 0:
		delete(refs, a)
		b.del[set] = appendOrCancel(b.add, b.del[set], set, e)
	case n == 1 && d > 0:
		refs[a] = n
		b.add[set] = appendOrCancel(b.del, b.add[set], set, e)
	default:
		refs[a] = n
	}
}

// appendOrCancel appends e to list unless the opposite operation on e is
// pending in this change, in which case both cancel out.
func appendOrCancel(opposite map[string][]Elem, list []Elem, set string, e Elem) []Elem {
	if k := slices.Index(opposite[set], e); k >= 0 {
		opposite[set] = slices.Delete(opposite[set], k, k+1)
		return list
	}
	return append(list, e)
}

func (e Elem) text(set string) string {
	switch set {
	case MapServiceIPs:
		return fmt.Sprintf("%s . %s . %d : goto %s", e.Addr, e.Proto, e.Port, e.Goto)
	case MapNodePorts:
		return fmt.Sprintf("%s . %d : goto %s", e.Proto, e.Port, e.Goto)
	case MapEndpoints:
		return fmt.Sprintf("%s . %s . %d . 0x%08x : %s . %d", e.Addr, e.Proto, e.Port, e.Index, e.Endpoint.Addr, e.Endpoint.Port)
	case MapNodePortEndpoints:
		return fmt.Sprintf("%s . %d . 0x%08x : %s . %d", e.Proto, e.Port, e.Index, e.Endpoint.Addr, e.Endpoint.Port)
	case SetAffinitySlots:
		return fmt.Sprintf("0x%08x : jump %s", AffinityTag|e.Slot, e.Goto)
	case SetClusterIPs:
		return e.Addr.String()
	case SetHairpin:
		return fmt.Sprintf("%s . %s", e.Addr, e.Endpoint.Addr)
	}
	return "?"
}

// Text prints the whole table as a rebuild creates it, in nft syntax (close
// to `nft list table ip tug`): the golden files are this text.
func (r *Ruleset) Text() string {
	c := NewTracker().Diff(r)
	elems := map[string][]Elem{}
	for _, se := range c.AddElems {
		elems[se.Set] = se.Elems
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("table ip %s {", TableName)
	types := map[string]string{
		MapServiceIPs:        "ipv4_addr . inet_proto . inet_service : verdict",
		MapNodePorts:         "inet_proto . inet_service : verdict",
		MapEndpoints:         "ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service",
		MapNodePortEndpoints: "inet_proto . inet_service . mark : ipv4_addr . inet_service",
		SetAffinitySlots:     "mark : verdict",
		MapAffinity:          "ipv4_addr . mark : ipv4_addr . inet_service",
		SetClusterIPs:        "ipv4_addr",
		SetHairpin:           "ipv4_addr . ipv4_addr",
	}
	for _, s := range slices.Concat(setNames, dynamicSets) {
		kind := "set"
		if strings.Contains(types[s], ":") {
			kind = "map"
		}
		w("\t%s %s {", kind, s)
		w("\t\ttype %s", types[s])
		if slices.Contains(dynamicSets, s) {
			w("\t\tflags dynamic,timeout\n\t\ttimeout %dh", int(AffinityTimeout.Hours()))
		}
		if len(elems[s]) > 0 {
			w("\t\telements = {")
			for _, e := range elems[s] {
				w("\t\t\t%s,", e.text(s))
			}
			w("\t\t}")
		}
		w("\t}")
	}
	w("\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump %s\n\t}", ChainServices)
	w("\tchain nat-output {\n\t\ttype nat hook output priority dstnat; policy accept;\n\t\tjump %s\n\t}", ChainServices)
	w("\tchain nat-postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;")
	w("\t\tct mark vmap @%s", SetAffinitySlots)
	w("\t\tmeta mark & 0x%08x == 0x%08x masquerade", MasqueradeMark, MasqueradeMark)
	w("\t\tip saddr . ip daddr @%s masquerade\n\t}", SetHairpin)
	w("\tchain %s {", ChainServices)
	w("\t\tip daddr . meta l4proto . th dport vmap @%s", MapServiceIPs)
	w("\t\tip daddr @%s goto %s", SetClusterIPs, ChainReject)
	if r != nil && r.ServiceCIDR.IsValid() {
		w("\t\tip daddr %s drop", r.ServiceCIDR)
	}
	w("\t\tfib daddr type local meta l4proto . th dport vmap @%s\n\t}", MapNodePorts)
	w("\tchain %s {\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmp port-unreachable\n\t}", ChainReject)
	for _, ch := range c.AddChains {
		w("\tchain %s {", ch.Name)
		if rule := ch.ruleText(); rule != "" {
			w("\t\t%s", rule)
		}
		w("\t}")
	}
	if r != nil && r.Policy != nil {
		b.WriteString(r.Policy.Text())
	}
	w("}")
	return b.String()
}

func (c Chain) ruleText() string {
	var rules []string
	mark := fmt.Sprintf("meta mark set meta mark | 0x%08x", MasqueradeMark)
	switch {
	case c.Timeout > 0:
		rules = append(rules, fmt.Sprintf("update @%s { ip saddr . ct mark timeout %ds : ip daddr . th dport }", MapAffinity, c.Timeout))
	case c.Sticky:
		if c.NodePort && !c.Local {
			rules = append(rules, mark)
		}
		rules = append(rules, fmt.Sprintf("ct mark set 0x%08x", AffinityTag|c.Slot),
			"dnat ip to ip saddr . ct mark map @"+MapAffinity, "goto "+c.fallback().Name)
	case c.NodePort:
		if !c.Local {
			rules = append(rules, mark)
		}
		rules = append(rules, fmt.Sprintf("dnat ip to meta l4proto . th dport . numgen random mod %d map @%s", c.N, MapNodePortEndpoints))
	default:
		rules = []string{fmt.Sprintf("dnat ip to ip daddr . meta l4proto . th dport . numgen random mod %d map @%s", c.N, MapEndpoints)}
	}
	return strings.Join(rules, "\n\t\t")
}
