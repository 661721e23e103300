package nodeagent

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/state"
	"golang.org/x/sys/unix"
)

// integrationEnv is the common start of an integration test: a private
// containerd with the demo image imported, a data directory whose mounts
// are undone when the test ends, and a state store.
func integrationEnv(t *testing.T) (*testenv.Containerd, context.Context, string, *state.Store) {
	t.Helper()
	ctrd := testenv.StartContainerd(t, "")
	ctx := ctrd.Context(t)
	v1, _ := testenv.HelloImages(t)
	importImage(t, ctx, ctrd.Client, v1)

	dataDir := t.TempDir()
	t.Cleanup(func() {
		for _, m := range slices.Backward(mountsUnder(t, dataDir)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return ctrd, ctx, dataDir, st
}
