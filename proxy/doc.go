// Package proxy programs this node's service networking into nftables, as
// kube-proxy's nftables mode does, in a table of its own (`ip tug`) that it
// replaces or edits atomically and never looks beyond: it never flushes the
// ruleset and never touches another table.
//
// The work is split three ways:
//
//   - Render (pure) turns Services and Endpoints into a Ruleset: one
//     ServicePort per (service, protocol, port) with its cluster IP, node
//     port and ready endpoints. Ruleset.Text prints the table a rebuild
//     creates, in nft syntax; the golden files in testdata/ are that text.
//   - Tracker.Diff (no I/O) walks the applied and the desired ports, both
//     sorted, and returns a Change: shared DNAT chains to add and delete and
//     map and set elements to add and delete. Elements several ports share
//     (cluster IPs, hairpin pairs, DNAT chains) are reference-counted.
//   - Applier (I/O) sends a Change to the kernel over netlink as one atomic
//     batch (≤ 500 elements per element message, socket buffers forced
//     large). It keeps the Tracker in memory and never reads the kernel's
//     rules back; the first Apply, and the next one after any error, rebuild
//     the whole table instead: add, delete and add the table in one batch,
//     so traffic never sees a gap and connections in flight keep their NAT.
//
// Proxy.Run ties them together: it lists Services and Endpoints from a Store
// at start and on every change notification, renders (a Renderer: a
// Service whose object and Endpoints keep their resource versions reuses
// its last rendering, so one endpoint change re-renders one Service) and
// applies, and
// retries failures with back-off. It leaves the table in place when it
// stops, so a restarting tugd does not interrupt service traffic.
//
// The table is a fixed skeleton whose dynamic part is all map elements;
// there are no per-service and no per-endpoint chains:
//
//	nat-prerouting, nat-output (nat hooks, priority dstnat) → jump services
//	services:
//	  ip daddr . meta l4proto . th dport vmap @service-ips  → goto dnat_<N> | goto reject
//	  ip daddr @cluster-ips goto reject                     (allocated address, unknown port)
//	  ip daddr <service CIDR> drop                          (unallocated address)
//	  fib daddr type local meta l4proto . th dport vmap @service-nodeports → goto npdnat_<N> | goto reject
//	dnat_<N>:   dnat ip to ip daddr . meta l4proto . th dport . numgen random mod N map @endpoints
//	npdnat_<N>: mark for masquerade; dnat ip to meta l4proto . th dport . numgen random mod N map @nodeport-endpoints
//	aff_<slot>, affnp_<slot> (sessionAffinity ClientIP, one per port):
//	  ct mark set 0x7e57<slot>; dnat ip to ip saddr . ct mark map @affinity;
//	  goto (np)dnat_<N>
//	reject:     tcp reset, else icmp port-unreachable
//	nat-postrouting (srcnat): remember affinity (ct mark vmap
//	  @affinity-slots → jump affto_<seconds>);
//	  masquerade marked packets (NodePort) and hairpin ones
//	  (ip saddr . ip daddr @hairpin)
//	affto_<seconds> (one per distinct affinity timeout, shared):
//	  update @affinity { ip saddr . ct mark timeout <seconds>s : ip daddr . th dport }
//
// The endpoint maps are indexed by the service's address, protocol and port
// plus a slot 0…N-1 that numgen picks, so one endpoint change is one
// element deleted and one added. All services with N endpoints share
// dnat_<N>: the kernel walks a map's elements whenever a rule in another
// chain binds it, so a chain per service made a full sync quadratic (34 s
// at 10,000 services instead of ~0.2 s), and it refuses to read a register
// a rule did not load, so a per-service chain cannot hand a slot number to
// a shared one. Rejects and drops sit in the nat chains on purpose: only the
// first packet of a connection traverses them, which is the one to refuse.
//
// sessionAffinity ClientIP overwrites the conntrack mark of the affinity
// port's connections. When such a port loses an endpoint, the Applier lists
// the dynamic affinity map (the one thing it reads back, filled by packets)
// and deletes the clients remembered there.
//
// Cluster DNS (Config.ClusterDNS, Ruleset.AddClusterDNS): the reserved
// address 10.43.0.10, port 53 over UDP and TCP, renders as two ordinary
// ports of a pseudo-service "/cluster-dns" (empty namespace, so it sorts
// first and no Service can clash) whose one endpoint is the node's DNS
// server on the pod bridge gateway (10.42.0.1:53, package dns). The
// skeleton does not change; pods and the node itself reach the server
// through the same service-ips vmap and dnat_1 chain as any service.
//
// externalTrafficPolicy Local (RenderNode, Config.NodeName): Render splits
// such a port in two, the cluster IP with every ready endpoint and a
// node-port-only ServicePort (Local) with the ready endpoints whose
// nodeName is this node, rejecting when there are none. Its chains
// (lnpdnat_<N>, afflnp_<slot>) DNAT like npdnat_<N> and affnp_<slot> but set
// no MasqueradeMark, so the endpoint sees the client's own address.
//
// sessionAffinityConfig.clientIP.timeoutSeconds (default 10800) is each
// remembered client's element timeout, set by the remember chain of the
// port's timeout; ports with one timeout share its chain.
//
// Network policy (netpol*.go): CompilePolicies (pure) turns
// NetworkPolicies, Pods and Namespaces into Ruleset.Policy: sets of pod
// addresses, one per distinct selector (pods-<hash>: the policy's own
// podSelector in its namespace, or a peer's namespaceSelector and
// podSelector), named-port sets (port-<proto>-<name>: pod address .
// protocol . number, so a named port resolves per destination pod), the
// isolation sets of this node's pods and two chains of allow rules, the
// union of all policies. A policy rule becomes one nft rule per peer and
// port; an ipBlock is a prefix match plus one != match per except; endPort
// is a range. The policy tracker (in memory, like Tracker) diffs sets
// element by element, so a pod's label or address change is a few element
// additions and deletions in one batch (≤ 500 per message); the chains are
// rewritten (flush and refill, same batch) only when the rules change:
//
//	policy-forward (filter hook forward, priority filter: after the service
//	  DNAT, so egress to a service is checked against the endpoint pod):
//	  ct state established,related accept
//	  ip saddr @egress-isolated jump policy-egress
//	  ip daddr @ingress-isolated jump policy-ingress
//	policy-egress:  ip saddr @<targets> ip daddr @<peers> … return; drop
//	policy-ingress: ip daddr @<targets> ip saddr @<peers> … accept; drop
//
// Pods on one node talk across the Linux bridge tug0 at layer 2, which the
// ip family's hooks do not see. tug uses br_netfilter rather than a
// bridge-family table of its own: with net.bridge.bridge-nf-call-iptables=1
// (per network namespace since Linux 5.3) bridged IPv4 frames traverse the
// ip hooks, so one chain with conntrack (needed for "established") covers
// bridged, routed and DNATed traffic alike, and same-node service replies
// are un-NATed as they must be anyway. Run sets the sysctl in tugd's
// namespace when Config.BridgeNetfilter is set (tugd sets it) and logs an
// error when br_netfilter is missing; TestNetworkPolicyTruthTable shows a
// bridged connection passing a deny with the sysctl at 0 and dropped at 1.
// Traffic from the node itself (probes) and to it is not filtered.
//
// Run watches Pods, Namespaces and NetworkPolicies apart from Services and
// Endpoints: a change of the former recompiles only the policy part, of the
// latter re-renders only the service part; with no NetworkPolicy at all,
// pods are not even listed.
//
// Not done yet: IPv6 (ipBlock refuses IPv6 CIDRs).
package proxy
