package gitsync

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tug-dev/tug/manifest"
)

// Anchors and goals (issue 3).
const (
	goalOneFileChange = 50 * time.Millisecond  // fetched → Revision ready
	goalTriggerToSync = 100 * time.Millisecond // local commit / webhook → sync
	anchorArgoPoll    = 3 * time.Minute        // Argo CD's default poll
	anchorFluxPoll    = time.Minute            // Flux's usual interval
)

// genRepo is a repository written object by object: dirs directories of
// perDir ConfigMaps each, committed on main.
type genRepo struct {
	tb      testing.TB
	dir     string
	repo    *git.Repository
	s       storer.EncodedObjectStorer
	dirs    [][]object.TreeEntry
	head    plumbing.Hash
	commits int
}

func newGenRepo(tb testing.TB, dir string, dirs, perDir int) *genRepo {
	tb.Helper()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		tb.Fatal(err)
	}
	g := &genRepo{tb: tb, dir: dir, repo: repo, s: repo.Storer, dirs: make([][]object.TreeEntry, dirs)}
	for d := range dirs {
		for f := range perDir {
			name := fmt.Sprintf("cm-%03d-%03d", d, f)
			g.dirs[d] = append(g.dirs[d], object.TreeEntry{Name: name + ".yaml", Mode: filemode.Regular, Hash: g.blob(configMap(name, 0))})
		}
	}
	g.commit()
	return g
}

func configMap(name string, gen int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels: {app: bench}\ndata:\n  generation: %q\n  color: blue\n", name, fmt.Sprint(gen))
}

func (g *genRepo) write(o interface {
	Encode(plumbing.EncodedObject) error
}, t plumbing.ObjectType) plumbing.Hash {
	obj := g.s.NewEncodedObject()
	obj.SetType(t)
	if err := o.Encode(obj); err != nil {
		g.tb.Fatal(err)
	}
	h, err := g.s.SetEncodedObject(obj)
	if err != nil {
		g.tb.Fatal(err)
	}
	return h
}

func (g *genRepo) blob(data string) plumbing.Hash {
	obj := g.s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, _ := obj.Writer()
	w.Write([]byte(data))
	w.Close()
	h, err := g.s.SetEncodedObject(obj)
	if err != nil {
		g.tb.Fatal(err)
	}
	return h
}

// commit writes the trees and a commit, and moves main to it.
func (g *genRepo) commit() plumbing.Hash {
	root := &object.Tree{}
	for d, entries := range g.dirs {
		h := g.write(&object.Tree{Entries: entries}, plumbing.TreeObject)
		root.Entries = append(root.Entries, object.TreeEntry{Name: fmt.Sprintf("d%03d", d), Mode: filemode.Dir, Hash: h})
	}
	g.commits++
	sig := object.Signature{Name: "bench", Email: "b@example.com", When: epoch.Add(time.Duration(g.commits) * time.Second)}
	c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprintf("commit %d", g.commits), TreeHash: g.write(root, plumbing.TreeObject)}
	if !g.head.IsZero() {
		c.ParentHashes = []plumbing.Hash{g.head}
	}
	g.head = g.write(c, plumbing.CommitObject)
	if err := g.s.(storer.ReferenceStorer).SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), g.head)); err != nil {
		g.tb.Fatal(err)
	}
	return g.head
}

// change rewrites one file (chosen by i) and commits.
func (g *genRepo) change(i int) plumbing.Hash {
	d := i % len(g.dirs)
	f := (i / len(g.dirs)) % len(g.dirs[d])
	entries := append([]object.TreeEntry(nil), g.dirs[d]...)
	name := entries[f].Name[:len(entries[f].Name)-len(".yaml")]
	entries[f].Hash = g.blob(configMap(name, i+1))
	g.dirs[d] = entries
	return g.commit()
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkColdLoad10k: a generated repository of 10,000 manifests, from an
// empty cache to a Revision (fetch + render + validate).
func BenchmarkColdLoad10k(b *testing.B) {
	src := newGenRepo(b, filepath.Join(b.TempDir(), "src.git"), 100, 100)
	ctx := context.Background()
	var (
		objects int
		held    uint64
		fetch   time.Duration
	)
	b.ResetTimer()
	for i := range b.N {
		m := newMirror(filepath.Join(b.TempDir(), fmt.Sprint(i)), "file://"+src.dir, trackedRef{Branch: "main"}, nil, discard())
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		t0 := time.Now()
		head, err := m.fetch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fetch += time.Since(t0)
		r := NewRenderer(false)
		rev, err := r.Render(ctx, m.storer(), head, "")
		if err != nil {
			b.Fatal(err)
		}
		objects = len(rev.Objects)
		b.StopTimer()
		if after := heapInUse(); after > before {
			held = after - before
		}
		runtime.KeepAlive(r)
		runtime.KeepAlive(rev)
		b.StartTimer()
	}
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perOp.Milliseconds()), "ms/load")
	b.ReportMetric(float64((fetch / time.Duration(b.N)).Milliseconds()), "ms-fetch/load")
	b.ReportMetric(float64(held)/(1<<20), "MiB-held/revision")
	b.Logf("cold load of %d manifests to a Revision: %v (fetch %v); %.1f MiB held by the revision and its render cache; "+
		"ratio to Flux's 1 min poll %.4f, to Argo CD's 3 min %.4f",
		objects, perOp, fetch/time.Duration(b.N), float64(held)/(1<<20), perOp.Seconds()/anchorFluxPoll.Seconds(), perOp.Seconds()/anchorArgoPoll.Seconds())
}

