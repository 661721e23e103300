// Package dns is the node's cluster DNS server (github.com/miekg/dns v1),
// answering from the store as CoreDNS's kubernetes plugin does:
//
//	<svc>.<ns>.svc.cluster.local                 A    cluster IP; headless: every ready address
//	<host>.<svc>.<ns>.svc.cluster.local          A    headless: one ready address (its hostname, or a-b-c-d)
//	_<port>._<proto>.<svc>.<ns>.svc.cluster.local SRV  named ports (headless: one per ready address)
//	d.c.b.a.in-addr.arpa                         PTR  cluster IPs and headless addresses
//	<svc>.<ns>.svc.cluster.local                 CNAME ExternalName: spec.externalName (any type)
//	a-b-c-d.<ns>.pod.cluster.local               A    a.b.c.d (CoreDNS "pods insecure": not checked)
//
// An ExternalName alias is followed inside the cluster domain by the index
// (up to 8 aliases) and outside it by the server, which asks the upstream
// resolvers for the target and appends their answer after the CNAME, as
// CoreDNS does (stub resolvers do not chase CNAMEs themselves). With no
// upstream answering, the reply holds the CNAME alone.
//
// Other names in cluster.local, and reverse names in the service CIDR that
// are no cluster IP, get NXDOMAIN (with the zone's SOA for negative
// caching); names that exist without records of the asked type get an empty
// NOERROR. Every other name is forwarded, over the transport it came on, to
// the host's resolvers (read from /etc/resolv.conf at start). Records live
// TTL (5) seconds.
//
// The work is split in two:
//
//   - BuildIndex (pure) turns Services and Endpoints into an Index, and
//     Index.Lookup (pure) answers one question from it: the table tests
//     cover this.
//   - Server (I/O) keeps one Index behind an atomic pointer, rebuilt whole
//     from Store.List at start and after every Notify of a Service or
//     Endpoints change, so a query never waits for a rebuild; it serves UDP
//     and TCP and forwards what the index does not own.
//
// Where it listens: tugd binds the pod bridge's gateway address (the first
// address of the node's pod CIDR, 10.42.0.1:53). The sockets are bound with
// IP_FREEBIND because that address only appears with the bridge, when the
// first pod starts. Pods reach the server as 10.43.0.10:53, the reserved
// cluster DNS address: the proxy DNATs it there (proxy.Config.ClusterDNS),
// and the node agent writes it into every ClusterFirst pod's resolv.conf.
//
// StatefulSet-style pod names (<hostname>.<svc>.<ns>.svc.cluster.local) are
// served from the Endpoints' hostname, which the reconciler sets for pods
// whose spec.hostname is set and spec.subdomain names the headless service.
//
// Not done yet: AAAA (tug is IPv4-only: empty answers), a DNS cache for
// forwarded answers, pod records checked against existing pods ("pods
// verified").
package dns
