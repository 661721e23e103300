// Command hello is tug's demo application: a small static HTTP server that
// says who it is, so rollouts, services and configuration can be watched from
// the outside.
//
// Endpoints:
//
//	GET /         "hello from <hostname> (version <v>): <message>\n"
//	GET /healthz  "ok\n"
//	GET /env      the process environment, sorted, one KEY=value per line;
//	              not served (404) when HIDE_ENV=1
//
// Environment:
//
//	PORT          port to listen on (default 8080)
//	MESSAGE       the message in GET /
//	MESSAGE_FILE  if this file exists, its trimmed content replaces MESSAGE;
//	              it is read on every request, so a changed file shows at once
//	HIDE_ENV      "1" disables GET /env
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
	"strings"
	"syscall"
	"time"
)

// version is overwritten at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
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
		hostname: hostname,
		version:  version,
		getenv:   os.Getenv,
		environ:  os.Environ,
		readFile: os.ReadFile,
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
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.hello)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /env", a.env)
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
