package logdriver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/runtime/v2/logging"
)

// Flag is the first argument of a log driver invocation; the second holds
// its settings.
const Flag = "--tug-log-driver"

// Defaults are the kubelet's containerLogMaxSize and containerLogMaxFiles.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// maxLine is the longest entry; a longer line is split into partial
// entries, as containerd's CRI plugin does.
const maxLine = 16 << 10

// Settings say where and how a driver writes.
type Settings struct {
	Path     string // <dir>/<run>.log
	MaxSize  int64  // bytes; 0: DefaultMaxSize
	MaxFiles int    // at least 2; 0: DefaultMaxFiles
}

func (s Settings) withDefaults() Settings {
	if s.MaxSize <= 0 {
		s.MaxSize = DefaultMaxSize
	}
	if s.MaxFiles <= 0 {
		s.MaxFiles = DefaultMaxFiles
	}
	s.MaxFiles = max(s.MaxFiles, 2)
	return s
}

// Creator returns the task IO that makes the shim run exe as the log
// driver of the task.
func Creator(exe string, s Settings) cio.Creator {
	s = s.withDefaults()
	v := url.Values{"path": {s.Path}, "max-size": {strconv.FormatInt(s.MaxSize, 10)}, "max-files": {strconv.Itoa(s.MaxFiles)}}
	return cio.BinaryIO(exe, map[string]string{Flag: v.Encode()})
}

// Invoked reports whether args (os.Args) invoke the log driver.
func Invoked(args []string) bool {
	return len(args) == 3 && args[1] == Flag
}

// Main runs the log driver of os.Args and exits.
func Main() {
	s, err := parseSettings(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tug log driver:", err)
		os.Exit(2)
	}
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		return Run(s, cfg.Stdout, cfg.Stderr, ready, time.Now)
	})
}

func parseSettings(arg string) (Settings, error) {
	v, err := url.ParseQuery(arg)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{Path: v.Get("path")}
	if !filepath.IsAbs(s.Path) {
		return s, fmt.Errorf("path %q must be absolute", s.Path)
	}
	s.MaxSize, _ = strconv.ParseInt(v.Get("max-size"), 10, 64)
	s.MaxFiles, _ = strconv.Atoi(v.Get("max-files"))
	return s.withDefaults(), nil
}

// Run copies stdout and stderr into the log of s until both end. ready is
// called once the log file is open.
func Run(s Settings, stdout, stderr io.Reader, ready func() error, clock func() time.Time) error {
	s = s.withDefaults()
	removeOldRuns(s.Path)
	w, err := openWriter(s)
	if err != nil {
		_ = ready()
		return err
	}
	defer w.close()
	if err := ready(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, src := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if src.r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = copyStream(w, src.name, src.r, clock)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func copyStream(w *writer, stream string, r io.Reader, clock func() time.Time) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			content, full := bytes.CutSuffix(line, []byte("\n"))
			if werr := w.write(Entry{Time: clock(), Stream: stream, Partial: !full, Content: content}); werr != nil {
				return werr
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// writer appends entries to the log file, rotating it by size.
type writer struct {
	s    Settings
	mu   sync.Mutex
	f    *os.File
	size int64
}

func openWriter(s Settings) (*writer, error) {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &writer{s: s, f: f, size: st.Size()}, nil
}

func (w *writer) write(e Entry) error {
	b := Format(e)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size > 0 && w.size+int64(len(b)) > w.s.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

// rotate turns the current file into .1, shifting older ones, drops what
// goes past MaxFiles, and starts a new current file.
func (w *writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	_ = os.Remove(rotated(w.s.Path, w.s.MaxFiles-1))
	for i := w.s.MaxFiles - 2; i >= 1; i-- {
		if err := os.Rename(rotated(w.s.Path, i), rotated(w.s.Path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(w.s.Path, rotated(w.s.Path, 1)); err != nil {
		return err
	}
	f, err := os.OpenFile(w.s.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	return nil
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.f.Close()
}

func rotated(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}

// Files lists the files of the log at path that exist, oldest first: the
// rotated ones, then path itself.
func Files(path string) []string {
	var out []string
	for i := 1; ; i++ {
		if _, err := os.Stat(rotated(path, i)); err != nil {
			break
		}
		out = append(out, rotated(path, i))
	}
	slices.Reverse(out)
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	}
	return out
}

// removeOldRuns removes the log files of runs older than the one before
// path's run (path is <dir>/<run>.log).
func removeOldRuns(path string) {
	run, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	if err != nil {
		return
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		base, _, _ := strings.Cut(e.Name(), ".")
		if n, err := strconv.Atoi(base); err == nil && n < run-1 && strings.Contains(e.Name(), ".log") {
			_ = os.Remove(filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
}
