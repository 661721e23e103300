// Command hello is tug's demo application: a small static HTTP server that
// says who it is, so rollouts, services and configuration can be watched from
// the outside.
//
// Endpoints:
//
//	GET /         "hello from <hostname> (version <v>): <message>\n"
//	GET /healthz  "ok\n"
//	GET /ready    "ready\n" when READY_FILE is unset or exists, else 503;
//	              for readiness probes that fail, then pass
//	GET /id       "uid=<uid> gid=<gid> groups=<g1,g2,...>\n" of the process
//	GET /caps     the Cap*, NoNewPrivs and Seccomp lines of /proc/self/status
//	GET /write?path=P  creates (or truncates) file P with "written\n":
//	              200 "wrote P\n", or 500 with the error (read-only
//	              filesystems, permissions)
//	GET /exit?code=N   answers "exiting N\n", then the process exits with
//	              code N (for init containers and restart tests)
//	GET /env      the process environment, sorted, one KEY=value per line;
//	              not served (404) when HIDE_ENV=1
//	GET /alloc?mb=N  allocates N MiB more and touches every page (kept
//	              until the process ends): "allocated N MiB, T MiB in all\n";
//	              for memory limits and OOMKilled
//	GET /file?path=P  the content of file P, as it is (404 when P does not
//	              exist, 500 with the error otherwise): volumes read back
//	              from inside a pod
//	GET /resolve?name=N  the addresses net.DefaultResolver finds for N,
//	              sorted, one a line (404 when N does not exist): cluster
//	              DNS from inside a pod
//	GET /grpc-health?status=S&service=N  sets what the gRPC health service
//	              (GRPC_PORT) answers for service N (default "": the
//	              server): SERVING or NOT_SERVING; for gRPC probes
//
// "hello touch PATH" writes "touched\n" to PATH and exits 0 (1 on error)
// instead of serving: a command for exec hooks and probes in an image that
// has no shell.
//
// Environment:
//
//	PORT          port to listen on (default 8080)
//	MESSAGE       the message in GET /
//	MESSAGE_FILE  if this file exists, its trimmed content replaces MESSAGE;
//	              it is read on every request, so a changed file shows at once
//	HIDE_ENV      "1" disables GET /env
//	GRPC_PORT     when set, grpc.health.v1 is served on this port (SERVING)
//	READY_FILE    GET /ready answers 503 until this file exists
//
// The version is set at build time:
//
//	go build -ldflags "-X main.version=v1" ./examples/hello/app
//
// Every request is logged as one line on stdout. SIGTERM or SIGINT shuts the
// server down gracefully: it stops accepting, lets requests in flight finish
// (at most 10 s) and exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/health"
)

