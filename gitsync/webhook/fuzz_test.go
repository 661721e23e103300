package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzHandler checks, for any body and header values: no panic; a request
// whose signature does not verify gets 401 and triggers nothing; a trigger
// only ever follows a verified push to the tracked branch.
func fuzzHandler(f *testing.F, provider, sigHeader, eventHeader string, verify func(body []byte, h http.Header) error) {
	good := push("refs/heads/main")
	sig := Sign(testSecret, good)
	if provider == Gitea {
		sig = strings.TrimPrefix(sig, "sha256=")
	}
	if provider == GitLab {
		sig = string(testSecret)
	}
	f.Add(good, sig, "push", "id-1")
	f.Add(good, sig, "Push Hook", "")
	f.Add([]byte("{"), sig, "push", "")
	f.Add(push("refs/heads/dev"), "sha256=00", "ping", "x")
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, body []byte, sigValue, event, delivery string) {
		target := &countTarget{}
		h := newTestHandler(t, target)
		r := httptest.NewRequest(http.MethodPost, "/hooks/"+provider, bytes.NewReader(body))
		r.Header[sigHeader] = []string{sigValue} // raw: values the client API would refuse
		if eventHeader != "" {
			r.Header[eventHeader] = []string{event}
		}
		r.Header["X-Github-Delivery"] = []string{delivery}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if h.Stats().Panics != 0 {
			t.Fatalf("handler panicked")
		}
		if err := verify(body, r.Header); err != nil {
			if w.Code != http.StatusUnauthorized || target.count() != 0 {
				t.Fatalf("unverified request (%v): status %d, %d triggers", err, w.Code, target.count())
			}
			return
		}
		if target.count() > 0 {
			ref, err := ParseRef(body)
			if len(bytes.TrimSpace(body)) > 0 && (err != nil || (ref != "" && ref != "refs/heads/main")) {
				t.Fatalf("triggered by a push to %q (%v)", ref, err)
			}
			if w.Code != http.StatusAccepted {
				t.Fatalf("triggered with status %d", w.Code)
			}
		}
	})
}

func FuzzGitHub(f *testing.F) {
	fuzzHandler(f, GitHub, "X-Hub-Signature-256", "X-Github-Event", func(b []byte, h http.Header) error { return VerifyGitHub(testSecret, b, h) })
}

func FuzzGitLab(f *testing.F) {
	fuzzHandler(f, GitLab, "X-Gitlab-Token", "X-Gitlab-Event", func(_ []byte, h http.Header) error { return VerifyGitLab(testSecret, h) })
}

func FuzzGitea(f *testing.F) {
	fuzzHandler(f, Gitea, "X-Gitea-Signature", "X-Gitea-Event", func(b []byte, h http.Header) error { return VerifyGitea(testSecret, b, h) })
}

func FuzzGeneric(f *testing.F) {
	fuzzHandler(f, Generic, "X-Tug-Signature-256", "", func(b []byte, h http.Header) error { return VerifyGeneric(testSecret, b, h) })
}
