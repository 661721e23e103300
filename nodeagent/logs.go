package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/logdriver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrLogNotFound is returned by Logs when there is no log to read.
var ErrLogNotFound = errors.New("log not found")

const followPoll = 100 * time.Millisecond

// Logs streams the log of one container of a pod: stdout and stderr as the
// container wrote them. Options honoured: Container (needed when the pod
// has several), Previous (the run before the current one), TailLines,
// LimitBytes, Follow (stream new output until the container's task stops,
// ctx ends or the reader is closed, across rotations), and, when the agent
// has a log driver (Config.LogDriver: entries carry their time),
// SinceSeconds, SinceTime and Timestamps (each line prefixed with its
// RFC 3339 time and a space, as the kubelet does). Without a log driver
// these three are refused.
func (a *Agent) Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	stamped := a.cfg.LogDriver != ""
	switch {
	case !stamped && (opts.SinceSeconds != nil || opts.SinceTime != nil):
		return nil, fmt.Errorf("pod %s/%s: logs: since needs timestamps, and this agent runs without a log driver (logs carry no timestamps)", namespace, pod)
	case !stamped && opts.Timestamps:
		return nil, fmt.Errorf("pod %s/%s: logs: timestamps need a log driver, and this agent runs without one (logs carry no timestamps)", namespace, pod)
	}
	dir, uid, names, inits, err := a.findPodDir(namespace, pod)
	if err != nil {
		return nil, err
	}
	name := opts.Container
	if name == "" {
		if len(names) != 1 {
			return nil, fmt.Errorf("pod %s/%s: a container name must be specified, choose one of: %v", namespace, pod, names)
		}
		name = names[0]
	} else if !slices.Contains(names, name) && !slices.Contains(inits, name) {
		return nil, fmt.Errorf("pod %s/%s: container %q: %w (containers: %v)", namespace, pod, name, ErrLogNotFound, names)
	}
	runs := logRuns(filepath.Join(dir, name))
	if opts.Previous {
		if len(runs) < 2 {
			return nil, fmt.Errorf("pod %s/%s: previous terminated container %q: %w", namespace, pod, name, ErrLogNotFound)
		}
		runs = runs[:len(runs)-1]
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("pod %s/%s: container %q has not started yet: %w", namespace, pod, name, ErrLogNotFound)
	}
	run := runs[len(runs)-1]
	path := filepath.Join(dir, name, strconv.Itoa(run)+".log")
	files := []string{path}
	if stamped {
		files = logdriver.Files(path)
	}
	if len(files) == 0 || files[len(files)-1] != path {
		return nil, fmt.Errorf("pod %s/%s: container %q: %w", namespace, pod, name, ErrLogNotFound)
	}
	// Open the current file now, so that a missing log fails the call.
	cur, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: container %q: %w", namespace, pod, name, err)
	}
	r := &logRenderer{stamped: stamped, timestamps: opts.Timestamps}
	if opts.SinceTime != nil {
		r.since = opts.SinceTime.Time
	} else if opts.SinceSeconds != nil {
		r.since = a.clock().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if !stamped && opts.TailLines != nil {
		// Plain files never rotate: seek to the tail instead of reading it all.
		off, err := tailOffset(cur, *opts.TailLines)
		if err == nil {
			_, err = cur.Seek(off, io.SeekStart)
		}
		if err != nil {
			cur.Close()
			return nil, fmt.Errorf("pod %s/%s: container %q: tail: %w", namespace, pod, name, err)
		}
		opts = opts.DeepCopy()
		opts.TailLines = nil
	}
	var limit int64 = -1
	if opts.LimitBytes != nil {
		limit = *opts.LimitBytes
	}
	follow := opts.Follow && !opts.Previous
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(ctx, a.cfg.Namespace))
	pr, pw := io.Pipe()
	id := ContainerID(uid, name)
	go func() {
		w := io.Writer(pw)
		if limit >= 0 {
			w = &limitWriter{w: pw, n: limit}
		}
		s := &logStream{r: r, w: w, tail: opts.TailLines}
		err := s.copyAll(files[:len(files)-1], cur)
		switch {
		case err != nil:
		case follow:
			err = s.follow(ctx, path, func() bool { return a.taskAlive(ctx, id, run) })
		default:
			err = s.drain(true)
		}
		if err == nil {
			err = s.flush()
		}
		s.cur.Close()
		pw.CloseWithError(ignoreLimit(err))
	}()
	return &followReader{PipeReader: pr, cancel: cancel}, nil
}

