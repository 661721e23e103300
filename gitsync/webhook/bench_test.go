package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/manifest"
)

const (
	goalWebhookToSync = 100 * time.Millisecond
	anchorFluxPoll    = time.Minute
	anchorArgoPoll    = 3 * time.Minute
)

type recSink chan manifest.SyncRecord

func (s recSink) Apply(_ context.Context, _ *manifest.Revision, rec manifest.SyncRecord) error {
	s <- rec
	return nil
}

func (s recSink) Reject(_ context.Context, rec manifest.SyncRecord) error {
	s <- rec
	return nil
}

// benchRepo is a one-file repository that can commit a new version.
type benchRepo struct {
	b   *testing.B
	dir string
	wt  *git.Worktree
	n   int
}

func newBenchRepo(b *testing.B) *benchRepo {
	dir := b.TempDir()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		b.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		b.Fatal(err)
	}
	br := &benchRepo{b: b, dir: dir, wt: wt}
	br.commit()
	return br
}

func (r *benchRepo) commit() plumbing.Hash {
	r.n++
	data := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  n: %q\n", fmt.Sprint(r.n))
	if err := os.WriteFile(filepath.Join(r.dir, "web.yaml"), []byte(data), 0o644); err != nil {
		r.b.Fatal(err)
	}
	if _, err := r.wt.Add("web.yaml"); err != nil {
		r.b.Fatal(err)
	}
	sig := &object.Signature{Name: "b", Email: "b@example.com", When: time.Unix(1700000000+int64(r.n), 0)}
	h, err := r.wt.Commit(fmt.Sprint(r.n), &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		r.b.Fatal(err)
	}
	return h
}

func signedPush(url string, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set(HeaderGitHubSignature, Sign(testSecret, body))
	return req
}

func do(b *testing.B, req *http.Request) int {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// BenchmarkWebhookToSync: a signed GitHub push arrives on 127.0.0.1 → the
// sync that fetches the new commit starts (goal ≤ 100 ms).
func BenchmarkWebhookToSync(b *testing.B) {
	repo := newBenchRepo(b)
	sink := make(recSink, 16)
	s, err := gitsync.New(gitsync.Config{Repo: repo.dir, CacheDir: b.TempDir(), PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)}, sink)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	<-sink
	h, err := New(Config{Secrets: map[string][]byte{GitHub: testSecret}, Branch: "main", Target: s})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := push("refs/heads/main")
	var started, applied time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		want := repo.commit()
		b.StartTimer()
		t0 := time.Now()
		if code := do(b, signedPush(srv.URL+"/hooks/github", body)); code != http.StatusAccepted {
			b.Fatalf("status %d", code)
		}
		select {
		case rec := <-sink:
			if rec.SHA != want.String() || rec.Trigger != gitsync.TriggerWebhook {
				b.Fatalf("synced %s by %q, want %s by webhook", rec.SHA, rec.Trigger, want)
			}
			started += rec.Started.Sub(t0)
			applied += time.Since(t0)
		case <-time.After(10 * time.Second):
			b.Fatal("no sync after a webhook")
		}
	}
	n := time.Duration(b.N)
	st, ap := started/n, applied/n
	b.ReportMetric(float64(st.Microseconds())/1000, "ms-to-sync-start")
	b.ReportMetric(float64(ap.Microseconds())/1000, "ms-to-applied")
	b.ReportMetric(st.Seconds()/goalWebhookToSync.Seconds(), "ratio-to-100ms-goal")
	b.Logf("webhook received → sync started in %v, revision handed to the sink in %v (goal %v, ratio %.3f); "+
		"anchors: Flux polls every %v (ratio %.5f), Argo CD every %v (ratio %.5f)",
		st, ap, goalWebhookToSync, st.Seconds()/goalWebhookToSync.Seconds(),
		anchorFluxPoll, st.Seconds()/anchorFluxPoll.Seconds(), anchorArgoPoll, st.Seconds()/anchorArgoPoll.Seconds())
}

// BenchmarkBadSignatureWebhooks: 1,000 pushes with bad signatures over
// HTTP on 127.0.0.1; every one gets 401 and no sync runs.
func BenchmarkBadSignatureWebhooks(b *testing.B) {
	target := &countTarget{}
	h := newTestHandler(b, target)
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := push("refs/heads/main")
	bad := Sign([]byte("not the secret"), body)
	const perOp = 1000
	b.ResetTimer()
	for range b.N {
		for range perOp {
			req := signedPush(srv.URL+"/hooks/github", body)
			req.Header.Set(HeaderGitHubSignature, bad)
			if code := do(b, req); code != http.StatusUnauthorized {
				b.Fatalf("status %d, want 401", code)
			}
		}
	}
	b.StopTimer()
	if target.count() != 0 || h.Stats().Triggered != 0 {
		b.Fatalf("%d syncs triggered by bad signatures", target.count())
	}
	per := b.Elapsed() / time.Duration(b.N*perOp)
	b.ReportMetric(float64(per.Microseconds()), "µs/request")
	b.ReportMetric(float64(h.Stats().Unauthorized), "rejected")
	b.ReportMetric(float64(target.count()), "syncs")
	b.Logf("%d bad-signature webhooks: %v per request (401 each), %d syncs triggered; ratio to the 100 ms trigger goal %.4f",
		h.Stats().Unauthorized, per, target.count(), per.Seconds()/goalWebhookToSync.Seconds())
}
