package nodeagent

import (
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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrLogNotFound is returned by Logs when there is no log to read.
var ErrLogNotFound = errors.New("log not found")

const followPoll = 100 * time.Millisecond

// Logs streams the log of one container of a pod: stdout and stderr as the
// container wrote them (no timestamps are recorded). Options honoured:
// Container (needed when the pod has several), Previous (the run before the
// current one), TailLines, LimitBytes and Follow (stream new output until the
// container's task stops, ctx ends or the reader is closed). SinceSeconds,
// SinceTime and Timestamps are refused.
func (a *Agent) Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	switch {
	case opts.SinceSeconds != nil || opts.SinceTime != nil:
		return nil, fmt.Errorf("pod %s/%s: logs: since is not supported by tug (logs carry no timestamps)", namespace, pod)
	case opts.Timestamps:
		return nil, fmt.Errorf("pod %s/%s: logs: timestamps are not supported by tug (logs carry no timestamps)", namespace, pod)
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
	f, err := os.Open(filepath.Join(dir, name, strconv.Itoa(run)+".log"))
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: container %q: %w", namespace, pod, name, err)
	}
	if opts.TailLines != nil {
		off, err := tailOffset(f, *opts.TailLines)
		if err == nil {
			_, err = f.Seek(off, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pod %s/%s: container %q: tail: %w", namespace, pod, name, err)
		}
	}
	var limit int64 = -1
	if opts.LimitBytes != nil {
		limit = *opts.LimitBytes
	}
	if !opts.Follow || opts.Previous {
		return &limitedFile{f: f, r: limitReader(f, limit)}, nil
	}

	ctx, cancel := context.WithCancel(namespaces.WithNamespace(ctx, a.cfg.Namespace))
	pr, pw := io.Pipe()
	id := ContainerID(uid, name)
	go func() {
		defer f.Close()
		w := io.Writer(pw)
		if limit >= 0 {
			w = &limitWriter{w: pw, n: limit}
		}
		for {
			alive := a.taskAlive(ctx, id, run)
			if _, err := io.Copy(w, f); err != nil {
				pw.CloseWithError(ignoreLimit(err))
				return
			}
			if !alive || ctx.Err() != nil {
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(followPoll):
			}
		}
	}()
	return &followReader{PipeReader: pr, cancel: cancel}, nil
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

type limitedFile struct {
	f *os.File
	r io.Reader
}

func (l *limitedFile) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *limitedFile) Close() error               { return l.f.Close() }

func limitReader(r io.Reader, n int64) io.Reader {
	if n < 0 {
		return r
	}
	return io.LimitReader(r, n)
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
