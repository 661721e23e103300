// Package containerdproc runs the containerd daemon that tugd owns, as k3s
// does: a child process whose root, state, sockets, log and config all live
// under one directory, usually <data-dir>/containerd:
//
//	<Dir>/
//	├── config.toml               written by Run before every start
//	├── containerd.sock           gRPC API (Address)
//	├── containerd.sock.ttrpc     ttrpc API
//	├── debug.sock                debug/pprof API
//	├── containerd.log            containerd's stdout and stderr, appended
//	├── root/                     persistent data (content, snapshots, metadata)
//	├── state/                    runtime state (bundles, shim addresses)
//	├── tmp/                      containerd's temporary files
//	└── runc/                     runc state root for callers that pass RuncRoot
//
// The config (RenderConfig) is version 2, disables the CRI plugin, every
// snapshotter except overlayfs, the restart monitor, NRI, tracing and the
// /opt installer, and requires the overlayfs snapshotter and the v2 task
// runtime (io.containerd.runc.v2), so a host that cannot provide them fails
// at start with containerd's own message in containerd.log. (The legacy v1
// runtime stays: containerd 1.6's tasks service refuses to load without it.)
//
// Process handling:
//
//   - The child runs in its own process group, so a ^C at tugd's terminal does
//     not reach it, and with the parent-death signal SIGKILL, so a tugd killed
//     with SIGKILL does not leave an orphan containerd holding the socket. The
//     child is started from a goroutine locked to its OS thread that stays
//     alive until the child exits, because Linux sends the parent-death
//     signal when the starting thread exits, not the process.
//   - containerd's shims (containerd-shim-runc-v2) and containers are not
//     children of containerd and survive its death; a restarted containerd
//     re-attaches to the tasks that still run.
//   - A stale socket left by a dead containerd is removed before start; a
//     socket another live process still answers on is an error.
//   - When the child dies while Run's context is live, Run restarts it after
//     a back-off (500 ms, doubling to 30 s, reset after a minute of uptime).
//   - When the context ends, Run sends SIGTERM, waits at most 10 s, then
//     sends SIGKILL, and returns nil once the child is gone.
//
// Usage:
//
//	p := containerdproc.New(containerdproc.Config{Dir: "/var/lib/tug/containerd", Logger: log})
//	go func() { errc <- p.Run(ctx) }()
//	if err := p.WaitReady(ctx); err != nil { ... }
//	client, err := containerd.New(p.Address(), containerd.WithDefaultNamespace(containerdproc.Namespace))
//
// Every containerd object tug creates lives in the namespace Namespace
// ("tug").
package containerdproc
