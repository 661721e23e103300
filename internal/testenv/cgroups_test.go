package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPodCgroupDirs(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"/tug/podu1/c1", []string{"/tug/podu1/c1", "/tug/podu1"}},
		{"/tug/burstable/podu1/c1", []string{"/tug/burstable/podu1/c1", "/tug/burstable/podu1"}},
		{"/tug/besteffort/podu1/c1/", []string{"/tug/besteffort/podu1/c1", "/tug/besteffort/podu1"}},
		{"/tug/c1", nil},                      // containerd's default: no pod cgroup
		{"/tug/podu1", nil},                   // a pod cgroup is never a container's
		{"/tug/other/podu1/c1", nil},          // not a QoS class
		{"/tug/burstable/c1/x", nil},          // no pod dir
		{"/tug/pod/c1", nil},                  // no UID
		{"/kubepods/podu1/c1", nil},           // not tug's
		{"/tug/../etc/podu1/c1", nil},         // cleaned, then not below /tug
		{"tug/podu1/c1", nil},                 // relative
		{"system.slice:tug:c1", nil},          // systemd driver
		{"/tug/besteffort/podu1/c1/sub", nil}, // deeper than a container
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, podCgroupDirs(tt.path)); diff != "" {
			t.Errorf("podCgroupDirs(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}

// fakeCgroups builds a cgroup tree of plain directories under a temporary
// root: every dir gets a cgroup.procs (procs[dir] or blank). Its rmdir
// refuses a dir with a child dir or a process, as the kernel does, and
// records what it removed.
type fakeCgroups struct {
	t       *testing.T
	root    string
	removed []string
}

func newFakeCgroups(t *testing.T, v2 bool, hierarchies []string, dirs []string, procs map[string]string) *fakeCgroups {
	f := &fakeCgroups{t: t, root: t.TempDir()}
	if v2 {
		hierarchies = []string{""}
		f.write("cgroup.controllers", "cpu memory")
	}
	for _, h := range hierarchies {
		f.write(filepath.Join(h, "cgroup.procs"), "")
		for _, d := range dirs {
			parts := strings.Split(strings.Trim(d, "/"), "/")
			for i := range parts {
				sub := filepath.Join(h, filepath.Join(parts[:i+1]...))
				f.write(filepath.Join(sub, "cgroup.procs"), procs[sub])
			}
		}
	}
	return f
}

func (f *fakeCgroups) write(rel, data string) {
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeCgroups) rmdir(dir string) error {
	if !strings.HasPrefix(dir, f.root+"/") {
		f.t.Fatalf("rmdir %s outside the fake root", dir)
	}
	empty, children, err := emptyCgroup(dir)
	switch {
	case err != nil:
		return err
	case children || !empty:
		return &fs.PathError{Op: "rmdir", Path: dir, Err: fs.ErrExist}
	}
	if err := os.Remove(filepath.Join(dir, "cgroup.procs")); err != nil {
		return err
	}
	f.removed = append(f.removed, strings.TrimPrefix(dir, f.root))
	return os.Remove(dir)
}

func TestRemovePodCgroups(t *testing.T) {
	v1 := []string{"memory", "cpu,cpuacct", "systemd", "unified"}
	dirs := []string{
		"/tug/besteffort/poda/c1",      // deleted container left its cgroup
		"/tug/burstable/podb",          // runc removed the container's cgroup
		"/tug/podc/c1", "/tug/podc/c2", // c2 is another container, still there
		"/tug/besteffort/podd/c1", // still has a process
		"/tug/besteffort/pode",    // not among the deleted containers
		"/other/podf/c1",          // not below /tug
	}
	deleted := []string{
		"/tug/besteffort/poda/c1", "/tug/burstable/podb/c9", "/tug/podc/c1",
		"/tug/besteffort/podd/c1", "/other/podf/c1", "/tug/c7",
	}
	wantRemoved := []string{"/tug/besteffort/poda/c1", "/tug/besteffort/poda", "/tug/burstable/podb", "/tug/podc/c1"}
	for _, tc := range []struct {
		name string
		v2   bool
	}{{"v1", false}, {"v2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			hs := v1
			if tc.v2 {
				hs = []string{""}
			}
			procs := map[string]string{}
			for _, h := range hs {
				procs[filepath.Join(h, "tug/besteffort/podd/c1")] = "4242\n"
			}
			f := newFakeCgroups(t, tc.v2, v1, dirs, procs)
			if !tc.v2 { // a linked hierarchy is cleaned once
				if err := os.Symlink("cpu,cpuacct", filepath.Join(f.root, "cpu")); err != nil {
					t.Fatal(err)
				}
			}
			c := cgroupCleaner{root: f.root, rmdir: f.rmdir, wait: 150 * time.Millisecond}
			start := time.Now()
			if err := c.removePodCgroups(deleted); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v; the busy pod's wait is shared", took)
			}
			var want []string
			for _, h := range hs {
				for _, d := range wantRemoved {
					want = append(want, filepath.Join("/", h, d))
				}
			}
			slices.Sort(want)
			got := slices.Sorted(slices.Values(f.removed))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			for _, h := range hs {
				for _, keep := range []string{"tug/besteffort", "tug/burstable", "tug/podc/c2", "tug/besteffort/podd/c1", "tug/besteffort/pode", "other/podf/c1"} {
					if _, err := os.Stat(filepath.Join(f.root, h, keep)); err != nil {
						t.Errorf("%s/%s was removed: %v", h, keep, err)
					}
				}
			}
		})
	}
}

func TestRemovePodCgroupsNoHierarchy(t *testing.T) {
	c := cgroupCleaner{root: filepath.Join(t.TempDir(), "none"), rmdir: func(string) error { panic("rmdir") }}
	if err := c.removePodCgroups([]string{"/tug/podu/c"}); err != nil {
		t.Fatal(err)
	}
}
