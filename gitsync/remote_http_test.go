package gitsync

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// requireFile skips (fails with CI=true) when a test prerequisite is missing.
func requireFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing prerequisite %s: %v", path, err)
		}
		t.Skipf("missing prerequisite %s", path)
	}
}

// gitHTTPServer serves the repositories under root with git http-backend
// (smart HTTP) on 127.0.0.1, behind basic auth.
func gitHTTPServer(t *testing.T, root, user, password string) *httptest.Server {
	t.Helper()
	requireFile(t, gitHTTPBackend)
	backend := &cgi.Handler{Path: gitHTTPBackend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeSecret(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncerSmartHTTP(t *testing.T) {
	const password = "hunter2-http"
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "root", "cluster"))
	sha := repo.commit("over http", map[string]string{"a.yaml": webConfig})
	srv := gitHTTPServer(t, filepath.Join(tmp, "root"), "ada", password)
	url := srv.URL + "/cluster"

	tests := []struct {
		name  string
		creds Credentials
		ok    bool
	}{
		{"basic auth", Credentials{Username: "ada", PasswordFile: writeSecret(t, password+"\n")}, true},
		{"wrong password", Credentials{Username: "ada", PasswordFile: writeSecret(t, "nope")}, false},
		{"no credentials", Credentials{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newFakeSink()
			s, err := New(Config{Repo: url, CacheDir: t.TempDir(), PollInterval: 50 * time.Millisecond, Credentials: tt.creds}, sink)
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			if tt.ok {
				ev := sink.next(t)
				if ev.op != "apply" || ev.rec.SHA != sha.String() {
					t.Fatalf("got %s of %s, want apply of %s", ev.op, ev.rec.SHA, sha)
				}
				return
			}
			waitFor(t, "fetch error", func() bool { return s.Status().Err != nil })
			st := s.Status()
			if !strings.Contains(st.Err.Error(), "authentication required") && !strings.Contains(st.Err.Error(), "authorization failed") {
				t.Errorf("fetch error = %v, want an authentication error", st.Err)
			}
			for _, text := range []string{st.Err.Error(), st.Repo} {
				if strings.Contains(text, password) || strings.Contains(text, "nope") {
					t.Errorf("credentials shown: %q", text)
				}
			}
			sink.quiet(t, 150*time.Millisecond) // a fetch error never reaches the sink
		})
	}
}

// A token alone is sent as basic auth with the user "git".
func TestSyncerSmartHTTPToken(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "root", "cluster"))
	sha := repo.commit("token", map[string]string{"a.yaml": webConfig})
	srv := gitHTTPServer(t, filepath.Join(tmp, "root"), "git", "ghp_token")
	sink := newFakeSink()
	s, err := New(Config{Repo: srv.URL + "/cluster", CacheDir: t.TempDir(), PollInterval: time.Minute,
		Credentials: Credentials{PasswordFile: writeSecret(t, "ghp_token")}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if ev := sink.next(t); ev.op != "apply" || ev.rec.SHA != sha.String() {
		t.Fatalf("got %s of %s (%v)", ev.op, ev.rec.SHA, s.Status().Err)
	}
}

// A fetch that brings more than MaxPackSize is cut off, leaves no partial
// pack behind and never reaches the sink; the same repository fetches fine
// under the default limit.
func TestSyncerCutsOffLargePack(t *testing.T) {
	tmp := t.TempDir()
	repo := newTestRepo(t, filepath.Join(tmp, "repo"))
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	sha := repo.commit("big", map[string]string{"a.yaml": webConfig, "blob.bin": string(noise)})

	sink := newFakeSink()
	cache := filepath.Join(tmp, "cache")
	s, err := New(Config{Repo: "file://" + repo.dir, CacheDir: cache, PollInterval: time.Minute, MaxPackSize: 16 << 10}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "fetch error", func() bool { return s.Status().Err != nil })
	if err := s.Status().Err; !errors.Is(err, errPackTooLarge) {
		t.Errorf("fetch error = %v, want errPackTooLarge", err)
	}
	sink.quiet(t, 100*time.Millisecond)
	if tmpPacks, _ := filepath.Glob(filepath.Join(s.mirror.dir, "objects", "pack", "tmp_*")); len(tmpPacks) > 0 {
		t.Errorf("partial packs left: %v", tmpPacks)
	}

	s2, err := New(Config{Repo: "file://" + repo.dir, CacheDir: filepath.Join(tmp, "cache2"), PollInterval: time.Minute}, sink)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s2)
	if ev := sink.next(t); ev.op != "apply" || ev.rec.SHA != sha.String() {
		t.Fatalf("default limit: got %s of %s (%v)", ev.op, ev.rec.SHA, s2.Status().Err)
	}
}
