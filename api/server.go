package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Store is what the API reads. *state.Store satisfies it.
type Store interface {
	// Get returns one object, or an error for which Config.IsNotFound
	// holds when it does not exist.
	Get(key manifest.Key) (manifest.Object, error)
	// List returns the objects of kind in namespace (all when empty).
	List(kind, namespace string) ([]manifest.Object, error)
	// Syncs returns up to limit sync records, newest first (all when ≤ 0).
	Syncs(limit int) ([]manifest.SyncRecord, error)
	// LastApplied returns the newest Applied sync record.
	LastApplied() (manifest.SyncRecord, bool, error)
	// ResourceVersion returns the last resource version written.
	ResourceVersion() (uint64, error)
}

// Logs streams a container's log. opts.Container is always set: the server
// resolves the default container and checks the name before calling.
type Logs interface {
	Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// TableFunc renders objects of one kind as a kubectl table
// (printers.Table satisfies it).
type TableFunc func(kind string, objs []manifest.Object, now time.Time) (*metav1.Table, error)

// Config configures the API handler.
type Config struct {
	// Store is read for every answer. Required.
	Store Store
	// IsNotFound tells Store and Logs errors for missing objects apart
	// (errors.Is(err, state.ErrNotFound)). Required.
	IsNotFound func(error) bool
	// Logs serves pod logs; nil answers 503 to log requests.
	Logs Logs
	// NodeName is the node whose pods' logs Logs serves (the server's own
	// node). Logs of pods bound to other nodes come through NodeLogs when
	// it is set.
	NodeName string
	// NodeLogs reads logs from the node a pod runs on (its log listener,
	// as kube-apiserver reaches the kubelet); nil: every log through Logs.
	NodeLogs NodeLogs
	// Repo and Branch (or Tag, or Commit: the tracked ref) are named in
	// the refusal of every write. Credentials in Repo are stripped before use.
	Repo   string
	Branch string
	Tag    string
	Commit string
	// SyncStatus reports the Git fetcher's live state for /tug/v1/status;
	// nil leaves it out.
	SyncStatus func() SyncStatus
	// Webhooks reports the webhook counters for /tug/v1/status; nil (no
	// webhook enabled) leaves them out.
	Webhooks func() WebhookStats
	// Table enables kubectl's server-side printing (Accept: ...;as=Table).
	Table TableFunc
	// Version is tug's build version, shown by /version.
	Version string
	// Logger receives access logs (Debug) and recovered panics (Error).
	Logger *slog.Logger
	// Clock is the time source for ages in tables; time.Now when nil.
	Clock func() time.Time
	// Watch serves "?watch=1" on lists (kubectl get -w, remote agents);
	// nil refuses watches.
	Watch *WatchCache
}

type server struct {
	cfg   Config
	repo  string
	log   *slog.Logger
	clock func() time.Time
	// agent marks the agent listener (NewAgentHandler): authenticated
	// nodes, which read Secret values.
	agent bool
}

// serve returns obj as this listener may serve it: Secrets redacted except
// to nodes on the agent listener.
func (s *server) serve(obj manifest.Object) manifest.Object {
	if s.agent {
		return obj
	}
	return sanitize(obj)
}

// NewHandler returns the read-only API. It panics when cfg.Store or
// cfg.IsNotFound is nil, which is a wiring mistake.
func NewHandler(cfg Config) http.Handler {
	if cfg.Store == nil || cfg.IsNotFound == nil {
		panic("api.NewHandler: Config.Store and Config.IsNotFound are required")
	}
	s := newServer(cfg)
	return s.accessLog(s.recover(s.readOnly(s.readRoutes())))
}

func newServer(cfg Config) *server {
	s := &server{cfg: cfg, repo: RedactURL(cfg.Repo), log: cfg.Logger, clock: cfg.Clock}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// readRoutes serves every read (GET, HEAD) path.
func (s *server) readRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/version", s.version)
	mux.HandleFunc("/api", s.apiVersions)
	mux.HandleFunc("/apis", s.apiGroups)
	prefixes := []struct{ prefix, group string }{{"/api/v1", ""}}
	for _, name := range apiGroupNames {
		g := apiGroup(name)
		mux.HandleFunc("/apis/"+name, func(w http.ResponseWriter, r *http.Request) { s.writeJSON(w, http.StatusOK, g) })
		prefixes = append(prefixes, struct{ prefix, group string }{"/apis/" + name + "/v1", name})
	}
	for _, gv := range prefixes {
		group := gv.group
		mux.HandleFunc(gv.prefix, func(w http.ResponseWriter, r *http.Request) { s.resourceList(w, r, group) })
		mux.HandleFunc(gv.prefix+"/{resource}", func(w http.ResponseWriter, r *http.Request) {
			s.objects(w, r, group, "", true)
		})
		mux.HandleFunc(gv.prefix+"/{resource}/{name}", func(w http.ResponseWriter, r *http.Request) {
			s.objects(w, r, group, "", false)
		})
		mux.HandleFunc(gv.prefix+"/namespaces/{namespace}/{resource}", func(w http.ResponseWriter, r *http.Request) {
			s.objects(w, r, group, r.PathValue("namespace"), true)
		})
		mux.HandleFunc(gv.prefix+"/namespaces/{namespace}/{resource}/{name}", func(w http.ResponseWriter, r *http.Request) {
			s.objects(w, r, group, r.PathValue("namespace"), false)
		})
	}
	mux.HandleFunc("/api/v1/namespaces/{namespace}/pods/{name}/log", s.podLog)
	mux.HandleFunc("/tug/v1/status", s.status)
	mux.HandleFunc("/tug/v1/syncs", s.syncs)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeStatus(w, noSuchResource())
	})
	return mux
}

// readOnly refuses every method but GET and HEAD, naming where changes go.
func (s *server) readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		s.writeStatus(w, newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			fmt.Sprintf("tug is read-only: %s %s is refused; change the cluster by committing to %s",
				r.Method, r.URL.Path, s.commitTarget())))
	})
}

func (s *server) commitTarget() string {
	target := "the Git repository tugd tracks"
	if s.repo != "" {
		target = s.repo
	}
	switch {
	case s.cfg.Tag != "":
		target += " (tag " + s.cfg.Tag + ")"
	case s.cfg.Commit != "":
		target += " (commit " + s.cfg.Commit + ")"
	case s.cfg.Branch != "":
		target += " (branch " + s.cfg.Branch + ")"
	}
	return target
}

// recorder remembers the status and size of an answer for the access log
// and for panic recovery. Unwrap lets http.ResponseController flush.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("query", r.URL.RawQuery),
			slog.Int("status", rec.code),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

func (s *server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*recorder)
		if !ok {
			rec = &recorder{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic in API handler", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec.code == 0 {
				s.writeStatus(rec, internalError(fmt.Errorf("internal error serving %s", r.URL.Path)))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *server) writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode API answer", "err", err)
		code, data = http.StatusInternalServerError, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"encode answer failed","reason":"InternalError","code":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
	w.Write([]byte("\n"))
}

func (s *server) writeStatus(w http.ResponseWriter, st metav1.Status) {
	s.writeJSON(w, int(st.Code), st)
}
