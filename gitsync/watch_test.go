package gitsync

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chanTrigger records triggers.
type chanTrigger chan string

func (c chanTrigger) Trigger(reason string) {
	select {
	case c <- reason:
	default:
	}
}

func (c chanTrigger) drain() {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func (c chanTrigger) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case r := <-c:
		if r != TriggerFSNotify {
			t.Fatalf("%s: trigger %q, want %q", what, r, TriggerFSNotify)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no trigger", what)
	}
}

func (c chanTrigger) quiet(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case r := <-c:
		t.Fatalf("%s: unexpected trigger %q", what, r)
	case <-time.After(d):
	}
}

func runWatcher(t *testing.T, w *RefWatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func gitCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite: git")
		}
		t.Skip("git not installed")
	}
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestRefWatcherTriggersOnLocalCommits(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("first", map[string]string{"a.yaml": webConfig})

	trig := make(chanTrigger, 1)
	w, ok := NewRefWatcher("file://"+repo.dir, trig, nil)
	if !ok {
		t.Fatal("a file:// repository is local")
	}
	runWatcher(t, w)
	trig.wait(t, "watch set up") // one trigger when the watch starts

	repo.commit("go-git commit", map[string]string{"b.yaml": webConfig})
	trig.wait(t, "go-git commit")

	// git itself writes refs/heads/main.lock and renames it onto the ref.
	gitCLI(t, repo.dir, "commit", "--allow-empty", "-m", "cli commit")
	trig.wait(t, "git commit")

	// A branch in a new nested directory: the directory is watched too.
	gitCLI(t, repo.dir, "branch", "team/feature")
	trig.wait(t, "new branch")
	trig.drain()
	time.Sleep(50 * time.Millisecond)
	trig.drain()
	gitCLI(t, repo.dir, "update-ref", "refs/heads/team/feature", "HEAD~1")
	trig.wait(t, "nested branch moved")

	// packed-refs is rewritten by git pack-refs.
	trig.drain()
	gitCLI(t, repo.dir, "pack-refs", "--all")
	trig.wait(t, "pack-refs")

	// Files outside refs (the index, objects) do not trigger.
	time.Sleep(50 * time.Millisecond)
	trig.drain()
	if err := os.WriteFile(filepath.Join(repo.dir, "c.yaml"), []byte(webConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, repo.dir, "add", "c.yaml")
	trig.quiet(t, "git add", 200*time.Millisecond)
}

func TestRefWatcherWaitsForRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later.git")
	trig := make(chanTrigger, 1)
	w, _ := NewRefWatcher(dir, trig, nil)
	w.retry = 20 * time.Millisecond
	runWatcher(t, w)
	trig.quiet(t, "no repository", 100*time.Millisecond)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, dir, "init", "--bare", "-b", "main")
	trig.wait(t, "bare repository created")
}

func TestNewRefWatcherOnlyLocal(t *testing.T) {
	for _, repo := range []string{"https://example.com/r.git", "git@example.com:r.git", "ssh://example.com/r"} {
		if _, ok := NewRefWatcher(repo, make(chanTrigger), nil); ok {
			t.Errorf("NewRefWatcher(%q) ok; want not local", repo)
		}
	}
}

func TestIsRefPath(t *testing.T) {
	for name, want := range map[string]bool{
		"/r/.git/HEAD":                 true,
		"/r/.git/packed-refs":          true,
		"/r/.git/refs/heads/main":      true,
		"/r/.git/refs/heads/a/b":       true,
		"/r/.git/refs/heads/main.lock": false,
		"/r/.git/packed-refs.lock":     false,
		"/r/.git/index":                false,
		"/r/.git/objects/ab/cdef":      false,
		"/r/.git/logs/refs/heads/main": false,
		"/r/.git/ORIG_HEAD":            false,
	} {
		if got := isRefPath("/r/.git", name); got != want {
			t.Errorf("isRefPath(%q) = %v, want %v", name, got, want)
		}
	}
}

// A local commit reaches the sink through the watcher, long before a poll.
func TestSyncerWithRefWatcher(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("first", map[string]string{"a.yaml": webConfig})
	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Hour}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if ev := sink.next(t); ev.op != "apply" {
		t.Fatalf("first sync: %s", ev.op)
	}
	w, _ := NewRefWatcher(repo.dir, s, nil)
	runWatcher(t, w)
	sha := repo.commit("second", map[string]string{"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"})
	ev := sink.next(t)
	if ev.op != "apply" || ev.rec.SHA != sha.String() || ev.rec.Trigger != TriggerFSNotify {
		t.Fatalf("got %s of %s (trigger %q), want apply of %s by fsnotify", ev.op, ev.rec.SHA, ev.rec.Trigger, sha)
	}
}
