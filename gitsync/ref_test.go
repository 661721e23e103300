package gitsync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// tag points tag name at h: annotated (a tag object) or lightweight,
// replacing any tag of that name (a moved or force-moved tag).
func (r *testRepo) tag(name string, h plumbing.Hash, annotated bool) {
	r.t.Helper()
	_ = r.repo.DeleteTag(name)
	if !annotated {
		if err := r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(name), h)); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	sig := &object.Signature{Name: "Ada Lovelace", Email: "ada@example.com", When: epoch}
	if _, err := r.repo.CreateTag(name, h, &git.CreateTagOptions{Tagger: sig, Message: "release " + name}); err != nil {
		r.t.Fatal(err)
	}
}

func TestSyncerTracksTag(t *testing.T) {
	for _, annotated := range []bool{false, true} {
		t.Run(map[bool]string{false: "lightweight", true: "annotated"}[annotated], func(t *testing.T) {
			tmp := t.TempDir()
			repo := newTestRepo(t, filepath.Join(tmp, "repo"))
			v1 := repo.commit("v1", map[string]string{"a.yaml": webConfig})
			repo.tag("release", v1, annotated)
			repo.commit("unreleased", map[string]string{"b.yaml": webDeployment}) // the branch moves on; the tag does not

			sink := newFakeSink()
			s, err := New(Config{Repo: "file://" + repo.dir, Tag: "release", CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Minute}, sink)
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			if got := outcomeOf(sink.next(t)); got.Op != "apply" || got.SHA != v1.String() || got.Rewrite {
				t.Fatalf("first sync = %+v, want apply of the tagged %s", got, v1)
			}
			if st := s.Status(); st.Tag != "release" || st.Branch != "" || st.Commit != "" || st.Fetched != v1.String() {
				t.Errorf("status = %+v", st)
			}

			// The tag moves forward: applied like a new commit, no rewrite.
			v2 := repo.commit("v2", map[string]string{"c.yaml": strings.Replace(webConfig, "name: web", "name: other", 1)})
			repo.tag("release", v2, annotated)
			s.Trigger(TriggerWebhook)
			if got := outcomeOf(sink.next(t)); got.Op != "apply" || got.SHA != v2.String() || got.Rewrite {
				t.Fatalf("after the tag moved: %+v, want apply of %s without rewrite", got, v2)
			}

			// The tag is force-moved back to v1's history: a rewrite.
			repo.tag("release", v1, annotated)
			s.Trigger(TriggerWebhook)
			got := outcomeOf(sink.next(t))
			want := outcome{Op: "apply", SHA: v1.String(), Outcome: "Applied", Trigger: TriggerWebhook, Rewrite: true, Previous: v2.String()}
			if got != want {
				t.Fatalf("after the tag was force-moved: %+v, want %+v", got, want)
			}
		})
	}
}

func TestSyncerMissingTag(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	v1 := repo.commit("v1", map[string]string{"a.yaml": webConfig})

	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, Tag: "release", CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "a fetch error", func() bool { return s.Status().Err != nil })
	if err := s.Status().Err.Error(); !strings.Contains(err, "fetch tag release of") {
		t.Errorf("error = %q, want it to name the tag", err)
	}
	sink.quiet(t, 150*time.Millisecond) // nothing applied, nothing pruned

	repo.tag("release", v1, false)
	if got := outcomeOf(sink.next(t)); got.Op != "apply" || got.SHA != v1.String() {
		t.Fatalf("after the tag appeared: %+v", got)
	}
	waitFor(t, "status to recover", func() bool { st := s.Status(); return st.Err == nil && st.Applied == v1.String() })

	// The tag is deleted: a fetch error; the applied commit stays in force.
	if err := repo.repo.DeleteTag("release"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a fetch error", func() bool { return s.Status().Err != nil })
	sink.quiet(t, 150*time.Millisecond)
	if st := s.Status(); st.Applied != v1.String() {
		t.Errorf("applied = %s after the tag was deleted, want %s", st.Applied, v1)
	}
}

func TestSyncerFixedCommit(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("first", map[string]string{"a.yaml": webConfig})
	repo.branch("feature")
	pinned := repo.commit("pinned", map[string]string{"b.yaml": webDeployment}) // not on main
	repo.commit("later", map[string]string{"a.yaml": ""})

	sink := newFakeSink()
	s, err := New(Config{Repo: "file://" + repo.dir, Commit: strings.ToUpper(pinned.String()), CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	ev := sink.next(t)
	if ev.op != "apply" || ev.rec.SHA != pinned.String() || len(ev.rev.Objects) != 2 {
		t.Fatalf("got %s of %s with %d objects, want apply of %s with 2", ev.op, ev.rec.SHA, len(ev.rev.Objects), pinned)
	}
	if st := s.Status(); st.Commit != pinned.String() || st.Branch != "" || st.Tag != "" {
		t.Errorf("status = %+v", st)
	}

	// New commits, and even a removed repository, change nothing: the
	// commit is never fetched again.
	repo.commit("even later", map[string]string{"c.yaml": webConfig})
	if err := os.RemoveAll(repo.dir); err != nil {
		t.Fatal(err)
	}
	sink.quiet(t, 200*time.Millisecond)
	if st := s.Status(); st.Err != nil || st.Fetched != pinned.String() {
		t.Errorf("status = %+v, want the pinned commit and no error", st)
	}
}

func TestSyncerMissingCommit(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("first", map[string]string{"a.yaml": webConfig})
	missing := strings.Repeat("ab", 20)

	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, Commit: missing, CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "a fetch error", func() bool { st := s.Status(); return st.Err != nil && st.Failures >= 2 })
	if err := s.Status().Err.Error(); !strings.Contains(err, "fetch commit "+missing) || !strings.Contains(err, "no branch or tag") {
		t.Errorf("error = %q", err)
	}
	sink.quiet(t, 100*time.Millisecond)
}

func TestNewRefusesBadRefs(t *testing.T) {
	sha := strings.Repeat("a", 40)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"tag and commit", Config{Tag: "v1", Commit: sha}, "a tag or a commit to track, not both"},
		{"branch and tag", Config{Branch: "main", Tag: "v1"}, "not several"},
		{"branch and commit", Config{Branch: "main", Commit: sha}, "not several"},
		{"bad tag", Config{Tag: "v1..2"}, `tag "v1..2"`},
		{"short commit", Config{Commit: "abc1234"}, "full 40-character SHA"},
		{"not hex", Config{Commit: strings.Repeat("g", 40)}, "full 40-character SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Repo, tt.cfg.CacheDir = "/srv/r", "/tmp/x"
			_, err := New(tt.cfg, newFakeSink())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