// version is overwritten at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) == 3 && os.Args[1] == "touch" {
		if err := os.WriteFile(os.Args[2], []byte("touched\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(log); err != nil {
		log.Error("hello exiting", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("read hostname: %w", err)
	}
	app := &app{
		hostname:  hostname,
		version:   version,
		getenv:    os.Getenv,
		environ:   os.Environ,
		readFile:  os.ReadFile,
		writeFile: os.WriteFile,
		ids: func() (int, int, []int, error) {
			groups, err := os.Getgroups()
			return os.Getuid(), os.Getgid(), groups, err
		},
		exit: func(code int) {
			log.Info("hello exiting on request", "code", code)
			os.Exit(code)
		},
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort("", port),
		Handler:           logRequests(log, time.Now, app.handler()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	log.Info("hello listening", "addr", ln.Addr().String(), "version", version, "hostname", hostname)
	if gp := os.Getenv("GRPC_PORT"); gp != "" {
		app.health = health.NewServer()
		stopGRPC, err := serveGRPCHealth(log, gp, app.health)
		if err != nil {
			return err
		}
		defer stopGRPC()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("hello shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", srv.Addr, err)
	}
	log.Info("hello stopped")
	return nil
}

// app holds what the handlers read from the outside world, so tests can
// replace it.
type app struct {
	hostname string
	version  string
	getenv   func(string) string
	environ  func() []string
	readFile func(string) ([]byte, error)
	// writeFile, ids and exit back /write, /id and /exit.
	writeFile func(string, []byte, os.FileMode) error
	ids       func() (uid, gid int, groups []int, err error)
	exit      func(code int)

	mu    sync.Mutex
	hoard [][]byte // what /alloc allocated

	health *health.Server // the gRPC health service (GRPC_PORT); nil: none
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.hello)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /env", a.env)
	mux.HandleFunc("GET /ready", a.ready)
	mux.HandleFunc("GET /id", a.id)
	mux.HandleFunc("GET /caps", a.caps)
	mux.HandleFunc("GET /write", a.write)
	mux.HandleFunc("GET /exit", a.exitHandler)
	mux.HandleFunc("GET /alloc", a.alloc)
	mux.HandleFunc("GET /resolve", a.resolve)
	mux.HandleFunc("GET /file", a.file)
	mux.HandleFunc("GET /grpc-health", a.grpcHealth)
	return mux
}

// message returns MESSAGE, or the trimmed content of MESSAGE_FILE when that
// file exists.
func (a *app) message() (string, error) {
	msg := a.getenv("MESSAGE")
	path := a.getenv("MESSAGE_FILE")
	if path == "" {
		return msg, nil
	}
	b, err := a.readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return msg, nil
	}
	if err != nil {
		return "", fmt.Errorf("read MESSAGE_FILE %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (a *app) hello(w http.ResponseWriter, _ *http.Request) {
	msg, err := a.message()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from %s (version %s): %s\n", a.hostname, a.version, msg)
}

// ready answers 200 when READY_FILE is unset or exists, 503 otherwise.
func (a *app) ready(w http.ResponseWriter, _ *http.Request) {
	if path := a.getenv("READY_FILE"); path != "" {
		if _, err := a.readFile(path); err != nil {
			http.Error(w, "not ready: "+path+" is missing", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
}

func (a *app) id(w http.ResponseWriter, _ *http.Request) {
	uid, gid, groups, err := a.ids()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = strconv.Itoa(g)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "uid=%d gid=%d groups=%s\n", uid, gid, strings.Join(gs, ","))
}

// file serves the content of the file named by the path parameter.
func (a *app) file(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "path parameter missing", http.StatusBadRequest)
		return
	}
	b, err := a.readFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}

// caps prints the capability sets, no_new_privs and the seccomp mode of
// the process.
func (a *app) caps(w http.ResponseWriter, _ *http.Request) {
	b, err := a.readFile("/proc/self/status")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Cap") || strings.HasPrefix(line, "NoNewPrivs:") || strings.HasPrefix(line, "Seccomp:") {
			fmt.Fprintln(w, line)
		}
	}
}

func (a *app) write(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "path is required", http.StatusBadRequest)
		return
	}
	if err := a.writeFile(path, []byte("written\n"), 0o644); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "wrote %s\n", path)
}

// alloc allocates the MiB asked for and writes to every page, so that the
// memory is really used (and counted against a cgroup's limit).
func (a *app) alloc(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 1 || mb > 1<<16 {
		http.Error(w, "mb must be a number from 1 to 65536", http.StatusBadRequest)
		return
	}
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	a.mu.Lock()
	a.hoard = append(a.hoard, b)
	total := 0
	for _, h := range a.hoard {
		total += len(h) >> 20
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "allocated %d MiB, %d MiB in all\n", mb, total)
}

// exitHandler answers, then exits the process with the code asked for.
func (a *app) exitHandler(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.URL.Query().Get("code"))
	if err != nil || code < 0 || code > 255 {
		http.Error(w, "code must be a number from 0 to 255", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "exiting %d\n", code)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		time.Sleep(100 * time.Millisecond) // let the answer leave
		a.exit(code)
	}()
}

func (a *app) env(w http.ResponseWriter, r *http.Request) {
	if a.getenv("HIDE_ENV") == "1" {
		http.NotFound(w, r)
		return
	}
	env := slices.Clone(a.environ())
	slices.Sort(env)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, kv := range env {
		fmt.Fprintln(w, kv)
	}
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// logRequests logs one line per request.
func logRequests(log *slog.Logger, now func() time.Time, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		log.Info("request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", rec.status,
			"bytes", rec.bytes,
			"remote", r.RemoteAddr,
			"duration", now().Sub(start).String())
	})
}

// resolve answers the addresses net.DefaultResolver finds for ?name=, sorted,
// one a line: 404 when the name does not exist, 502 on other failures.
func (a *app) resolve(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		http.Error(w, "name is required", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		status := http.StatusBadGateway
		if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	slices.Sort(addrs)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s\n", strings.Join(addrs, "\n"))
}
