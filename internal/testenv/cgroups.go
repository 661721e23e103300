package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"golang.org/x/sys/unix"
)

// cgroupParent is the cgroup under which the node agent puts pod cgroups
// (nodeagent/cgroups.go): /tug[/burstable|/besteffort]/pod<uid>/<container>.
const cgroupParent = "/tug"

// hostCgroupRoot is where the node's cgroup hierarchies are mounted.
const hostCgroupRoot = "/sys/fs/cgroup"

// containerCgroups returns the cgroup paths (linux.cgroupsPath of their OCI
// specs) of containers; containers without one are skipped.
func containerCgroups(ctx context.Context, containers []containerd.Container) []string {
	var out []string
	for _, c := range containers {
		spec, err := c.Spec(ctx)
		if err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
			continue
		}
		out = append(out, spec.Linux.CgroupsPath)
	}
	return out
}

// podCgroupDirs returns, for the cgroup path of a container, the cgroups to
// remove once it is deleted, deepest first: the container's own cgroup
// (runc normally removes it) and the pod cgroup holding it. Only paths of
// the form /tug/[<class>/]pod<uid>/<container> qualify; any other path
// (containerd's default /tug/<id>, a systemd slice) gives nothing.
func podCgroupDirs(cgroupsPath string) []string {
	p := path.Clean(cgroupsPath)
	rest, ok := strings.CutPrefix(p, cgroupParent+"/")
	if !ok || !path.IsAbs(cgroupsPath) {
		return nil
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && isPodDir(parts[0]): // Guaranteed
	case len(parts) == 3 && (parts[0] == "burstable" || parts[0] == "besteffort") && isPodDir(parts[1]):
	default:
		return nil
	}
	return []string{p, path.Dir(p)}
}

func isPodDir(name string) bool {
	uid, ok := strings.CutPrefix(name, "pod")
	return ok && uid != "" && uid != "." && uid != ".."
}

// cgroupCleaner removes empty pod cgroups under root, in every hierarchy
// (cgroup v2: root itself; v1: each controller's and named hierarchy
// below root).
type cgroupCleaner struct {
	root  string
	rmdir func(string) error // unix.Rmdir; a fake in tests
	wait  time.Duration      // how long to retry a cgroup whose processes are still exiting
}

func newCgroupCleaner() cgroupCleaner {
	return cgroupCleaner{root: hostCgroupRoot, rmdir: unix.Rmdir, wait: 2 * time.Second}
}

// hierarchies lists the mount points of the cgroup hierarchies under root.
func (c cgroupCleaner) hierarchies() ([]string, error) {
	if _, err := os.Stat(filepath.Join(c.root, "cgroup.controllers")); err == nil {
		return []string{c.root}, nil // v2, unified
	}
	entries, err := os.ReadDir(c.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range entries {
		dir := filepath.Join(c.root, e.Name())
		real, err := filepath.EvalSymlinks(dir) // cpu -> cpu,cpuacct on some hosts
		if err != nil || seen[real] {
			continue
		}
		if st, err := os.Stat(real); err != nil || !st.IsDir() {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	return out, nil
}

// removePodCgroups removes, in every hierarchy, the pod cgroups (and the
// container cgroups left in them) of cgroupsPaths that are empty: no child
// cgroup and no process. It only ever calls rmdir, only on paths
// podCgroupDirs accepts (below /tug), and never on a cgroup that is in use;
// a missing one is fine.
func (c cgroupCleaner) removePodCgroups(cgroupsPaths []string) error {
	var dirs []string
	seen := map[string]bool{}
	for _, p := range cgroupsPaths {
		for _, d := range podCgroupDirs(p) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	// Deepest first, so a container cgroup goes before its pod's.
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	hs, err := c.hierarchies()
	if err != nil {
		return fmt.Errorf("cgroup hierarchies under %s: %w", c.root, err)
	}
	var errs []error
	deadline := time.Now().Add(c.wait) // one wait for the whole call
	for _, h := range hs {
		for _, d := range dirs {
			if err := c.removeIfEmpty(filepath.Join(h, filepath.FromSlash(d)), deadline); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeIfEmpty rmdirs the cgroup dir when it has no child cgroup and no
// process. Until deadline it retries one that still lists processes or
// that the kernel reports busy (processes of a just-killed task exiting);
// one with a child cgroup is left at once.
func (c cgroupCleaner) removeIfEmpty(dir string, deadline time.Time) error {
	for {
		empty, children, err := emptyCgroup(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if children {
			return nil // in use: not ours to remove
		}
		if empty {
			err = c.rmdir(dir)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if !errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("remove cgroup %s: %w", dir, err)
			}
		}
		if !time.Now().Before(deadline) {
			return nil // still in use: not ours to remove
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// emptyCgroup reports whether dir is a cgroup with no child cgroup and no
// process (its cgroup.procs is blank), and whether it has child cgroups.
// A dir without cgroup.procs is not a cgroup: fs.ErrNotExist.
func emptyCgroup(dir string) (empty, children bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, false, err
	}
	for _, e := range entries {
		if e.IsDir() {
			return false, true, nil
		}
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return false, false, err
	}
	return len(bytes.TrimSpace(procs)) == 0, false, nil
}
