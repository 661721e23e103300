package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/gitsync"
)

// countTarget counts triggers.
type countTarget struct {
	mu      sync.Mutex
	reasons []string
}

func (c *countTarget) Trigger(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reasons = append(c.reasons, reason)
}

func (c *countTarget) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reasons)
}

func newTestHandler(t testing.TB, target Target) *Handler {
	t.Helper()
	h, err := New(Config{
		Secrets: map[string][]byte{GitHub: testSecret, GitLab: testSecret, Gitea: testSecret, Generic: testSecret},
		Branch:  "main",
		Target:  target,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func push(ref string) []byte { return []byte(fmt.Sprintf(`{"ref":%q,"after":"abc"}`, ref)) }

// request builds a signed request for provider; extra headers override.
func request(provider string, body []byte, extra ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/"+provider, bytes.NewReader(body))
	switch provider {
	case GitHub:
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set(HeaderGitHubSignature, Sign(testSecret, body))
	case GitLab:
		r.Header.Set("X-Gitlab-Event", "Push Hook")
		r.Header.Set(HeaderGitLabToken, string(testSecret))
	case Gitea:
		r.Header.Set("X-Gitea-Event", "push")
		r.Header.Set(HeaderGiteaSignature, strings.TrimPrefix(Sign(testSecret, body), "sha256="))
	case Generic:
		r.Header.Set(HeaderGenericSignature, Sign(testSecret, body))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			r.Header.Del(extra[i])
		} else {
			r.Header.Set(extra[i], extra[i+1])
		}
	}
	return r
}

func TestHandler(t *testing.T) {
	big := append(append([]byte(`{"ref":"refs/heads/main","pad":"`), bytes.Repeat([]byte("x"), MaxBody)...), `"}`...)
	tests := []struct {
		name     string
		req      *http.Request
		status   int
		triggers int
	}{
		{"github push", request(GitHub, push("refs/heads/main")), 202, 1},
		{"github other branch", request(GitHub, push("refs/heads/dev")), 202, 0},
		{"github tag", request(GitHub, push("refs/tags/v1")), 202, 0},
		{"github ping", request(GitHub, []byte(`{"zen":"hi"}`), "X-GitHub-Event", "ping"), 200, 0},
		{"github issue event", request(GitHub, push("refs/heads/main"), "X-GitHub-Event", "issues"), 202, 0},
		{"github missing signature", request(GitHub, push("refs/heads/main"), HeaderGitHubSignature, ""), 401, 0},
		{"github bad signature", request(GitHub, push("refs/heads/main"), HeaderGitHubSignature, Sign([]byte("x"), push("refs/heads/main"))), 401, 0},
		{"github sha1 only", request(GitHub, push("refs/heads/main"), HeaderGitHubSignature, "", "X-Hub-Signature", "sha1=00"), 401, 0},
		{"github signed garbage", request(GitHub, []byte("{not json")), 400, 0},
		{"github push without ref", request(GitHub, []byte(`{}`)), 400, 0},
		{"github too large", request(GitHub, big), 413, 0},
		{"gitlab push", request(GitLab, push("refs/heads/main")), 202, 1},
		{"gitlab bad token", request(GitLab, push("refs/heads/main"), HeaderGitLabToken, "nope"), 401, 0},
		{"gitlab tag push", request(GitLab, push("refs/tags/v1"), "X-Gitlab-Event", "Tag Push Hook"), 202, 0},
		{"gitea push", request(Gitea, push("refs/heads/main")), 202, 1},
		{"gitea bad signature", request(Gitea, push("refs/heads/main"), HeaderGiteaSignature, "00"), 401, 0},
		{"generic empty body", request(Generic, nil), 202, 1},
		{"generic with ref", request(Generic, push("refs/heads/main")), 202, 1},
		{"generic other ref", request(Generic, push("refs/heads/x")), 202, 0},
		{"generic unsigned", request(Generic, nil, HeaderGenericSignature, ""), 401, 0},
		{"unknown provider", request("bitbucket", push("refs/heads/main")), 404, 0},
		{"GET", httptest.NewRequest(http.MethodGet, "/hooks/github", nil), 405, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &countTarget{}
			h := newTestHandler(t, target)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req)
			if w.Code != tt.status {
				t.Errorf("status = %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.status)
			}
			if got := target.count(); got != tt.triggers {
				t.Errorf("triggers = %d, want %d", got, tt.triggers)
			}
			for _, r := range target.reasons {
				if r != gitsync.TriggerWebhook {
					t.Errorf("trigger reason %q", r)
				}
			}
		})
	}
}

func TestHandlerDisabledProvider(t *testing.T) {
	target := &countTarget{}
	h, err := New(Config{Secrets: map[string][]byte{GitHub: testSecret}, Branch: "main", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(GitLab, push("refs/heads/main")))
	if w.Code != 404 || target.count() != 0 {
		t.Errorf("disabled gitlab: status %d, %d triggers", w.Code, target.count())
	}
}

func TestHandlerDuplicateDelivery(t *testing.T) {
	target := &countTarget{}
	h := newTestHandler(t, target)
	var codes []int
	for _, id := range []string{"d1", "d1", "d2", "d1"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(GitHub, push("refs/heads/main"), "X-GitHub-Delivery", id))
		codes = append(codes, w.Code)
	}
	// An unsigned request with a known ID is still rejected, and an
	// unsigned one cannot burn an ID.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(GitHub, push("refs/heads/main"), "X-GitHub-Delivery", "d3", HeaderGitHubSignature, "sha256=00"))
	codes = append(codes, w.Code)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, request(GitHub, push("refs/heads/main"), "X-GitHub-Delivery", "d3"))
	codes = append(codes, w.Code)
	if diff := cmp.Diff([]int{202, 202, 202, 202, 401, 202}, codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	if target.count() != 3 {
		t.Errorf("triggers = %d, want 3 (d1, d2, d3)", target.count())
	}
	want := Stats{Triggered: 3, Duplicates: 2, Unauthorized: 1}
	if diff := cmp.Diff(want, h.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestHandlerForgetsOldDeliveries(t *testing.T) {
	h := newTestHandler(t, &countTarget{})
	for i := range rememberDeliveries + 1 {
		if !h.firstDelivery(fmt.Sprint(i)) {
			t.Fatalf("delivery %d seen before", i)
		}
	}
	if len(h.seen) != rememberDeliveries {
		t.Errorf("remembers %d deliveries, want %d", len(h.seen), rememberDeliveries)
	}
	if !h.firstDelivery("0") || h.firstDelivery(fmt.Sprint(rememberDeliveries)) {
		t.Error("want the oldest forgotten and the newest remembered")
	}
}

type panicTarget struct{}

func (panicTarget) Trigger(string) { panic("boom") }

func TestHandlerRecoversPanics(t *testing.T) {
	h := newTestHandler(t, panicTarget{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(GitHub, push("refs/heads/main")))
	if w.Code != 500 || h.Stats().Panics != 1 {
		t.Errorf("status %d, panics %d; want 500 and 1", w.Code, h.Stats().Panics)
	}
}

// A real server: 202 for a valid push, 413 for a body over the cap sent
// without a Content-Length.
func TestHandlerOverHTTP(t *testing.T) {
	target := &countTarget{}
	srv := httptest.NewServer(newTestHandler(t, target))
	defer srv.Close()
	body := push("refs/heads/main")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set(HeaderGitHubSignature, Sign(testSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 || target.count() != 1 {
		t.Errorf("status %d, %d triggers", resp.StatusCode, target.count())
	}

	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range (MaxBody / len(chunk)) + 2 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/hooks/github", pr)
	req.Header.Set(HeaderGitHubSignature, Sign(testSecret, nil))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != 413 || target.count() != 1 {
		t.Errorf("streamed oversize body: status %d, %d triggers", resp.StatusCode, target.count())
	}
}

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gh, empty := write("gh", "topsecret\n"), write("empty", " \n")
	got, err := LoadSecrets([]string{"github=" + gh})
	if err != nil || string(got[GitHub]) != "topsecret" {
		t.Fatalf("LoadSecrets = %q, %v", got, err)
	}
	for _, spec := range []string{"github", "bitbucket=" + gh, "gitlab=" + empty, "gitea=" + filepath.Join(dir, "missing"), "github=" + gh + ",github=" + gh} {
		specs := strings.Split(spec, ",")
		_, err := LoadSecrets(specs)
		if err == nil {
			t.Errorf("LoadSecrets(%q) succeeded", spec)
		} else if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}

// A body that trickles in slower than ReadTimeout gets 408 and no trigger.
func TestHandlerReadTimeout(t *testing.T) {
	target := &countTarget{}
	h, err := New(Config{Secrets: map[string][]byte{Generic: testSecret}, Branch: "main", Target: target, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"ref":`))
		time.Sleep(500 * time.Millisecond)
		pw.Write([]byte(`"refs/heads/main"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic", pr)
	req.Header.Set(HeaderGenericSignature, Sign(testSecret, []byte(`{"ref":"refs/heads/main"}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("client saw the connection cut: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	}
	if target.count() != 0 || h.Stats().BadRequests != 1 {
		t.Errorf("%d triggers, %d bad requests; want 0 and 1 (timed out)", target.count(), h.Stats().BadRequests)
	}
}

func TestHandlerTrackingTag(t *testing.T) {
	tests := []struct {
		name     string
		req      *http.Request
		triggers int
	}{
		{"github push of the tag", request(GitHub, push("refs/tags/v1")), 1},
		{"github push of another tag", request(GitHub, push("refs/tags/v2")), 0},
		{"github push of a branch", request(GitHub, push("refs/heads/main")), 0},
		{"github push of a branch named like the tag", request(GitHub, push("refs/heads/v1")), 0},
		{"gitlab tag push", request(GitLab, push("refs/tags/v1"), "X-Gitlab-Event", "Tag Push Hook"), 1},
		{"gitlab other tag", request(GitLab, push("refs/tags/v0"), "X-Gitlab-Event", "Tag Push Hook"), 0},
		{"gitea tag push", request(Gitea, push("refs/tags/v1")), 1},
		{"generic empty body", request(Generic, nil), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &countTarget{}
			h, err := New(Config{Secrets: map[string][]byte{GitHub: testSecret, GitLab: testSecret, Gitea: testSecret, Generic: testSecret}, Tag: "v1", Target: target})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req)
			if w.Code != http.StatusAccepted {
				t.Errorf("status = %d (%s), want 202", w.Code, strings.TrimSpace(w.Body.String()))
			}
			if got := target.count(); got != tt.triggers {
				t.Errorf("triggers = %d, want %d", got, tt.triggers)
			}
		})
	}
}

func TestNewNeedsOneRef(t *testing.T) {
	for _, cfg := range []Config{{}, {Branch: "main", Tag: "v1"}} {
		cfg.Target = &countTarget{}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("New(branch %q, tag %q) = %v, want an error", cfg.Branch, cfg.Tag, err)
		}
	}
}
