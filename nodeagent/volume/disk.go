package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Dir returns the directory of volume name of the pod whose directory is
// podDir.
func Dir(podDir, name string) string {
	return filepath.Join(podDir, ".volumes", name)
}

// Setup creates v's directory under podDir, mounts its tmpfs when it has one
// and writes its files with SyncAtomic (the "..data" link layout). It is safe
// to repeat; a repeat with changed files swaps the content atomically.
//
// A hostPath volume has no directory under podDir: Setup checks (or, for
// DirectoryOrCreate and FileOrCreate, creates) its path on the node.
func Setup(podDir string, v Volume) error {
	if v.Kind == HostPath {
		if err := checkHostPath(v.Host, v.HostType); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return nil
	}
	dir := Dir(podDir, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if v.Tmpfs {
		mounted, err := isMountPoint(dir)
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if !mounted {
			opts := "mode=0755"
			if v.Size > 0 {
				opts += ",size=" + strconv.FormatInt(v.Size, 10)
			}
			if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
				return fmt.Errorf("volume %q: mount tmpfs on %s: %w", v.Name, dir, err)
			}
		}
	}
	if v.Kind == EmptyDir {
		return nil
	}
	if _, err := SyncAtomic(dir, v.Files, time.Now()); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return nil
}

// Sync makes dir hold exactly files: changed files are replaced atomically,
// missing ones written and unlisted ones removed. It reports whether anything
// changed.
func Sync(dir string, files []File) (bool, error) {
	changed := false
	want := make(map[string]bool, len(files))
	for _, f := range files {
		if err := checkRel(f.Path); err != nil {
			return changed, err
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		want[p] = true
		if same(p, f) {
			continue
		}
		if err := writeAtomic(p, f.Data, f.Mode); err != nil {
			return changed, err
		}
		changed = true
	}
	// Remove files (and then empty directories) nobody wants any more.
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if !want[p] {
			if err := os.Remove(p); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("sync %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, as intended, while not empty
	}
	return changed, nil
}

func same(p string, f File) bool {
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != f.Mode.Perm() {
		return false
	}
	data, err := os.ReadFile(p)
	return err == nil && bytes.Equal(data, f.Data)
}

func writeAtomic(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode.Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Teardown unmounts every volume under podDir and removes podDir.
func Teardown(podDir string) error {
	entries, err := os.ReadDir(filepath.Join(podDir, ".volumes"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("teardown %s: %w", podDir, err)
	}
	for _, e := range entries {
		dir := filepath.Join(podDir, ".volumes", e.Name())
		if mounted, _ := isMountPoint(dir); mounted {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("teardown %s: unmount %s: %w", podDir, dir, err)
			}
		}
	}
	if err := os.RemoveAll(podDir); err != nil {
		return fmt.Errorf("teardown %s: %w", podDir, err)
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// checkHostPath checks path against a hostPath type as the kubelet does
// (following links); DirectoryOrCreate creates the directory (and its
// parents, mode 0755), FileOrCreate an empty file of mode 0644 (not its
// parent directory, as in Kubernetes).
func checkHostPath(path string, t corev1.HostPathType) error {
	st, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("hostPath %s: %w", path, err)
	}
	want := func(ok bool, what string) error {
		if missing {
			return fmt.Errorf("hostPath type check failed: %s does not exist (type %s)", path, t)
		}
		if !ok {
			return fmt.Errorf("hostPath type check failed: %s is not a %s (type %s)", path, what, t)
		}
		return nil
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if missing {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath %s: %w", path, err)
			}
			return nil
		}
		return want(st.IsDir(), "directory")
	case corev1.HostPathFileOrCreate:
		if missing {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath %s: %w", path, err)
			}
			return f.Close()
		}
		return want(st.Mode().IsRegular(), "file")
	case corev1.HostPathDirectory:
		return want(err == nil && st.IsDir(), "directory")
	case corev1.HostPathFile:
		return want(err == nil && st.Mode().IsRegular(), "file")
	case corev1.HostPathSocket:
		return want(err == nil && st.Mode()&fs.ModeSocket != 0, "socket")
	case corev1.HostPathCharDev:
		return want(err == nil && st.Mode()&fs.ModeCharDevice != 0, "character device")
	case corev1.HostPathBlockDev:
		return want(err == nil && st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0, "block device")
	}
	return fmt.Errorf("hostPath type %q is not supported", t)
}
