package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/gitsync/webhook"
	"github.com/tug-dev/tug/manifest"
)

// startWith is start with extra tugd flags (later flags win).
func (c *cluster) startWith(extra ...string) {
	c.t.Helper()
	bin := binaries(c.t)
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"--net=" + c.ns.Path, "--",
		filepath.Join(bin, "tugd"), "--repo", c.repo.dir, "--data-dir", c.dataDir,
		"--listen", listen, "--poll-interval", "1s", "--node-name", "node-1", "--log-level", "debug"}, extra...)
	c.cmd = exec.Command("nsenter", args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start tugd: %v", err)
	}
	c.done = make(chan error, 1)
	go func(cmd *exec.Cmd) { c.done <- cmd.Wait(); logf.Close() }(c.cmd)
	c.waitFor("API answering", 30*time.Second, func() (bool, string) {
		_, err := c.client.Status(context.Background())
		return err == nil, fmt.Sprint(err)
	})
}

func (c *cluster) syncRecord(sha string) manifest.SyncRecord {
	c.t.Helper()
	var rec manifest.SyncRecord
	c.waitFor("sync record of "+sha[:7], 30*time.Second, func() (bool, string) {
		recs, err := c.client.Syncs(context.Background(), 20)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range recs {
			if r.SHA == sha {
				rec = r
				return true, ""
			}
		}
		return false, "no record yet"
	})
	return rec
}

func configMapYAML(value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: triggers\ndata:\n  value: " + value + "\n"
}

// TestGitTriggers runs tugd with an hour-long poll: a local commit still
// syncs at once (fsnotify), and the webhook endpoint on the API listener
// answers as documented.
func TestGitTriggers(t *testing.T) {
	repo := newRepo(t)
	repo.write("config.yaml", configMapYAML("one"))
	first := repo.commit("first")
	c := newCluster(t, repo)
	secretFile := filepath.Join(t.TempDir(), "generic-secret")
	secret := []byte("e2e-webhook-secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	c.startWith("--poll-interval", "1h", "--webhook-secret-file", "generic="+secretFile)
	if rec := c.syncRecord(first); rec.Trigger != gitsync.TriggerStart {
		t.Errorf("first sync trigger %q, want %q", rec.Trigger, gitsync.TriggerStart)
	}

	repo.write("config.yaml", configMapYAML("two"))
	committed := time.Now()
	second := repo.commit("second")
	rec := c.syncRecord(second)
	if rec.Trigger != gitsync.TriggerFSNotify || rec.Outcome != manifest.OutcomeApplied {
		t.Errorf("second sync: trigger %q outcome %q, want fsnotify and Applied", rec.Trigger, rec.Outcome)
	}
	if d := rec.Started.Sub(committed); d > 5*time.Second {
		t.Errorf("local commit → sync started took %v with a 1h poll", d)
	}

	post := func(path string, body []byte, header ...string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+listen+path, bytes.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.ns.HTTPClient().Do(req)
		if err != nil && len(body) > webhook.MaxBody && (strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset")) {
			// The server answered 413 and closed before the client finished sending.
			return http.StatusRequestEntityTooLarge
		}
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"ref":"refs/heads/main"}`)
	for _, tt := range []struct {
		name   string
		path   string
		body   []byte
		header []string
		want   int
	}{
		{"unsigned", "/hooks/generic", body, nil, http.StatusUnauthorized},
		{"wrong secret", "/hooks/generic", body, []string{webhook.HeaderGenericSignature, webhook.Sign([]byte("guess"), body)}, http.StatusUnauthorized},
		{"signed", "/hooks/generic", body, []string{webhook.HeaderGenericSignature, webhook.Sign(secret, body)}, http.StatusAccepted},
		{"other branch", "/hooks/generic", []byte(`{"ref":"refs/heads/dev"}`), []string{webhook.HeaderGenericSignature, webhook.Sign(secret, []byte(`{"ref":"refs/heads/dev"}`))}, http.StatusAccepted},
		{"too large", "/hooks/generic", bytes.Repeat([]byte("x"), webhook.MaxBody+1), nil, http.StatusRequestEntityTooLarge},
		{"not enabled", "/hooks/github", body, nil, http.StatusNotFound},
	} {
		if got := post(tt.path, tt.body, tt.header...); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	// The daemon keeps serving, and nothing new was applied.
	recs, err := c.client.Syncs(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		var shas []string
		for _, r := range recs {
			shas = append(shas, r.SHA[:7]+"/"+r.Trigger)
		}
		t.Errorf("sync records after webhooks: %s; want the two commits only", strings.Join(shas, ", "))
	}
	if logs, _ := os.ReadFile(c.logPath); bytes.Contains(logs, secret) {
		t.Error("tugd's log shows the webhook secret")
	}
}
