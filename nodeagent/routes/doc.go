// Package routes gives pods on different nodes a path to each other the
// host-gw way: every node's spec.podCIDR is routed via that node's
// InternalIP on every other node, with no encapsulation, so nodes must
// share a layer-2 network (the gateway has to be on a directly connected
// subnet, or the kernel refuses the route).
//
// The work is split in three, like the rest of tug:
//
//   - Plan (pure) turns the Node objects into the routes this node wants:
//     one per other node that has a pod CIDR and an IPv4 InternalIP. A node
//     without either, a loopback or own-address gateway, and a pod CIDR
//     overlapping this node's or an earlier (by name) node's get none.
//   - Diff (pure) compares the routes tug installed with the wanted ones.
//   - Applier (I/O, github.com/vishvananda/netlink) lists the main table's
//     routes carrying tug's routing protocol number, Protocol (0x74), and
//     replaces or deletes them to match. Every route tug adds carries that
//     number, and only routes carrying it are ever deleted or replaced, so
//     routes of other owners (the kernel's, DHCP's, the CNI bridge's, an
//     operator's) are never touched, and a route left by an earlier tugd is
//     adopted or removed at the next pass. `ip route show proto 0x74` shows
//     them.
//
// Loop.Run ties them together: it reads the Nodes from a Store at start, on
// every Node change and on a resync period (which also repairs routes
// someone deleted), and retries failures with back-off. A Node removed from
// the store loses its route on the next pass. It leaves the routes in place
// when it stops, so pod traffic keeps flowing while tugd restarts.
package routes
