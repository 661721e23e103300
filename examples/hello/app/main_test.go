package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandler(t *testing.T) {
	files := map[string]string{
		"/etc/msg":   "  from a file \n",
		"/etc/empty": "",
		"/proc/self/status": "Name:\thello\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n" +
			"NoNewPrivs:\t1\nSeccomp:\t2\nThreads:\t4\n",
	}
	readFile := func(path string) ([]byte, error) {
		if path == "/etc/broken" {
			return nil, errors.New("permission denied")
		}
		s, ok := files[path]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(s), nil
	}
	tests := []struct {
		name       string
		env        map[string]string
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{
			name:       "message from env",
			env:        map[string]string{"MESSAGE": "hi there"},
			path:       "/",
			wantStatus: 200,
			wantBody:   "hello from pod-a (version v9): hi there\n",
		},
		{
			name:       "no message",
			path:       "/",
			wantStatus: 200,
			wantBody:   "hello from pod-a (version v9): \n",
		},
		{
			name:       "file as it is",
			path:       "/file?path=/etc/msg",
			wantStatus: 200,
			wantBody:   "  from a file \n",
		},
		{
			name:       "file missing",
			path:       "/file?path=/etc/none",
			wantStatus: 404,
			wantBody:   "file does not exist\n",
		},
		{
			name:       "file unreadable",
			path:       "/file?path=/etc/broken",
			wantStatus: 500,
			wantBody:   "permission denied\n",
		},
		{
			name:       "file without path",
			path:       "/file",
			wantStatus: 400,
			wantBody:   "path parameter missing\n",
		},
		{
			name:       "message file wins and is trimmed",
			env:        map[string]string{"MESSAGE": "env", "MESSAGE_FILE": "/etc/msg"},
			path:       "/",
			wantStatus: 200,
			wantBody:   "hello from pod-a (version v9): from a file\n",
		},
		{
			name:       "empty message file wins too",
			env:        map[string]string{"MESSAGE": "env", "MESSAGE_FILE": "/etc/empty"},
			path:       "/",
			wantStatus: 200,
			wantBody:   "hello from pod-a (version v9): \n",
		},
		{
			name:       "missing message file falls back to env",
			env:        map[string]string{"MESSAGE": "env", "MESSAGE_FILE": "/etc/none"},
			path:       "/",
			wantStatus: 200,
			wantBody:   "hello from pod-a (version v9): env\n",
		},
		{
			name:       "unreadable message file is an error",
			env:        map[string]string{"MESSAGE": "env", "MESSAGE_FILE": "/etc/broken"},
			path:       "/",
			wantStatus: 500,
			wantBody:   "read MESSAGE_FILE /etc/broken: permission denied\n",
		},
		{
			name:       "healthz",
			path:       "/healthz",
			wantStatus: 200,
			wantBody:   "ok\n",
		},
		{
			name:       "env sorted",
			env:        map[string]string{"ZED": "1", "ALPHA": "x=y", "MESSAGE": "m"},
			path:       "/env",
			wantStatus: 200,
			wantBody:   "ALPHA=x=y\nMESSAGE=m\nZED=1\n",
		},
		{
			name:       "env hidden",
			env:        map[string]string{"HIDE_ENV": "1", "SECRET": "s"},
			path:       "/env",
			wantStatus: 404,
			wantBody:   "404 page not found\n",
		},
		{
			name:       "HIDE_ENV other than 1 does not hide",
			env:        map[string]string{"HIDE_ENV": "0"},
			path:       "/env",
			wantStatus: 200,
			wantBody:   "HIDE_ENV=0\n",
		},
		{
			name:       "ready without READY_FILE",
			path:       "/ready",
			wantStatus: 200,
			wantBody:   "ready\n",
		},
		{
			name:       "ready once READY_FILE exists",
			env:        map[string]string{"READY_FILE": "/etc/empty"},
			path:       "/ready",
			wantStatus: 200,
			wantBody:   "ready\n",
		},
		{
			name:       "not ready while READY_FILE is missing",
			env:        map[string]string{"READY_FILE": "/etc/none"},
			path:       "/ready",
			wantStatus: 503,
			wantBody:   "not ready: /etc/none is missing\n",
		},
		{
			name:       "id",
			path:       "/id",
			wantStatus: 200,
			wantBody:   "uid=405 gid=100 groups=100,2000\n",
		},
		{
			name:       "caps",
			path:       "/caps",
			wantStatus: 200,
			wantBody:   "CapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n",
		},
		{
			name:       "write",
			path:       "/write?path=/data/x",
			wantStatus: 200,
			wantBody:   "wrote /data/x\n",
		},
		{
			name:       "write on a read-only filesystem",
			path:       "/write?path=/ro/file",
			wantStatus: 500,
			wantBody:   "open /ro/file: read-only file system\n",
		},
		{
			name:       "exit with a bad code",
			path:       "/exit?code=x",
			wantStatus: 400,
			wantBody:   "code must be a number from 0 to 255\n",
		},
		{
			name:       "exit",
			path:       "/exit?code=3",
			wantStatus: 200,
			wantBody:   "exiting 3\n",
		},
		{
			name:       "alloc",
			path:       "/alloc?mb=2",
			wantStatus: 200,
			wantBody:   "allocated 2 MiB, 2 MiB in all\n",
		},
		{
			name:       "alloc without a size",
			path:       "/alloc",
			wantStatus: 400,
			wantBody:   "mb must be a number from 1 to 65536\n",
		},
		{
			name:       "unknown path",
			path:       "/nope",
			wantStatus: 404,
			wantBody:   "404 page not found\n",
		},
		{
			name:       "POST refused",
			method:     http.MethodPost,
			path:       "/",
			wantStatus: 405,
			wantBody:   "Method Not Allowed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{
				hostname: "pod-a",
				version:  "v9",
				getenv:   func(k string) string { return tt.env[k] },
				environ: func() []string {
					var out []string
					for k, v := range tt.env {
						out = append(out, k+"="+v)
					}
					return out
				},
				readFile: readFile,
				writeFile: func(path string, _ []byte, _ os.FileMode) error {
					if path == "/ro/file" {
						return errors.New("open /ro/file: read-only file system")
					}
					return nil
				},
				ids:  func() (int, int, []int, error) { return 405, 100, []int{100, 2000}, nil },
				exit: func(int) {},
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			a.handler().ServeHTTP(rec, httptest.NewRequest(method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantBody, rec.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogRequestsOneLinePerRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	now := func() time.Time { calls++; return t0.Add(time.Duration(calls) * time.Millisecond) }
	h := logRequests(log, now, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/teapot" {
			w.WriteHeader(http.StatusTeapot)
		}
		io.WriteString(w, "abc")
	}))
	for _, p := range []string{"/", "/teapot"} {
		req := httptest.NewRequest(http.MethodGet, p, nil)
		req.RemoteAddr = "10.0.0.1:1234"
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=INFO msg=request method=GET path=/ status=200 bytes=3 remote=10.0.0.1:1234 duration=1ms`,
		`level=INFO msg=request method=GET path=/teapot status=418 bytes=3 remote=10.0.0.1:1234 duration=1ms`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

// TestBinaryServesAndStopsOnSIGTERM builds the real binary, serves one
// request on 127.0.0.1 and checks that SIGTERM ends it cleanly.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite: the go command")
		}
		t.Skip("go command not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "hello")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-X main.version=vtest", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=0", "MESSAGE=sigterm test"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("no output from hello: %v", sc.Err())
	}
	first := sc.Text()
	m := regexp.MustCompile(`addr=\S*:(\d+)`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q names no listen address", first)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	host, _ := os.Hostname()
	if want := "hello from " + host + " (version vtest): sigterm test\n"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hello after SIGTERM: %v (output %q)", err, rest)
	}
	joined := strings.Join(rest, "\n")
	for _, want := range []string{"msg=request method=GET path=/ status=200", "msg=\"hello stopped\""} {
		if !strings.Contains(joined, want) {
			t.Errorf("output lacks %q:\n%s", want, joined)
		}
	}
}
