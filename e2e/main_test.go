package e2e

import (
	"os"
	"testing"
)

// TestMain removes the binaries the tests built (binaries) once they are
// done: each run builds its own, over 100 MB.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
