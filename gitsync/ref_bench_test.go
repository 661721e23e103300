package gitsync

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// BenchmarkPollNothingNew: what a poll costs when nothing changed, for each
// kind of tracked ref, measured against the branch poll in the same run. A
// tag is fetched (re-resolved) like a branch; a fixed commit, once held,
// is not fetched at all.
func BenchmarkPollNothingNew(b *testing.B) {
	src := newGenRepo(b, filepath.Join(b.TempDir(), "src.git"), 10, 10)
	if err := src.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName("release"), src.head)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	refs := []struct {
		name string
		ref  trackedRef
	}{
		{"branch", trackedRef{Branch: "main"}},
		{"tag", trackedRef{Tag: "release"}},
		{"commit", trackedRef{Commit: src.head.String()}},
	}
	per := map[string]time.Duration{}
	for _, r := range refs {
		m := newMirror(b.TempDir(), "file://"+src.dir, r.ref, nil, discard())
		if _, err := m.fetch(ctx); err != nil {
			b.Fatalf("%s: %v", r.name, err)
		}
		b.ResetTimer()
		t0 := time.Now()
		for range b.N {
			head, err := m.fetch(ctx)
			if err != nil || head != src.head {
				b.Fatalf("%s: fetch %s, %v; want %s", r.name, head, err, src.head)
			}
		}
		per[r.name] = time.Since(t0) / time.Duration(b.N)
	}
	b.ReportMetric(float64(per["branch"].Microseconds())/1000, "ms-poll-branch")
	b.ReportMetric(float64(per["tag"].Microseconds())/1000, "ms-poll-tag")
	b.ReportMetric(float64(per["commit"].Nanoseconds())/1e6, "ms-poll-commit")
	b.ReportMetric(per["tag"].Seconds()/per["branch"].Seconds(), "ratio-tag-to-branch")
	b.Logf("poll with nothing new: branch %v (anchor), tag %v (ratio %.2f), fixed commit %v (ratio %.4f, no fetch)",
		per["branch"], per["tag"], per["tag"].Seconds()/per["branch"].Seconds(), per["commit"], per["commit"].Seconds()/per["branch"].Seconds())
}
