package gitsync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tug-dev/tug/manifest"
)

// testRepo is a repository with a working tree, made with go-git.
type testRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	n    int
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestRepo(t *testing.T, dir string) *testRepo {
	t.Helper()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: repo, wt: wt}
}

// commit writes files (an empty value deletes the file), commits everything
// and returns the commit.
func (r *testRepo) commit(msg string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	for name, data := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if data == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	r.n++
	sig := &object.Signature{Name: "Ada Lovelace", Email: "ada@example.com", When: epoch.Add(time.Duration(r.n) * time.Minute)}
	h, err := r.wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// branch switches the working tree to branch, creating it from HEAD.
func (r *testRepo) branch(name string) {
	r.t.Helper()
	if err := r.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(name), Create: true}); err != nil {
		r.t.Fatal(err)
	}
}

// event is one call to the fake sink.
type event struct {
	op  string // "apply", "reject" or "record"
	rev *manifest.Revision
	rec manifest.SyncRecord
}

// fakeSink records calls; Apply fails while failApply > 0.
type fakeSink struct {
	events    chan event
	failApply atomic.Int32
	rejectAll atomic.Bool // Apply answers manifest.ErrRevisionRejected
	mu        sync.Mutex
	calls     int
}

func newFakeSink() *fakeSink { return &fakeSink{events: make(chan event, 100)} }

func (f *fakeSink) Apply(_ context.Context, rev *manifest.Revision, rec manifest.SyncRecord) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	f.events <- event{op: "apply", rev: rev, rec: rec}
	if f.failApply.Add(-1) >= 0 {
		return errTestApply
	}
	if f.rejectAll.Load() {
		return fmt.Errorf("conflicting cluster IP: %w", manifest.ErrRevisionRejected)
	}
	return nil
}

func (f *fakeSink) Reject(_ context.Context, rec manifest.SyncRecord) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	f.events <- event{op: "reject", rec: rec}
	return nil
}

func (f *fakeSink) Record(_ context.Context, rec manifest.SyncRecord) error {
	f.events <- event{op: "record", rec: rec}
	return nil
}

// amend replaces the head commit (a force-push): the new commit does not
// descend from the old one.
func (r *testRepo) amend(msg string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(r.dir, filepath.FromSlash(name)), []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	r.n++
	sig := &object.Signature{Name: "Ada Lovelace", Email: "ada@example.com", When: epoch.Add(time.Duration(r.n) * time.Minute)}
	h, err := r.wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, Amend: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

type testError string

func (e testError) Error() string { return string(e) }

const errTestApply = testError("store is read-only")

// next waits for the next sink call.
func (f *fakeSink) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for the sink to be called")
		return event{}
	}
}

// quiet checks that the sink is not called for d.
func (f *fakeSink) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-f.events:
		t.Fatalf("unexpected %s of %s (trigger %s)", ev.op, ev.rec.SHA, ev.rec.Trigger)
	case <-time.After(d):
	}
}

// fakeClock returns epoch, epoch+1s, epoch+2s, ...
func fakeClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return epoch.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

// start runs s until the test ends.
func start(t *testing.T, s *Syncer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func keys(objs []manifest.Object) []manifest.Key {
	out := make([]manifest.Key, len(objs))
	for i, o := range objs {
		out[i] = manifest.KeyOf(o)
	}
	return out
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }
