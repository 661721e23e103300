// Package logdriver writes container logs the way the kubelet's runtime
// does, from a process of its own that outlives the node agent.
//
// containerd's shim starts the log driver (an executable given to the agent,
// normally tugd itself, run with Flag) for every task, handing it the
// task's stdout and stderr pipes (containerd's "binary" logging). The
// driver writes one line per output line in the CRI log format,
//
//	2025-03-01T12:00:00.123456789Z stdout F the line
//
// ("P" instead of "F" for a part of a line longer than 16 KiB, continued
// by the next entry), to <dir>/<run>.log, and rotates it by size: when the
// file would grow past MaxSize it becomes <run>.log.1 (older ones shift to
// .2, ...), and at most MaxFiles files (the current one included) are
// kept. Starting, it removes the logs of runs older than the previous one
// (the kubelet keeps the current and the previous container's logs). The
// driver exits when the task's pipes close (the task ended), so logs keep
// being written while the agent is down or restarting.
//
// Format and Parse are the pure halves of the format; Files lists a run's
// files oldest first, for readers.
package logdriver
