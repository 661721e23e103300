package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DataLink is the name of the symbolic link that points at the directory
// holding the current content of a configMap or secret volume, as in the
// kubelet's atomic writer.
const DataLink = "..data"

// SyncAtomic makes dir present exactly files the way the kubelet's atomic
// writer does: the files live in a timestamped directory "..<ts>", the link
// "..data" points at it, and every top-level name of the volume is a link
// "name -> ..data/name". A change writes a whole new timestamped directory
// and swaps "..data" with a single rename, so a reader of the volume sees
// either the old content or the new one, never a mix. now names the new
// directory. It reports whether anything changed.
//
// A directory written by Sync (plain files, no "..data") is converted.
func SyncAtomic(dir string, files []File, now time.Time) (bool, error) {
	for _, f := range files {
		if err := checkRel(f.Path); err != nil {
			return false, err
		}
		if strings.HasPrefix(f.Path, "..") {
			return false, fmt.Errorf("path %q must not start with \"..\"", f.Path)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, DataLink))
	if oldTS != "" && payloadMatches(filepath.Join(dir, oldTS), files) && linksMatch(dir, files) {
		return false, nil
	}

	// 1. Write the new content into a fresh timestamped directory.
	tsDir, err := os.MkdirTemp(dir, ".."+now.UTC().Format("2006_01_02_15_04_05.")+"*")
	if err != nil {
		return false, fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("sync %s: %w", dir, err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(tsDir, filepath.FromSlash(f.Path)), f.Data, f.Mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	ts := filepath.Base(tsDir)

	// 2. Swap ..data in one rename.
	tmpLink := filepath.Join(dir, DataLink+"_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(ts, tmpLink); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, DataLink)); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("sync %s: swap %s: %w", dir, DataLink, err)
	}

	// 3. Point each top-level name at ..data/name.
	top := topLevel(files)
	for name := range top {
		p := filepath.Join(dir, name)
		want := filepath.Join(DataLink, name)
		if got, err := os.Readlink(p); err == nil && got == want {
			continue
		}
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			if err := os.RemoveAll(p); err != nil { // a directory of the old plain layout
				return true, fmt.Errorf("sync %s: %w", dir, err)
			}
		}
		tmp := p + ".tmp-link"
		_ = os.Remove(tmp)
		if err := os.Symlink(want, tmp); err != nil {
			return true, fmt.Errorf("sync %s: %w", dir, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return true, fmt.Errorf("sync %s: %w", dir, err)
		}
	}

	// 4. Remove what is no longer wanted: old links, old timestamped
	// directories, plain files of the old layout.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, fmt.Errorf("sync %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		if n == DataLink || n == ts || top[n] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return true, fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return true, nil
}

// topLevel returns the first path element of every file.
func topLevel(files []File) map[string]bool {
	top := make(map[string]bool, len(files))
	for _, f := range files {
		name, _, _ := strings.Cut(f.Path, "/")
		top[name] = true
	}
	return top
}

// payloadMatches reports whether tsDir holds exactly files. Permission bits
// need only include the wanted ones: fsGroup ownership adds group bits.
func payloadMatches(tsDir string, files []File) bool {
	want := make(map[string]File, len(files))
	for _, f := range files {
		want[filepath.FromSlash(f.Path)] = f
	}
	n := 0
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(tsDir, p)
		f, ok := want[rel]
		if !ok || !d.Type().IsRegular() {
			return errMismatch
		}
		st, err := d.Info()
		if err != nil || st.Mode().Perm()&f.Mode.Perm() != f.Mode.Perm() {
			return errMismatch
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, f.Data) {
			return errMismatch
		}
		n++
		return nil
	})
	return err == nil && n == len(want)
}

var errMismatch = errors.New("mismatch")

// linksMatch reports whether every top-level name is the right link and
// nothing else but ..data and one timestamped directory is in dir.
func linksMatch(dir string, files []File) bool {
	top := topLevel(files)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	others := 0
	for _, e := range entries {
		n := e.Name()
		switch {
		case top[n]:
			if got, err := os.Readlink(filepath.Join(dir, n)); err != nil || got != filepath.Join(DataLink, n) {
				return false
			}
		case n == DataLink:
		default:
			others++
		}
	}
	return others == 1
}

func writeFile(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
