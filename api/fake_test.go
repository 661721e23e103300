package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

var errNotFound = errors.New("not found")

// fakeStore is an in-memory Store. Objects are copied in and out, as the
// real store decodes fresh ones.
type fakeStore struct {
	mu      sync.Mutex
	objs    map[manifest.Key]manifest.Object
	syncs   []manifest.SyncRecord // oldest first
	rv      uint64
	failAll error // returned by every method when set
	panics  bool  // List panics
}

func newFakeStore(objs ...manifest.Object) *fakeStore {
	s := &fakeStore{objs: map[manifest.Key]manifest.Object{}}
	for _, o := range objs {
		s.put(o)
	}
	return s
}

func (s *fakeStore) put(obj manifest.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	obj = manifest.DeepCopy(obj)
	obj.SetResourceVersion(fmt.Sprint(s.rv))
	s.objs[manifest.KeyOf(obj)] = obj
}

func (s *fakeStore) record(rec manifest.SyncRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Seq = uint64(len(s.syncs) + 1)
	s.syncs = append(s.syncs, rec)
}

func (s *fakeStore) Get(key manifest.Key) (manifest.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAll != nil {
		return nil, s.failAll
	}
	obj, ok := s.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, errNotFound)
	}
	return manifest.DeepCopy(obj), nil
}

func (s *fakeStore) List(kind, namespace string) ([]manifest.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panics {
		panic("boom")
	}
	if s.failAll != nil {
		return nil, s.failAll
	}
	var out []manifest.Object
	for k, o := range s.objs {
		if k.Kind == kind && (namespace == "" || k.Namespace == namespace) {
			out = append(out, manifest.DeepCopy(o))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetNamespace()+"/"+out[i].GetName() < out[j].GetNamespace()+"/"+out[j].GetName()
	})
	return out, nil
}

func (s *fakeStore) Syncs(limit int) ([]manifest.SyncRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []manifest.SyncRecord
	for i := len(s.syncs) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		out = append(out, s.syncs[i])
	}
	return out, s.failAll
}

func (s *fakeStore) LastApplied() (manifest.SyncRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.syncs) - 1; i >= 0; i-- {
		if s.syncs[i].Outcome == manifest.OutcomeApplied {
			return s.syncs[i], true, s.failAll
		}
	}
	return manifest.SyncRecord{}, false, s.failAll
}

func (s *fakeStore) ResourceVersion() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv, s.failAll
}

// fakeLogs serves logs from a function and remembers the last request.
type fakeLogs struct {
	mu   sync.Mutex
	last *corev1.PodLogOptions
	open func(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

func (f *fakeLogs) Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.last = opts.DeepCopy()
	f.mu.Unlock()
	return f.open(ctx, namespace, pod, opts)
}

func (f *fakeLogs) lastOpts() *corev1.PodLogOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}