// logRenderer turns log file lines into what a reader gets.
type logRenderer struct {
	stamped    bool // lines are logdriver entries
	timestamps bool
	since      time.Time
	mid        bool // the last entry was partial
}

// render returns the output of one file line, nil when since filters it
// out. A line that is not an entry is passed as it is.
func (r *logRenderer) render(line []byte) []byte {
	if !r.stamped {
		return line
	}
	e, err := logdriver.Parse(line)
	if err != nil {
		return line
	}
	if !r.since.IsZero() && e.Time.Before(r.since) {
		r.mid = e.Partial
		return nil
	}
	var b []byte
	if r.timestamps && !r.mid {
		b = append(e.Time.UTC().AppendFormat(b, time.RFC3339Nano), ' ')
	}
	b = append(b, e.Content...)
	if !e.Partial {
		b = append(b, '\n')
	}
	r.mid = e.Partial
	return b
}

// logStream copies a run's log files to w, keeping the last tail lines
// only until it is flushed.
type logStream struct {
	r       *logRenderer
	w       io.Writer
	tail    *int64
	ring    [][]byte
	cur     *os.File
	br      *bufio.Reader
	pending []byte // a line without its newline yet, at the current file's end
}

func (s *logStream) emit(out []byte) error {
	if out == nil {
		return nil
	}
	if s.tail != nil {
		if *s.tail <= 0 {
			return nil
		}
		s.ring = append(s.ring, out)
		if int64(len(s.ring)) > *s.tail {
			s.ring = s.ring[1:]
		}
		return nil
	}
	_, err := s.w.Write(out)
	return err
}

// flush writes what the tail kept, then lets lines through.
func (s *logStream) flush() error {
	if s.tail == nil {
		return nil
	}
	s.tail = nil
	for _, out := range s.ring {
		if _, err := s.w.Write(out); err != nil {
			return err
		}
	}
	s.ring = nil
	return nil
}

// copyAll copies the older files whole, then the current file up to its
// last complete line.
func (s *logStream) copyAll(older []string, cur *os.File) error {
	for _, name := range older {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated away meanwhile
		}
		if err != nil {
			return err
		}
		s.cur, s.br, s.pending = f, bufio.NewReaderSize(f, 64<<10), nil
		err = s.drain(true)
		f.Close()
		if err != nil {
			return err
		}
	}
	s.cur, s.br, s.pending = cur, bufio.NewReaderSize(cur, 64<<10), nil
	return s.drain(false)
}

