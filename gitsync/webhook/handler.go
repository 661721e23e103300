package webhook

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tug-dev/tug/gitsync"
)

// Limits of one request.
const (
	MaxBody     = 1 << 20          // larger bodies get 413
	ReadTimeout = 10 * time.Second // default Config.ReadTimeout
	// rememberDeliveries is how many delivery IDs are kept to drop repeats.
	rememberDeliveries = 4096
)

// Target is what a valid push pokes; *gitsync.Syncer is one.
type Target interface {
	Trigger(reason string)
}

// Config configures a Handler.
type Config struct {
	// Secrets maps a provider (GitHub, GitLab, Gitea, Generic) to its
	// secret; a provider without one answers 404.
	Secrets map[string][]byte
	Branch  string // the tracked branch; pushes to other refs are ignored
	// Tag, instead of Branch: only a push of this tag triggers a sync
	// (tracking a fixed commit needs no webhook: it never changes).
	Tag    string
	Target Target
	Logger *slog.Logger     // default: discard
	Clock  func() time.Time // default time.Now; sets read deadlines
	// ReadTimeout bounds the time to receive a body (408 after it);
	// default ReadTimeout.
	ReadTimeout time.Duration
}

// Stats counts requests by outcome.
type Stats struct {
	Triggered    uint64 // valid pushes to the tracked branch
	Unauthorized uint64 // 401: missing or bad signature or token
	TooLarge     uint64 // 413
	Duplicates   uint64 // repeated delivery IDs
	Ignored      uint64 // pings, other events, other branches
	BadRequests  uint64 // 400/405/408: wrong method, unreadable or unparsable body
	Panics       uint64 // recovered panics (500)
}

// Handler serves /hooks/<provider>.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	ref     string // refs/heads/<branch> or refs/tags/<tag>
	secrets map[string][]byte

	triggered, unauthorized, tooLarge, duplicates, ignored, badRequests, panics atomic.Uint64

	mu    sync.Mutex
	seen  map[string]struct{}
	order []string // ring of the keys in seen
	next  int
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Target == nil {
		return nil, errors.New("webhook: target is required")
	}
	if (cfg.Branch == "") == (cfg.Tag == "") {
		return nil, errors.New("webhook: give the tracked branch or tag (exactly one)")
	}
	ref := "refs/heads/" + cfg.Branch
	if cfg.Tag != "" {
		ref = "refs/tags/" + cfg.Tag
	}
	secrets := map[string][]byte{}
	for name, s := range cfg.Secrets {
		if _, ok := providers[name]; !ok {
			return nil, fmt.Errorf("webhook: unknown provider %q (want one of github, gitlab, gitea, generic)", name)
		}
		if len(s) == 0 {
			return nil, fmt.Errorf("webhook: provider %s: secret is empty", name)
		}
		secrets[name] = s
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = ReadTimeout
	}
	return &Handler{
		cfg: cfg, log: cfg.Logger, ref: ref, secrets: secrets,
		seen: make(map[string]struct{}, rememberDeliveries), order: make([]string, rememberDeliveries),
	}, nil
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Triggered: h.triggered.Load(), Unauthorized: h.unauthorized.Load(), TooLarge: h.tooLarge.Load(),
		Duplicates: h.duplicates.Load(), Ignored: h.ignored.Load(), BadRequests: h.badRequests.Load(),
		Panics: h.panics.Load(),
	}
}

