// Package testenv is the harness of tug's integration tests: it checks
// prerequisites, creates throw-away network namespaces, starts a private
// containerd and builds the demo images. Everything it creates is removed
// by t.Cleanup.
//
//	func TestSomething(t *testing.T) {
//		testenv.Require(t, "ip", "nsenter")      // root + binaries, else skip (fatal when CI=true)
//		ns := testenv.NewNetNS(t)                // tugtest-<rand>: lo up, no other link, no route out
//		ctrd := testenv.StartContainerd(t, "")   // private containerd, namespace "tug"
//		v1, _ := testenv.HelloImages(t)          // archive of tug.local/hello:v1
//		... import v1, run a container with the netns path ns.Path ...
//		resp, err := ns.HTTPClient().Get("http://127.0.0.1:8080/")
//	}
//
// Rules it enforces or relies on:
//
//   - Missing prerequisites (not root, a binary not found) skip the test, or
//     fail it when the environment variable CI is "true".
//   - Traffic stays inside namespaces the test created: NetNS dials only IP
//     literals (and "localhost"), from a socket created inside the
//     namespace, and its HTTP client ignores proxy variables. A new
//     namespace has only lo, so nothing can leave it.
//   - A namespace is entered with setns on a locked OS thread (Do) or with
//     nsenter --net (Command), never with "ip netns exec", which remounts
//     /sys and hides /sys/fs/cgroup from runc.
//   - Host-global names: runc keeps state under the runc root
//     (Containerd.RuncRoot avoids the shared /run/containerd/runc) and
//     containerd's default spec puts a container in the cgroup /tug/<id>,
//     so container IDs must be unique across test binaries running in
//     parallel; add a random suffix.
//   - StartContainerd's cleanup deletes every task, container and snapshot in
//     namespace "tug" (CleanNamespace, which also rmdirs the now-empty pod
//     cgroups /tug/[class/]pod<uid> that held those containers, in every
//     cgroup hierarchy), stops containerd, kills shims of that containerd still
//     alive (with their children), unmounts what is left under its dir and,
//     for a dir it created itself, removes it.
package testenv