// drain copies the complete lines of the current file; final also copies
// a last line without a newline.
func (s *logStream) drain(final bool) error {
	for {
		line, err := s.br.ReadBytes('\n')
		if len(line) > 0 {
			if len(s.pending) > 0 {
				line = append(s.pending, line...)
				s.pending = nil
			}
			if line[len(line)-1] != '\n' && !final {
				s.pending = line
			} else if err := s.emit(s.r.render(line)); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			if final && len(s.pending) > 0 {
				p := s.pending
				s.pending = nil
				return s.emit(s.r.render(p))
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// follow streams what is written to path until alive reports the run
// over (and the file is drained) or ctx ends, reopening path when the log
// driver rotated it.
func (s *logStream) follow(ctx context.Context, path string, alive func() bool) error {
	if err := s.flush(); err != nil {
		return err
	}
	for {
		running := alive()
		if err := s.drain(false); err != nil {
			return err
		}
		if next := nextLogFile(path, s.cur); next != nil {
			if err := s.drain(true); err != nil {
				next.Close()
				return err
			}
			s.cur.Close()
			s.cur, s.br = next, bufio.NewReaderSize(next, 64<<10)
			continue
		}
		if !running || ctx.Err() != nil {
			return s.drain(true)
		}
		select {
		case <-ctx.Done():
		case <-time.After(followPoll):
		}
	}
}

// nextLogFile opens the file that follows cur once the log driver
// rotated cur away from path: the next newer of path's files, or the
// oldest one left when cur is gone from them (the reader fell more than
// MaxFiles behind). It returns nil while cur is still path.
func nextLogFile(path string, cur *os.File) *os.File {
	curInfo, err := cur.Stat()
	if err != nil {
		return nil
	}
	if fi, err := os.Stat(path); err != nil || os.SameFile(fi, curInfo) {
		return nil
	}
	files := logdriver.Files(path)
	next := ""
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil && os.SameFile(fi, curInfo) {
			if i+1 < len(files) {
				next = files[i+1]
			}
			break
		}
	}
	if next == "" && len(files) > 0 {
		next = files[0]
	}
	f, err := os.Open(next)
	if err != nil {
		return nil
	}
	return f
}

// findPodDir locates the directory of a pod: the one of the stored pod's
// UID, else the only directory with that namespace and name. It returns the
// container names (from the spec, else from the directory).
// Init containers' names come apart: they are never the default.
func (a *Agent) findPodDir(namespace, pod string) (string, types.UID, []string, []string, error) {
	if obj, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindPod, Namespace: namespace, Name: pod}); err == nil {
		if p, ok := obj.(*corev1.Pod); ok {
			var names, inits []string
			for _, c := range p.Spec.Containers {
				names = append(names, c.Name)
			}
			for _, c := range p.Spec.InitContainers {
				inits = append(inits, c.Name)
			}
			return a.podDir(p), p.UID, names, inits, nil
		}
	}
	matches, _ := filepath.Glob(filepath.Join(a.podsDir, namespace+"_"+pod+"_*"))
	if len(matches) != 1 {
		return "", "", nil, nil, fmt.Errorf("pod %s/%s: %w", namespace, pod, ErrLogNotFound)
	}
	dir := matches[0]
	uid := types.UID(dir[strings.LastIndexByte(dir, '_')+1:])
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return dir, uid, names, nil, nil
}

// logRuns lists the restart counts that have a log file in dir, ascending.
func logRuns(dir string) []int {
	entries, _ := os.ReadDir(dir)
	var runs []int
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log")); err == nil && strings.HasSuffix(e.Name(), ".log") {
			runs = append(runs, n)
		}
	}
	slices.Sort(runs)
	return runs
}

// taskAlive reports whether container id still runs the task that writes
// log run: its task is not stopped and no newer run has started.
func (a *Agent) taskAlive(ctx context.Context, id string, run int) bool {
	cont, err := a.cfg.Client.LoadContainer(ctx, id)
	if err != nil {
		return false
	}
	labels, err := cont.Labels(ctx)
	if err != nil || labels[LabelRestartCount] != strconv.Itoa(run) {
		return false
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		return false
	}
	st, err := task.Status(ctx)
	return err == nil && st.Status != containerd.Stopped
}

// tailOffset returns the offset where the last n lines of f begin.
func tailOffset(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n <= 0 {
		return size, nil
	}
	const chunk = 32 << 10
	buf := make([]byte, chunk)
	pos := size
	lines := int64(0)
	// A final newline ends the last line; it does not start another.
	for pos > 0 {
		readLen := int64(chunk)
		if pos < readLen {
			readLen = pos
		}
		pos -= readLen
		if _, err := f.ReadAt(buf[:readLen], pos); err != nil && err != io.EOF {
			return 0, err
		}
		for i := readLen - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == size-1 {
				continue
			}
			lines++
			if lines == n {
				return pos + i + 1, nil
			}
		}
	}
	return 0, nil
}

var errLimit = errors.New("limit reached")

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	full := len(p)
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && n < full {
		err = errLimit
	}
	return n, err
}

func ignoreLimit(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

type followReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *followReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}
