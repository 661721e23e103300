package containerdproc

import (
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestRenderConfigGolden(t *testing.T) {
	got := RenderConfig("/var/lib/tug/containerd")
	golden := filepath.Join("testdata", "config.toml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("RenderConfig (-want +got):\n%s", diff)
	}
}

// TestRenderConfigContract checks the properties the rest of tug relies on,
// for several directories, independent of formatting.
func TestRenderConfigContract(t *testing.T) {
	for _, dir := range []string{"/var/lib/tug/containerd", "/tmp/x y", `/tmp/q"uote\back`} {
		t.Run(dir, func(t *testing.T) {
			cfg := string(RenderConfig(dir))
			p := PathsFor(dir)
			for _, want := range []string{
				"version = 2\n",
				"root = " + tomlString(p.Root) + "\n",
				"state = " + tomlString(p.State) + "\n",
				"[grpc]\n  address = " + tomlString(p.Address) + "\n",
				"[ttrpc]\n  address = " + tomlString(p.TTRPC) + "\n",
				"[debug]\n  address = " + tomlString(p.Debug) + "\n",
				`"io.containerd.grpc.v1.cri"`,
				`required_plugins = ["io.containerd.runtime.v2.task", "io.containerd.snapshotter.v1.overlayfs"]`,
			} {
				if !strings.Contains(cfg, want) {
					t.Errorf("config lacks %q:\n%s", want, cfg)
				}
			}
			disabled := cfg[strings.Index(cfg, "disabled_plugins"):]
			disabled = disabled[:strings.Index(disabled, "\n")]
			for _, keep := range []string{"overlayfs", "runtime.v2", "runtime.v1.linux", "tasks-service", "metadata"} {
				if strings.Contains(disabled, keep) {
					t.Errorf("disabled_plugins disables %s: %s", keep, disabled)
				}
			}
		})
	}
}

func TestTOMLString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/var/lib/tug", `"/var/lib/tug"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb\tc\x7f", `"a\u000Ab\u0009c\u007F"`},
		{"ünï", `"ünï"`},
	}
	for _, tt := range tests {
		if got := tomlString(tt.in); got != tt.want {
			t.Errorf("tomlString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestPathsCheck(t *testing.T) {
	long := "/" + strings.Repeat("d", 90)
	tests := []struct {
		dir     string
		wantErr string
	}{
		{"/var/lib/tug/containerd", ""},
		{"relative/dir", "not an absolute path"},
		{long, "longer than the 107"},
	}
	for _, tt := range tests {
		err := PathsFor(tt.dir).check()
		if tt.wantErr == "" && err != nil {
			t.Errorf("check(%s) = %v, want nil", tt.dir, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("check(%s) = %v, want error containing %q", tt.dir, err, tt.wantErr)
		}
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/systemd/notify", "LISTEN_FDS=3", "LISTEN_PID=1", "HOME=/root"})
	if diff := cmp.Diff([]string{"PATH=/bin", "HOME=/root"}, got); diff != "" {
		t.Errorf("childEnv (-want +got):\n%s", diff)
	}
}

func TestRemoveStaleSockets(t *testing.T) {
	dir, err := os.MkdirTemp("", "tugcp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := New(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	paths := p.Paths()

	// A stale socket: bound, then its listener closed without unlinking.
	ln, err := net.Listen("unix", paths.Address)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	// A stale regular file where the ttrpc socket goes.
	if err := os.WriteFile(paths.TTRPC, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.removeStaleSockets(); err != nil {
		t.Fatalf("removeStaleSockets: %v", err)
	}
	for _, s := range paths.sockets() {
		if _, err := os.Lstat(s); !os.IsNotExist(err) {
			t.Errorf("%s still exists (lstat: %v)", s, err)
		}
	}

	// A live socket is refused and kept.
	live, err := net.Listen("unix", paths.Debug)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	err = p.removeStaleSockets()
	if err == nil || !strings.Contains(err.Error(), "served by another live process") {
		t.Fatalf("removeStaleSockets with a live socket = %v, want a refusal", err)
	}
	if _, err := os.Lstat(paths.Debug); err != nil {
		t.Errorf("live socket removed: %v", err)
	}
}
