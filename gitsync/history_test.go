package gitsync

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// outcome is what a test checks of one sink call.
type outcome struct {
	Op, SHA, Outcome, Trigger, Previous string
	Rewrite                             bool
}

func outcomeOf(ev event) outcome {
	return outcome{Op: ev.op, SHA: ev.rec.SHA, Outcome: ev.rec.Outcome, Trigger: ev.rec.Trigger, Previous: ev.rec.Previous, Rewrite: ev.rec.Rewrite}
}

func TestSyncerSupersededDuringSync(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	first := repo.commit("one", map[string]string{"a.yaml": webConfig})
	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Hour, Clock: fakeClock()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	var second = first
	s.afterRender = func() {
		if second == first { // once: a push lands while the first commit renders
			second = repo.commit("two", map[string]string{"b.yaml": webDeployment})
			s.Trigger(TriggerWebhook)
		}
	}
	start(t, s)
	got := []outcome{outcomeOf(sink.next(t)), outcomeOf(sink.next(t))}
	want := []outcome{
		{Op: "record", SHA: first.String(), Outcome: "Superseded", Trigger: TriggerStart},
		{Op: "apply", SHA: second.String(), Outcome: "Applied", Trigger: TriggerWebhook},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}
	sink.quiet(t, 200*time.Millisecond)
}

func TestSyncerSupersededAfterFailedApply(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	first := repo.commit("one", map[string]string{"a.yaml": webConfig})
	sink := newFakeSink()
	sink.failApply.Store(1)
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Hour, Clock: fakeClock()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if ev := sink.next(t); ev.op != "apply" || ev.rec.SHA != first.String() {
		t.Fatalf("got %s of %s, want the failing apply of the first commit", ev.op, ev.rec.SHA)
	}
	second := repo.commit("two", map[string]string{"b.yaml": webDeployment})
	s.Trigger(TriggerFSNotify)
	got := []outcome{outcomeOf(sink.next(t)), outcomeOf(sink.next(t))}
	want := []outcome{
		{Op: "record", SHA: first.String(), Outcome: "Superseded", Trigger: TriggerStart},
		{Op: "apply", SHA: second.String(), Outcome: "Applied", Trigger: TriggerFSNotify},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}
}

func TestSyncerForcePushIsRewrite(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("base", map[string]string{"a.yaml": webConfig})
	applied := repo.commit("two", map[string]string{"b.yaml": webDeployment})
	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Hour, Clock: fakeClock()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if ev := sink.next(t); ev.op != "apply" || ev.rec.Rewrite {
		t.Fatalf("first sync: %+v", outcomeOf(ev))
	}
	// A fast-forward is no rewrite.
	ff := repo.commit("three", map[string]string{"c.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"})
	s.Trigger(TriggerPoll)
	if got := outcomeOf(sink.next(t)); got != (outcome{Op: "apply", SHA: ff.String(), Outcome: "Applied", Trigger: TriggerPoll}) {
		t.Fatalf("fast-forward: %+v", got)
	}
	// Amending the head is a force-push: the new head does not descend from
	// the applied one.
	rewritten := repo.amend("three, amended", map[string]string{"c.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop2\n"})
	s.Trigger(TriggerWebhook)
	want := outcome{Op: "apply", SHA: rewritten.String(), Outcome: "Applied", Trigger: TriggerWebhook, Rewrite: true, Previous: ff.String()}
	if diff := cmp.Diff(want, outcomeOf(sink.next(t))); diff != "" {
		t.Errorf("force-push (-want +got):\n%s", diff)
	}
	_ = applied

	// After a restart, LastApplied says what was in force.
	sink2 := newFakeSink()
	s2, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache2"), PollInterval: time.Hour, LastApplied: ff.String()}, sink2)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s2)
	if got := outcomeOf(sink2.next(t)); !got.Rewrite || got.Previous != ff.String() {
		t.Errorf("after restart: %+v, want a rewrite of %s", got, ff)
	}
}
