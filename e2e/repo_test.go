package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMissingRepoAtStart: tugd starts with a repository that does not exist
// yet, keeps serving its API and shows the fetch error, and applies the
// repository once it appears.
func TestMissingRepoAtStart(t *testing.T) {
	repo := &gitRepo{t: t, dir: t.TempDir() + "/not-yet"}
	c := newCluster(t, repo)
	c.start()
	c.waitFor("the fetch error in tug status", 30*time.Second, func() (bool, string) {
		out, err := c.tug("status")
		return err == nil && strings.Contains(out, "Fetch error:"), out
	})

	if err := os.MkdirAll(repo.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	repo.git("init", "-q", "-b", "main")
	repo.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\ndata:\n  k: v\n")
	sha := repo.commit("late arrival")
	c.waitFor("the late repository applied", 60*time.Second, func() (bool, string) {
		st, err := c.client.Status(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return appliedSHA(st) == sha, appliedSHA(st)
	})
	out, err := c.tug("get", "configmaps")
	if err != nil || !strings.Contains(out, "late") {
		t.Errorf("tug get configmaps after the repository appeared: %v\n%s", err, out)
	}
	out, _ = c.tug("status")
	if strings.Contains(out, "Fetch error:") {
		t.Errorf("the fetch error is still shown after a good fetch:\n%s", out)
	}
}
