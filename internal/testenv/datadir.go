package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// CleanupDataDir removes what a tugd (stopped or killed) left behind under
// its data directory: containers keep running after tugd stops by design,
// so this starts a containerd on the data dir's containerd directory, deletes
// every task, container and snapshot of namespace "tug", stops it, kills
// leftover shims, and unmounts the pod network namespaces and anything else
// mounted under dataDir. Call it from t.Cleanup after tugd has stopped.
func CleanupDataDir(t testing.TB, dataDir string) {
	t.Helper()
	// Cleanups run last-registered first: the unmount below runs after
	// StartContainerd's own cleanup has removed the containers.
	t.Cleanup(func() {
		if err := unmountUnder(dataDir); err != nil {
			t.Errorf("unmount under %s: %v", dataDir, err)
		}
	})
	dir := filepath.Join(dataDir, "containerd")
	if _, err := os.Stat(dir); err != nil {
		return
	}
	StartContainerd(t, dir)
}
