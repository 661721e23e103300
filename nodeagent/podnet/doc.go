// Package podnet gives each pod its own network namespace and wires it to
// the node's pod bridge through CNI.
//
// Layout under the agent's data directory:
//
//	netns/<pod uid>          bind mount of the pod's network namespace
//	cni/cache/               libcni's cache (results and configs per pod)
//	cni/ipam/tug/<ip>        host-local allocations (first line: pod uid)
//
// The CNI network is the conflist "tug": bridge "tug0" (isGateway, hairpin,
// no IP masquerade, so no iptables rules), host-local IPAM over the node's
// pod CIDR, then loopback. The CNI container ID is the pod UID and the
// interface is eth0.
//
// Namespaces are created on a locked OS thread that returns to the
// namespace it started in, so the calling process's own network namespace
// is the "host" side: in production the root namespace, in tests the test's
// namespace (the agent's integration test re-runs itself under nsenter).
//
// Teardown releases the address with CNI DEL, then removes by hand any
// host-local allocation file still naming the pod (under host-local's
// lock): the Debian plugins speak CNI 1.0.0, which has no GC command, and
// DEL misses files written in another format. Pods lists every UID with a
// namespace, a cached result or an allocation, so the agent's clean-up
// covers all three.
//
// Setup and Teardown are idempotent: Setup reuses a namespace and a cached
// CNI result it finds, and repairs a half-done earlier attempt with a DEL
// before the ADD; Teardown of something already gone succeeds.
package podnet
