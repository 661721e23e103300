package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/gitsync/webhook"
	"github.com/tug-dev/tug/manifest"
)

// TestGitTagTracking runs tugd with --tag and a generic webhook: commits to
// the branch change nothing, a moved tag is applied (a webhook naming the
// tag triggers the sync), a force-moved tag is recorded as a rewrite, and
// the API and `tug status` show the tracked tag and the webhook counters.
func TestGitTagTracking(t *testing.T) {
	repo := newRepo(t)
	repo.write("config.yaml", configMapYAML("one"))
	v1 := repo.commit("v1")
	repo.git("tag", "-a", "-m", "release v1", "release", v1)
	c := newCluster(t, repo)
	secretFile := filepath.Join(t.TempDir(), "generic-secret")
	secret := []byte("e2e-webhook-secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	c.startWith("--tag", "release", "--poll-interval", "1h", "--webhook-secret-file", "generic="+secretFile)
	if rec := c.syncRecord(v1); rec.Outcome != manifest.OutcomeApplied {
		t.Fatalf("tagged commit: outcome %q, want Applied", rec.Outcome)
	}

	post := func(ref string) {
		body := []byte(`{"ref":"` + ref + `"}`)
		req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/hooks/generic", bytes.NewReader(body))
		req.Header.Set(webhook.HeaderGenericSignature, webhook.Sign(secret, body))
		resp, err := c.ns.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("POST webhook: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook for %s: status %d, want 202", ref, resp.StatusCode)
		}
	}

	// A commit on the branch (and a webhook for it) is not the tag.
	repo.write("config.yaml", configMapYAML("two"))
	v2 := repo.commit("v2")
	post("refs/heads/main")
	time.Sleep(time.Second)
	if st, err := c.client.Status(context.Background()); err != nil || appliedSHA(st) != v1 {
		t.Fatalf("after a branch commit: applied %s (err %v), want the tagged %s", appliedSHA(st), err, v1[:7])
	}

	// The tag moves to v2; the webhook naming it triggers the sync.
	repo.git("tag", "-f", "-a", "-m", "release v2", "release", v2)
	post("refs/tags/release")
	rec := c.syncRecord(v2)
	if rec.Outcome != manifest.OutcomeApplied || rec.Rewrite {
		t.Errorf("moved tag: outcome %q rewrite %v, want Applied without rewrite", rec.Outcome, rec.Rewrite)
	}
	if rec.Trigger != gitsync.TriggerWebhook && rec.Trigger != gitsync.TriggerFSNotify {
		t.Errorf("moved tag: trigger %q, want webhook (or fsnotify)", rec.Trigger)
	}

	// Force-moved to a commit that does not descend from v2: a rewrite.
	repo.git("checkout", "-q", "-b", "hotfix", v1)
	repo.write("config.yaml", configMapYAML("hotfix"))
	hotfix := repo.commit("hotfix")
	repo.git("tag", "-f", "release", hotfix)
	post("refs/tags/release")
	if rec := c.syncRecord(hotfix); !rec.Rewrite || rec.Previous != v2 {
		t.Errorf("force-moved tag: rewrite %v previous %q, want a rewrite of %s", rec.Rewrite, rec.Previous, v2[:7])
	}

	st, err := c.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Tag != "release" || st.Branch != "" || st.Commit != "" {
		t.Errorf("status ref: branch %q tag %q commit %q, want tag release", st.Branch, st.Tag, st.Commit)
	}
	if w := st.Webhooks; w == nil || w.Triggered != 2 || w.Ignored != 1 || w.Unauthorized != 0 {
		t.Errorf("webhook counters = %+v, want 2 triggered and 1 ignored", w)
	}
	out, err := c.tug("status")
	if err != nil {
		t.Fatalf("tug status: %v\n%s", err, out)
	}
	if line := firstLine(out, "Repository:"); !strings.Contains(line, "(tag release)") {
		t.Errorf("tug status repository line %q does not name the tag\n%s", line, out)
	}
	if line := firstLine(out, "Webhooks:"); !strings.Contains(line, "triggered 2, ignored 1") {
		t.Errorf("tug status webhooks line %q\n%s", line, out)
	}
}

// TestGitFixedCommit runs tugd with --commit on a commit behind the branch
// head: it is applied, later commits are not, and the status names it.
func TestGitFixedCommit(t *testing.T) {
	repo := newRepo(t)
	repo.write("config.yaml", configMapYAML("pinned"))
	pinned := repo.commit("pinned")
	repo.write("config.yaml", configMapYAML("later"))
	later := repo.commit("later")
	c := newCluster(t, repo)
	c.startWith("--commit", pinned)
	if rec := c.syncRecord(pinned); rec.Outcome != manifest.OutcomeApplied {
		t.Fatalf("pinned commit: outcome %q, want Applied", rec.Outcome)
	}
	repo.write("config.yaml", configMapYAML("even-later"))
	repo.commit("even later")
	time.Sleep(2500 * time.Millisecond) // more than two 1s polls
	recs, err := c.client.Syncs(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.SHA != pinned {
			t.Errorf("sync record of %s (later is %s): a fixed commit must not change", r.SHA[:7], later[:7])
		}
	}
	st, err := c.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Commit != pinned || st.Branch != "" || st.Webhooks != nil || (st.Sync != nil && st.Sync.LastFetchError != "") {
		t.Errorf("status: branch %q commit %q webhooks %+v sync %+v", st.Branch, st.Commit, st.Webhooks, st.Sync)
	}
	out, err := c.tug("status")
	if err != nil || !strings.Contains(firstLine(out, "Repository:"), "(commit "+pinned[:7]+", fixed)") || strings.Contains(out, "Webhooks:") {
		t.Errorf("tug status (err %v):\n%s", err, out)
	}
}

// TestTugdRefFlags: --branch, --tag and --commit exclude each other, with a
// clear error before anything starts.
func TestTugdRefFlags(t *testing.T) {
	bin := binaries(t)
	sha := strings.Repeat("a", 40)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--branch", "main", "--tag", "v1"}, "--branch with --tag or --commit"},
		{[]string{"--branch", "main", "--commit", sha}, "--branch with --tag or --commit"},
		{[]string{"--tag", "v1", "--commit", sha}, "--tag and --commit"},
		{[]string{"--commit", sha, "--webhook-secret-file", "generic=/nonexistent"}, "a fixed commit never changes"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "tugd"), append([]string{"--repo", t.TempDir(), "--data-dir", t.TempDir()}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("tugd %v: err %v, output %q; want a failure saying %q", tt.args, err, out, tt.want)
		}
	}
}
