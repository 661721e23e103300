package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnsureStorageDir creates a local-path volume's directory with mode 0777,
// as local-path-provisioner does, so a container of any user can write
// there. An existing directory is left as it is.
func EnsureStorageDir(storageDir, path string) error {
	if err := checkStoragePath(storageDir, path); err != nil {
		return err
	}
	if st, err := os.Lstat(path); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("volume directory %s exists and is not a directory", path)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("volume directory %s: %w", path, err)
	}
	if err := os.Mkdir(path, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("volume directory %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o777); err != nil { // the umask took bits away
		return fmt.Errorf("volume directory %s: %w", path, err)
	}
	return nil
}

// RemoveStorageDir removes a volume's directory under storageDir (reclaim
// policy Delete). A missing directory is not an error.
func RemoveStorageDir(storageDir, path string) error {
	if err := checkStoragePath(storageDir, path); err != nil {
		return err
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove volume directory %s: %w", path, err)
	}
	return nil
}

// EmptyStorageDir removes everything inside a volume's directory under
// storageDir, keeping the directory (reclaim policy Recycle, as the
// recycler pod's "rm -rf /scrub/*" does).
func EmptyStorageDir(storageDir, path string) error {
	if err := checkStoragePath(storageDir, path); err != nil {
		return err
	}
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recycle volume directory %s: %w", path, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(path, e.Name())); err != nil {
			return fmt.Errorf("recycle volume directory %s: %w", path, err)
		}
	}
	return nil
}

// checkStoragePath refuses a path that is not strictly below storageDir,
// lexically and after resolving links (a link inside the storage directory
// must not lead the agent to remove anything outside it).
func checkStoragePath(storageDir, path string) error {
	if !Within(storageDir, path) {
		return fmt.Errorf("volume directory %s is not under %s; tug touches only the directories it provisions", path, storageDir)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("volume directory %s is a symbolic link; refusing to follow it", path)
	}
	realDir, err := filepath.EvalSymlinks(storageDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing there yet: nothing can lead outside
	}
	if err != nil {
		return fmt.Errorf("storage directory %s: %w", storageDir, err)
	}
	realParent, err := filepath.EvalSymlinks(filepath.Dir(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("volume directory %s: %w", path, err)
	}
	if realParent != realDir && !Within(realDir, realParent) {
		return fmt.Errorf("volume directory %s leads outside %s through a link; refusing it", path, storageDir)
	}
	return nil
}
