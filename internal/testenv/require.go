package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CI reports whether the environment variable CI is "true": then a missing
// prerequisite fails a test instead of skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// Require checks that the test runs as root and that every binary exists,
// either on PATH or, for a name containing a slash, at that path. When
// something is missing it calls t.Fatal if CI() and t.Skip otherwise.
func Require(t testing.TB, binaries ...string) {
	t.Helper()
	if missing := missing(os.Geteuid(), binaries); len(missing) > 0 {
		unavailable(t, "missing prerequisites: %s", strings.Join(missing, "; "))
	}
}

// missing lists the prerequisites that are not met.
func missing(euid int, binaries []string) []string {
	var out []string
	if euid != 0 {
		out = append(out, fmt.Sprintf("root (running as uid %d)", euid))
	}
	for _, b := range binaries {
		if strings.Contains(b, "/") {
			if fi, err := os.Stat(b); err != nil || fi.IsDir() {
				out = append(out, fmt.Sprintf("%s (not found)", b))
			}
			continue
		}
		if _, err := exec.LookPath(b); err != nil {
			out = append(out, fmt.Sprintf("%s (not on PATH)", b))
		}
	}
	return out
}

// unavailable fails the test when CI() and skips it otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format+" (CI=true: a missing prerequisite is a failure)", args...)
		return
	}
	t.Skipf(format, args...)
}
