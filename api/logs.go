package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// parseLogOptions reads kubectl's log query parameters.
func parseLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{Container: q.Get("container")}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &opts.Follow}, {"previous", &opts.Previous}, {"timestamps", &opts.Timestamps}} {
		if v := q.Get(b.name); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid %s %q: want true or false", b.name, v)
			}
			*b.dst = x
		}
	}
	for _, n := range []struct {
		name string
		dst  **int64
	}{{"tailLines", &opts.TailLines}, {"sinceSeconds", &opts.SinceSeconds}, {"limitBytes", &opts.LimitBytes}} {
		if v := q.Get(n.name); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				return nil, fmt.Errorf("invalid %s %q: want a whole number ≥ 0", n.name, v)
			}
			*n.dst = &x
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		if opts.SinceSeconds != nil {
			return nil, errors.New("at most one of sinceTime or sinceSeconds may be given")
		}
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("invalid sinceTime %q: want an RFC 3339 time", v)
		}
		mt := metav1.NewTime(ts)
		opts.SinceTime = &mt
	}
	return opts, nil
}

// logContainer picks the container whose log to serve: the one named, which
// must exist, or the pod's only container. The messages are the Kubernetes
// API server's.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if name == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names)
		if len(inits) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", inits)
		}
		return "", errors.New(msg)
	}
	for _, n := range append(names, inits...) {
		if n == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
}

func (s *server) podLog(w http.ResponseWriter, r *http.Request) {
	key := manifest.Key{Kind: manifest.KindPod, Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		s.writeStatus(w, badRequest(err.Error()))
		return
	}
	obj, err := s.cfg.Store.Get(key)
	if err != nil {
		if s.cfg.IsNotFound(err) {
			s.writeStatus(w, notFound(key.Kind, key.Name))
			return
		}
		s.writeStatus(w, internalError(fmt.Errorf("get %s: %w", key, err)))
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		s.writeStatus(w, internalError(fmt.Errorf("get %s: stored object is a %T", key, obj)))
		return
	}
	if opts.Container, err = logContainer(pod, opts.Container); err != nil {
		s.writeStatus(w, badRequest(err.Error()))
		return
	}
	var rc io.ReadCloser
	if node := pod.Spec.NodeName; node != "" && node != s.cfg.NodeName && s.cfg.NodeLogs != nil {
		rc, err = s.remoteLog(r, node, key, opts)
	} else {
		if s.cfg.Logs == nil {
			s.writeStatus(w, newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
				"this server has no node agent to read logs from"))
			return
		}
		rc, err = s.cfg.Logs.Logs(r.Context(), key.Namespace, key.Name, opts)
	}
	if err != nil {
		s.writeLogError(w, err)
		return
	}
	s.streamLog(w, r, rc, key, opts)
}

// writeLogError answers a failure to open a log: a node's own Status
// passes through.
func (s *server) writeLogError(w http.ResponseWriter, err error) {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		s.writeStatus(w, se.Status)
	case s.cfg.IsNotFound(err):
		s.writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, err.Error()))
	default:
		s.writeStatus(w, newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error()))
	}
}

// streamLog copies rc to the client, flushing each read when following.
func (s *server) streamLog(w http.ResponseWriter, r *http.Request, rc io.ReadCloser, key manifest.Key, opts *corev1.PodLogOptions) {
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if opts.Follow {
		rcw := http.NewResponseController(w)
		flush = func() { _ = rcw.Flush() }
		flush() // send the headers now: the first line may be a while
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			flush()
		}
		if rerr != nil {
			if rerr != io.EOF && r.Context().Err() == nil {
				s.log.Warn("log stream ended with an error", "pod", key.String(), "container", opts.Container, "err", rerr)
			}
			return
		}
	}
}