// ServeHTTP handles POST /hooks/<provider>.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.panics.Add(1)
			h.log.Error("webhook handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h.serve(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/hooks/")
	secret, enabled := h.secrets[name]
	if !enabled {
		http.Error(w, "no such webhook; enable it with tugd --webhook-secret-file "+safeName(name)+"=PATH", http.StatusNotFound)
		return
	}
	p := providers[name]
	if r.Method != http.MethodPost {
		h.badRequests.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POST", http.StatusMethodNotAllowed)
		return
	}
	log := h.log.With("provider", name, "remote", r.RemoteAddr)
	if p.verifyToken != nil {
		if err := p.verifyToken(secret, r.Header); err != nil {
			h.reject(w, log, err)
			return
		}
	}
	if r.ContentLength > MaxBody {
		h.tooLarge.Add(1)
		http.Error(w, fmt.Sprintf("body larger than %d bytes", MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	// Errors mean the server does not support deadlines (tests).
	_ = http.NewResponseController(w).SetReadDeadline(h.cfg.Clock().Add(h.cfg.ReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.tooLarge.Add(1)
		http.Error(w, fmt.Sprintf("body larger than %d bytes", MaxBody), http.StatusRequestEntityTooLarge)
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		h.badRequests.Add(1)
		http.Error(w, "body not received in time", http.StatusRequestTimeout)
		return
	case err != nil:
		h.badRequests.Add(1)
		http.Error(w, "reading body failed", http.StatusBadRequest)
		return
	}
	if p.verifyBody != nil {
		if err := p.verifyBody(secret, body, r.Header); err != nil {
			h.reject(w, log, err)
			return
		}
	}

	// Verified: now the payload may be looked at.
	if id := p.delivery(r.Header); id != "" && !h.firstDelivery(name+"/"+id) {
		h.duplicates.Add(1)
		accepted(w, "duplicate delivery; nothing to do")
		return
	}
	switch p.event(r.Header) {
	case eventPing:
		h.ignored.Add(1)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "pong\n")
		return
	case eventOther:
		h.ignored.Add(1)
		accepted(w, "ignored: not a push event")
		return
	}
	ref := ""
	if !(p.emptyOK && len(strings.TrimSpace(string(body))) == 0) {
		ref, err = ParseRef(body)
		if err != nil {
			h.badRequests.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ref == "" && !p.emptyOK {
			h.badRequests.Add(1)
			http.Error(w, "push payload has no ref", http.StatusBadRequest)
			return
		}
	}
	if ref != "" && ref != h.ref {
		h.ignored.Add(1)
		accepted(w, "ignored: push to another ref")
		return
	}
	h.cfg.Target.Trigger(gitsync.TriggerWebhook)
	h.triggered.Add(1)
	log.Debug("webhook accepted; sync triggered")
	accepted(w, "sync triggered")
}

func (h *Handler) reject(w http.ResponseWriter, log *slog.Logger, err error) {
	// The first rejection and every 100th are logged: a flood of forged
	// hooks must not flood the log too.
	if n := h.unauthorized.Add(1); n == 1 || n%100 == 0 {
		log.Warn("webhook rejected: bad or missing signature", "err", err, "rejectedTotal", n)
	}
	http.Error(w, "bad or missing signature", http.StatusUnauthorized)
}

func accepted(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, msg+"\n")
}

// firstDelivery records key and reports whether it is new. The last
// rememberDeliveries keys are kept.
func (h *Handler) firstDelivery(key string) bool {
	if len(key) > 256 {
		key = key[:256]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.seen[key]; ok {
		return false
	}
	if old := h.order[h.next]; old != "" {
		delete(h.seen, old)
	}
	h.order[h.next] = key
	h.next = (h.next + 1) % len(h.order)
	h.seen[key] = struct{}{}
	return true
}

// safeName keeps a provider name printable in an error message.
func safeName(s string) string {
	if len(s) > 32 || strings.ContainsFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z') }) {
		return "PROVIDER"
	}
	return s
}

// LoadSecrets reads "provider=path" specs (the --webhook-secret-file flag):
// each file holds one secret; surrounding whitespace is trimmed. Errors name
// the file, never its content.
func LoadSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range specs {
		name, path, ok := strings.Cut(spec, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("webhook secret %q: want PROVIDER=PATH, e.g. github=/etc/tug/github-secret", spec)
		}
		if _, known := providers[name]; !known {
			return nil, fmt.Errorf("webhook secret %q: unknown provider %q (want github, gitlab, gitea or generic)", spec, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("webhook secret %q: provider %s given twice", spec, name)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("webhook secret for %s: %w", name, err)
		}
		secret := []byte(strings.TrimSpace(string(data)))
		if len(secret) == 0 {
			return nil, fmt.Errorf("webhook secret for %s: file %s is empty", name, path)
		}
		out[name] = secret
	}
	return out, nil
}
