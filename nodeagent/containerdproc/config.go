package containerdproc

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// Namespace is the containerd namespace of everything tug creates: images,
// containers, tasks, snapshots and leases.
const Namespace = "tug"

// maxSocketPath is the longest path a unix socket address can have on Linux
// (sun_path is 108 bytes including the terminating NUL).
const maxSocketPath = 107

// disabledPlugins are containerd plugins tug does not use. IDs that a given
// containerd version does not have are ignored by containerd.
// io.containerd.runtime.v1.linux is not here although tug never uses it:
// containerd 1.6's tasks service fails to load without it.
var disabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.internal.v1.opt",
	"io.containerd.internal.v1.restart",
	"io.containerd.internal.v1.tracing",
	"io.containerd.nri.v1.nri",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.native",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
}

// requiredPlugins must load or containerd refuses to start.
var requiredPlugins = []string{
	"io.containerd.runtime.v2.task",
	"io.containerd.snapshotter.v1.overlayfs",
}

// Paths are the files and directories of one containerd under its Dir.
type Paths struct {
	Dir         string
	Config      string // config.toml
	Root        string // persistent data
	State       string // runtime state
	Temp        string // temporary files
	Address     string // gRPC socket
	TTRPC       string // ttrpc socket
	Debug       string // debug socket
	Log         string // stdout and stderr of containerd
	RuncRoot    string // runc state root (see Proc.RuncRoot)
	Snapshotter string // the one snapshotter kept: "overlayfs"
}

// PathsFor returns the layout of a containerd living under dir.
func PathsFor(dir string) Paths {
	return Paths{
		Dir:         dir,
		Config:      filepath.Join(dir, "config.toml"),
		Root:        filepath.Join(dir, "root"),
		State:       filepath.Join(dir, "state"),
		Temp:        filepath.Join(dir, "tmp"),
		Address:     filepath.Join(dir, "containerd.sock"),
		TTRPC:       filepath.Join(dir, "containerd.sock.ttrpc"),
		Debug:       filepath.Join(dir, "debug.sock"),
		Log:         filepath.Join(dir, "containerd.log"),
		RuncRoot:    filepath.Join(dir, "runc"),
		Snapshotter: "overlayfs",
	}
}

// sockets returns every unix socket path of p.
func (p Paths) sockets() []string { return []string{p.Address, p.TTRPC, p.Debug} }

// check reports paths the kernel cannot use as socket addresses.
func (p Paths) check() error {
	if !filepath.IsAbs(p.Dir) {
		return fmt.Errorf("containerd dir %q is not an absolute path", p.Dir)
	}
	for _, s := range p.sockets() {
		if len(s) > maxSocketPath {
			return fmt.Errorf("containerd socket path %s is %d bytes, longer than the %d a unix socket allows; choose a shorter dir", s, len(s), maxSocketPath)
		}
	}
	return nil
}

// RenderConfig returns the config.toml (version 2) of a containerd living
// under dir. It is a pure function of dir.
func RenderConfig(dir string) []byte {
	p := PathsFor(dir)
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Written by tug (nodeagent/containerdproc) before every start; edits are overwritten.\n")
	w("version = 2\n")
	w("root = %s\n", tomlString(p.Root))
	w("state = %s\n", tomlString(p.State))
	w("temp = %s\n", tomlString(p.Temp))
	w("oom_score = 0\n")
	w("imports = []\n")
	w("disabled_plugins = %s\n", tomlStrings(disabledPlugins))
	w("required_plugins = %s\n", tomlStrings(requiredPlugins))
	w("\n[grpc]\n")
	w("  address = %s\n", tomlString(p.Address))
	w("  tcp_address = \"\"\n")
	w("  uid = 0\n  gid = 0\n")
	w("\n[ttrpc]\n")
	w("  address = %s\n", tomlString(p.TTRPC))
	w("  uid = 0\n  gid = 0\n")
	w("\n[debug]\n")
	w("  address = %s\n", tomlString(p.Debug))
	w("  level = \"info\"\n")
	w("  uid = 0\n  gid = 0\n")
	w("\n[metrics]\n")
	w("  address = \"\"\n")
	w("\n[timeouts]\n")
	// The default 0 waits forever for the metadata lock; a second containerd
	// on the same root should fail instead.
	w("  \"io.containerd.timeout.bolt.open\" = \"10s\"\n")
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
