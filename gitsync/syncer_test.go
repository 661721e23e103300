package gitsync

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/manifest"
)

const (
	webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
`
	webConfig = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n"
)

var (
	keyWebDeployment = manifest.Key{Kind: manifest.KindDeployment, Namespace: "default", Name: "web"}
	keyWebConfig     = manifest.Key{Kind: manifest.KindConfigMap, Namespace: "default", Name: "web"}
)

func TestSyncerAppliesValidCommit(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	sha := repo.commit("add web\n\nwith details\n", map[string]string{
		"web/deploy.yaml": webDeployment,
		"web/config.yml":  webConfig,
		"README.md":       "# cluster\n",
	})
	sink := newFakeSink()
	s, err := New(Config{Repo: "file://" + repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Minute, Clock: fakeClock()}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)

	ev := sink.next(t)
	if ev.op != "apply" {
		t.Fatalf("got %s, want apply; errors: %v", ev.op, ev.rec.Errors)
	}
	wantRec := manifest.SyncRecord{
		SHA:      sha.String(),
		Author:   "Ada Lovelace <ada@example.com>",
		Message:  "add web\n\nwith details",
		Commit:   epoch.Add(time.Minute),
		Trigger:  "start",
		Started:  epoch,
		Finished: ev.rec.Finished,
		Outcome:  manifest.OutcomeApplied,
		Objects:  2,
	}
	if diff := cmp.Diff(wantRec, ev.rec); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if !ev.rec.Finished.After(ev.rec.Started) {
		t.Errorf("Finished %v is not after Started %v", ev.rec.Finished, ev.rec.Started)
	}
	if ev.rev.SHA != sha.String() || ev.rev.Author != wantRec.Author || ev.rev.Message != wantRec.Message || !ev.rev.Time.Equal(wantRec.Commit) {
		t.Errorf("revision metadata = %q %q %q %v", ev.rev.SHA, ev.rev.Author, ev.rev.Message, ev.rev.Time)
	}
	// files in path order: web/config.yml before web/deploy.yaml
	if diff := cmp.Diff([]manifest.Key{keyWebConfig, keyWebDeployment}, keys(ev.rev.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := ev.rev.Objects[1].GetAnnotations()[manifest.SourceAnnotation]; got != "web/deploy.yaml:1" {
		t.Errorf("source annotation = %q", got)
	}

	waitFor(t, "applied status", func() bool { return s.Status().Applied == sha.String() })
	st := s.Status()
	if st.Fetched != sha.String() || st.Err != nil || st.Failures != 0 || st.AppliedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}

	// A trigger with no new commit does not apply again.
	s.Trigger("webhook")
	sink.quiet(t, 200*time.Millisecond)
}

func TestSyncerRejectsThenAppliesFix(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	bad := repo.commit("typo", map[string]string{
		"deploy/web.yaml": webDeployment + "        imagePullPolicyy: Always\n",
	})
	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Minute}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)

	ev := sink.next(t)
	if ev.op != "reject" || ev.rec.SHA != bad.String() || ev.rec.Outcome != manifest.OutcomeRejected || ev.rec.Message != "typo" {
		t.Fatalf("got %s %+v, want a rejection of %s", ev.op, ev.rec, bad)
	}
	wantErrs := []string{`deploy/web.yaml:15: Deployment default/web: spec.template.spec.containers[0].imagePullPolicyy: unknown field (did you mean "imagePullPolicy"?)`}
	if diff := cmp.Diff(wantErrs, ev.rec.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	waitFor(t, "rejection in status", func() bool { return s.Status().Rejected == bad.String() })
	st := s.Status()
	if l, ok := manifest.AsErrorList(st.Err); !ok || len(l) != 1 || st.Applied != "" {
		t.Errorf("status after rejection = %+v", st)
	}

	// The rejected head is not processed again.
	s.Trigger("again")
	sink.quiet(t, 200*time.Millisecond)

	good := repo.commit("fix typo", map[string]string{"deploy/web.yaml": webDeployment})
	s.Trigger("webhook")
	ev = sink.next(t)
	if ev.op != "apply" || ev.rec.SHA != good.String() || ev.rec.Trigger != TriggerWebhook {
		t.Fatalf("got %s of %s (trigger %q), want apply of %s by webhook", ev.op, ev.rec.SHA, ev.rec.Trigger, good)
	}
	if diff := cmp.Diff([]manifest.Key{keyWebDeployment}, keys(ev.rev.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	waitFor(t, "status to clear", func() bool { st := s.Status(); return st.Err == nil && st.Rejected == "" })
}

func TestSyncerPathAndBranch(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	repo.commit("main", map[string]string{
		"junk.yaml":             "kind: Widget\n", // outside Path: ignored
		"deploy/.github/x.yaml": "not: [valid\n",  // dot directory: skipped
		"deploy/.hidden.yaml":   "kind: Widget\n", // dot file: skipped
		"deploy/notes.txt":      "not a manifest",
		"deploy/app.yaml":       webDeployment,
	})
	repo.branch("prod")
	prod := repo.commit("prod", map[string]string{"deploy/sub/config.yml": webConfig})

	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, Branch: "prod", Path: "./deploy/", CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Minute}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	ev := sink.next(t)
	if ev.op != "apply" || ev.rec.SHA != prod.String() {
		t.Fatalf("got %s of %s, want apply of %s; errors %v", ev.op, ev.rec.SHA, prod, ev.rec.Errors)
	}
	if diff := cmp.Diff([]manifest.Key{keyWebDeployment, keyWebConfig}, keys(ev.rev.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := ev.rev.Objects[1].GetAnnotations()[manifest.SourceAnnotation]; got != "deploy/sub/config.yml:1" {
		t.Errorf("source annotation = %q, want the path from the repository root", got)
	}
	if st := s.Status(); st.Branch != "prod" || st.Path != "deploy" {
		t.Errorf("status = %+v", st)
	}
}

func TestSyncerRepositoryMissingAtStart(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "later")
	sink := newFakeSink()
	s, err := New(Config{Repo: dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "fetch errors", func() bool { st := s.Status(); return st.Err != nil && st.Failures >= 2 })
	if st := s.Status(); st.Fetched != "" || !strings.Contains(st.Err.Error(), "fetch") {
		t.Errorf("status = %+v", st)
	}
	sink.quiet(t, 100*time.Millisecond) // a fetch error never reaches the sink

	repo := newTestRepo(t, dir)
	sha := repo.commit("first", map[string]string{"a.yaml": webConfig})
	ev := sink.next(t)
	if ev.op != "apply" || ev.rec.SHA != sha.String() || ev.rec.Trigger != "poll" {
		t.Fatalf("got %s of %s (trigger %q), want apply of %s on poll", ev.op, ev.rec.SHA, ev.rec.Trigger, sha)
	}
	waitFor(t, "status to recover", func() bool { st := s.Status(); return st.Err == nil && st.Failures == 0 })
}

func TestSyncerRetriesFailedApply(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	sha := repo.commit("first", map[string]string{"a.yaml": webConfig})
	sink := newFakeSink()
	sink.failApply.Store(2)
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	for i := range 3 {
		ev := sink.next(t)
		if ev.op != "apply" || ev.rec.SHA != sha.String() {
			t.Fatalf("call %d: got %s of %s, want apply of %s", i, ev.op, ev.rec.SHA, sha)
		}
		if i == 0 {
			waitFor(t, "apply error in status", func() bool { return errors.Is(s.Status().Err, errTestApply) })
		}
	}
	waitFor(t, "applied status", func() bool { st := s.Status(); return st.Applied == sha.String() && st.Err == nil })
	sink.quiet(t, 200*time.Millisecond) // applied once it worked, not again
}

// TestSyncerSinkRejection: a revision the sink refuses as conflicting with
// the cluster state is marked rejected in the status and not retried.
func TestSyncerSinkRejection(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	sha := repo.commit("first", map[string]string{"a.yaml": webConfig})
	sink := newFakeSink()
	sink.rejectAll.Store(true)
	s, err := New(Config{Repo: repo.dir, CacheDir: filepath.Join(tmp, "cache"), PollInterval: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if ev := sink.next(t); ev.op != "apply" {
		t.Fatalf("got %s, want apply", ev.op)
	}
	waitFor(t, "rejected status", func() bool {
		st := s.Status()
		return st.Rejected == sha.String() && st.Applied == "" && errors.Is(st.Err, manifest.ErrRevisionRejected)
	})
	sink.quiet(t, 200*time.Millisecond) // a refused commit is not retried
}

func TestSyncerRejectsEmptyRender(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	sha := repo.commit("docs only", map[string]string{"README.md": "hi\n", "deploy/a.yaml": webConfig})
	sink := newFakeSink()
	s, err := New(Config{Repo: repo.dir, Path: "manifests", CacheDir: filepath.Join(tmp, "cache"), PollInterval: time.Minute}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	ev := sink.next(t)
	if ev.op != "reject" || ev.rec.SHA != sha.String() || len(ev.rec.Errors) != 1 || !strings.Contains(ev.rec.Errors[0], "check --path") {
		t.Fatalf("got %s %+v, want a rejection asking to check --path", ev.op, ev.rec)
	}
}

// TestSyncerReusesCache runs two Syncers one after the other on one cache
// directory, the second after a new commit, and a third after the cache was
// damaged.
func TestSyncerReusesCache(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	cache := filepath.Join(tmp, "cache")
	run := func(want string) *Syncer {
		t.Helper()
		sink := newFakeSink()
		s, err := New(Config{Repo: repo.dir, CacheDir: cache, PollInterval: time.Minute}, sink)
		if err != nil {
			t.Fatal(err)
		}
		start(t, s)
		if ev := sink.next(t); ev.op != "apply" || ev.rec.SHA != want {
			t.Fatalf("got %s of %s, want apply of %s", ev.op, ev.rec.SHA, want)
		}
		return s
	}
	run(repo.commit("one", map[string]string{"a.yaml": webConfig}).String())
	run(repo.commit("two", map[string]string{"b.yaml": webDeployment}).String())

	dirs, err := filepath.Glob(filepath.Join(cache, "*.git"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("cache holds %v (%v), want one bare repository", dirs, err)
	}
	if err := writeFile(filepath.Join(dirs[0], "config"), "[broken"); err != nil {
		t.Fatal(err)
	}
	run(repo.commit("three", map[string]string{"a.yaml": ""}).String())
}

func TestNewRefusesBadConfig(t *testing.T) {
	sink := newFakeSink()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no repo", Config{CacheDir: "/tmp/x"}, "repository is required"},
		{"unknown scheme", Config{Repo: "ftp://example.com/r.git", CacheDir: "/tmp/x"}, `scheme "ftp" is not supported`},
		{"password in URL", Config{Repo: "https://u:hunter2@example.com/r.git", CacheDir: "/tmp/x"}, `"https://example.com/r.git": credentials in the URL are refused`},
		{"token in URL", Config{Repo: "https://hunter2@example.com/r.git", CacheDir: "/tmp/x"}, `credentials in the URL are refused`},
		{"scp password", Config{Repo: "git:hunter2@example.com:r.git", CacheDir: "/tmp/x"}, `credentials in the URL are refused`},
		{"ssh without key", Config{Repo: "git@example.com:r.git", CacheDir: "/tmp/x"}, "needs a private key file and a known_hosts file"},
		{"ssh without known_hosts", Config{Repo: "ssh://git@example.com/r.git", CacheDir: "/tmp/x", Credentials: Credentials{SSHKeyFile: "/k"}}, "known_hosts"},
		{"ssh with missing known_hosts", Config{Repo: "ssh://git@example.com/r.git", CacheDir: "/tmp/x", Credentials: Credentials{SSHKeyFile: "/nonexistent", KnownHostsFile: "/nonexistent"}}, "ssh key file /nonexistent"},
		{"https user without password", Config{Repo: "https://example.com/r.git", CacheDir: "/tmp/x", Credentials: Credentials{Username: "u"}}, "needs a password or token file"},
		{"https missing password file", Config{Repo: "https://example.com/r.git", CacheDir: "/tmp/x", Credentials: Credentials{PasswordFile: "/nonexistent"}}, "password file: open /nonexistent"},
		{"credentials for a local repo", Config{Repo: "/srv/r", CacheDir: "/tmp/x", Credentials: Credentials{PasswordFile: "/p"}}, "not local ones"},
		{"no cache", Config{Repo: "/srv/r"}, "cache directory is required"},
		{"bad branch", Config{Repo: "/srv/r", CacheDir: "/tmp/x", Branch: "a..b"}, `branch "a..b"`},
		{"path escapes", Config{Repo: "/srv/r", CacheDir: "/tmp/x", Path: "deploy/../../etc"}, "inside the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, sink)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the credentials: %v", err)
			}
		})
	}
	if _, err := New(Config{Repo: "/srv/r", CacheDir: "/tmp/x"}, nil); err == nil {
		t.Error("New without a sink succeeded")
	}
}

func TestTriggerNeverBlocks(t *testing.T) {
	s, err := New(Config{Repo: "/srv/r", CacheDir: t.TempDir()}, newFakeSink())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		s.Trigger("t" + string(rune('a'+i%26)))
	}
	if got := <-s.trigger; got != "ta" {
		t.Errorf("pending trigger = %q, want the first one", got)
	}
	select {
	case r := <-s.trigger:
		t.Errorf("second pending trigger %q; triggers should coalesce", r)
	default:
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {5, 15 * time.Second}, {60, 15 * time.Second}}
	for _, tt := range tests {
		if got := backoff(tt.n, time.Second, 15*time.Second); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	for _, r := range []float64{0, 0.5, 0.999} {
		got := jitter(10*time.Second, r)
		if got < 9*time.Second || got >= 11*time.Second {
			t.Errorf("jitter(10s, %v) = %v, want within ±10%%", r, got)
		}
	}
}

// TestStatusErrTime checks that ErrAt records when an error first appeared,
// also for errors of uncomparable types such as manifest.ErrorList.
func TestStatusErrTime(t *testing.T) {
	s, err := New(Config{Repo: "/srv/r", CacheDir: t.TempDir(), Clock: fakeClock()}, newFakeSink())
	if err != nil {
		t.Fatal(err)
	}
	list := manifest.ErrorList{{File: "a.yaml", Line: 1, Msg: "bad"}}
	s.update(func(*Status) { s.headErr = list })
	s.update(func(*Status) { s.headErr = manifest.ErrorList{{File: "a.yaml", Line: 1, Msg: "bad"}} })
	if st := s.Status(); !st.ErrAt.Equal(epoch) || st.Err == nil {
		t.Errorf("after the same error twice: ErrAt = %v, Err = %v; want %v", st.ErrAt, st.Err, epoch)
	}
	s.update(func(*Status) { s.fetchErr = errors.New("unreachable") })
	if st := s.Status(); st.Err.Error() != "unreachable" || !st.ErrAt.Equal(epoch.Add(time.Second)) {
		t.Errorf("fetch error must win: %+v", st)
	}
	s.update(func(*Status) { s.fetchErr, s.headErr = nil, nil })
	if st := s.Status(); st.Err != nil {
		t.Errorf("Err = %v after recovery", st.Err)
	}
}
