package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTB records how Require ends a test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
}

func TestMissing(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		euid     int
		binaries []string
		want     []string
	}{
		{"all there", 0, []string{"sh", exe}, nil},
		{"not root", 1000, []string{"sh"}, []string{"root (running as uid 1000)"}},
		{"missing on PATH", 0, []string{"sh", "tug-no-such-binary"}, []string{"tug-no-such-binary (not on PATH)"}},
		{"missing path", 0, []string{"/nonexistent/tool"}, []string{"/nonexistent/tool (not found)"}},
		{"directory is not a binary", 0, []string{filepath.Dir(exe)}, []string{filepath.Dir(exe) + " (not found)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, missing(tt.euid, tt.binaries)); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnavailableSkipsOrFailsOnCI(t *testing.T) {
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			f := &fakeTB{}
			unavailable(f, "missing prerequisites: %s", "runc (not on PATH)")
			if ci == "true" {
				if f.fatal == "" || f.skip != "" || !strings.Contains(f.fatal, "runc (not on PATH)") {
					t.Errorf("CI=true: fatal %q skip %q, want a fatal naming runc", f.fatal, f.skip)
				}
				return
			}
			if f.skip == "" || f.fatal != "" || !strings.Contains(f.skip, "runc (not on PATH)") {
				t.Errorf("CI=%q: fatal %q skip %q, want a skip naming runc", ci, f.fatal, f.skip)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/plain`:          "/tmp/plain",
		`/tmp/with\040space`:  "/tmp/with space",
		`/tmp/tab\011x\134y`:  "/tmp/tab\tx\\y",
		`/tmp/trailing\04`:    `/tmp/trailing\04`,
		`/tmp/notoctal\09912`: `/tmp/notoctal\09912`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasArgPair(t *testing.T) {
	p := procInfo{argv: []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "tug", "-address", "/tmp/a/containerd.sock", "-id", "x"}}
	for _, tt := range []struct {
		flag, value string
		want        bool
	}{
		{"-address", "/tmp/a/containerd.sock", true},
		{"-address", "/tmp/b/containerd.sock", false},
		{"-namespace", "tug", true},
		{"-id", "tug", false},
	} {
		if got := p.hasArgPair(tt.flag, tt.value); got != tt.want {
			t.Errorf("hasArgPair(%s, %s) = %v, want %v", tt.flag, tt.value, got, tt.want)
		}
	}
	eq := procInfo{argv: []string{"shim", "--address=/x"}}
	if !eq.hasArgPair("-address", "/x") {
		t.Errorf("hasArgPair does not match --address=/x")
	}
}

func TestMountsUnderDeepestFirst(t *testing.T) {
	// Every process has / mounted; nothing is mounted under a fresh dir.
	got, err := mountsUnder("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1] != "/" {
		t.Errorf("mountsUnder(/) = %v, want / last", got)
	}
	for i := 1; i < len(got); i++ {
		if len(got[i]) > len(got[i-1]) {
			t.Errorf("mountsUnder not deepest first: %q before %q", got[i-1], got[i])
		}
	}
	if got, _ := mountsUnder(t.TempDir()); len(got) != 0 {
		t.Errorf("mountsUnder(fresh dir) = %v, want none", got)
	}
}

func TestNetNSDialRefusesNames(t *testing.T) {
	n := &NetNS{Name: "unused", Path: "/nonexistent"}
	_, err := n.DialContext(context.Background(), "tcp", "example.com:80")
	if err == nil || !strings.Contains(err.Error(), "must be an IP literal") {
		t.Errorf("dial by name = %v, want a refusal", err)
	}
}

func TestHelloImagesDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the demo app")
	}
	v1, v2 := HelloImages(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	key, err := helloSourceKey(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{v1, v2} {
		if !strings.Contains(p, key) {
			t.Errorf("%s not in the cache dir of key %s", p, key)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() < 1<<20 {
			t.Errorf("%s: %v (size %d), want an archive of the app", p, err, fi.Size())
		}
	}
	a, _ := os.ReadFile(v1)
	b, _ := os.ReadFile(v2)
	if string(a) == string(b) {
		t.Errorf("v1 and v2 archives are identical")
	}
}