// BenchmarkOneFileChange10k: one file of the 10,000 changes; the commit is
// fetched, then rendered with the previous commit's cache into a Revision
// (the timed part: goal ≤ 50 ms).
func BenchmarkOneFileChange10k(b *testing.B) {
	src := newGenRepo(b, filepath.Join(b.TempDir(), "src.git"), 100, 100)
	ctx := context.Background()
	m := newMirror(b.TempDir(), "file://"+src.dir, trackedRef{Branch: "main"}, nil, discard())
	head, err := m.fetch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	r := NewRenderer(false)
	if _, err := r.Render(ctx, m.storer(), head, ""); err != nil {
		b.Fatal(err)
	}
	var fetch time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		want := src.change(i)
		t0 := time.Now()
		head, err := m.fetch(ctx)
		if err != nil || head != want {
			b.Fatalf("fetch: %v (head %s, want %s)", err, head, want)
		}
		fetch += time.Since(t0)
		b.StartTimer()
		rev, err := r.Render(ctx, m.storer(), head, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(rev.Objects) != 10000 || r.decodedFiles != 1 {
			b.Fatalf("render: %d objects, %d files decoded", len(rev.Objects), r.decodedFiles)
		}
	}
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perOp.Microseconds())/1000, "ms-fetched-to-revision")
	b.ReportMetric(perOp.Seconds()/goalOneFileChange.Seconds(), "ratio-to-50ms-goal")
	b.ReportMetric(float64((fetch/time.Duration(b.N)).Microseconds())/1000, "ms-fetch")
	b.Logf("one-file change in 10,000 manifests: fetched → Revision ready in %v (goal %v, ratio %.2f); the fetch itself took %v",
		perOp, goalOneFileChange, perOp.Seconds()/goalOneFileChange.Seconds(), fetch/time.Duration(b.N))
}

// timingSink reports when each sync started (SyncRecord.Started).
type timingSink struct{ recs chan manifest.SyncRecord }

func (s timingSink) Apply(_ context.Context, _ *manifest.Revision, rec manifest.SyncRecord) error {
	s.recs <- rec
	return nil
}

func (s timingSink) Reject(_ context.Context, rec manifest.SyncRecord) error {
	s.recs <- rec
	return nil
}

// BenchmarkFSNotifyToSync: a local commit (the ref moving) → the sync that
// fetches it starts, through a RefWatcher (goal ≤ 100 ms).
func BenchmarkFSNotifyToSync(b *testing.B) {
	src := newGenRepo(b, filepath.Join(b.TempDir(), "src.git"), 1, 10)
	sink := timingSink{recs: make(chan manifest.SyncRecord, 16)}
	s, err := New(Config{Repo: src.dir, CacheDir: b.TempDir(), PollInterval: time.Hour, Logger: discard()}, sink)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	<-sink.recs
	w, _ := NewRefWatcher(src.dir, s, discard())
	go w.Run(ctx)
	time.Sleep(100 * time.Millisecond) // the watch is set up
	for len(s.trigger) > 0 || len(sink.recs) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	var started, applied time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		want := src.change(i)
		for {
			select {
			case rec := <-sink.recs:
				if rec.SHA != want.String() {
					continue
				}
				if rec.Trigger != TriggerFSNotify {
					b.Fatalf("trigger %q", rec.Trigger)
				}
				started += rec.Started.Sub(t0)
				applied += time.Since(t0)
			case <-time.After(10 * time.Second):
				b.Fatal("no sync after a local commit")
			}
			break
		}
	}
	reportTrigger(b, "local commit (fsnotify)", started, applied)
}

func reportTrigger(b *testing.B, what string, started, applied time.Duration) {
	n := time.Duration(b.N)
	st, ap := started/n, applied/n
	b.ReportMetric(float64(st.Microseconds())/1000, "ms-to-sync-start")
	b.ReportMetric(float64(ap.Microseconds())/1000, "ms-to-applied")
	b.ReportMetric(st.Seconds()/goalTriggerToSync.Seconds(), "ratio-to-100ms-goal")
	b.Logf("%s → sync started in %v, revision handed to the sink in %v (goal %v, ratio %.3f); "+
		"anchors: Flux polls every %v (ratio %.5f), Argo CD every %v (ratio %.5f)",
		what, st, ap, goalTriggerToSync, st.Seconds()/goalTriggerToSync.Seconds(),
		anchorFluxPoll, st.Seconds()/anchorFluxPoll.Seconds(), anchorArgoPoll, st.Seconds()/anchorArgoPoll.Seconds())
}
