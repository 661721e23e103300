package proxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// fakeStore is an in-memory Store whose Notify fires on every set.
type fakeStore struct {
	mu      sync.Mutex
	objs    map[string][]manifest.Object
	notify  chan struct{}
	listErr error
}

func newFakeStore() *fakeStore {
	return &fakeStore{objs: map[string][]manifest.Object{}, notify: make(chan struct{}, 1)}
}

func (s *fakeStore) List(kind, _ string) ([]manifest.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	return append([]manifest.Object(nil), s.objs[kind]...), nil
}

func (s *fakeStore) Notify(context.Context, ...string) <-chan struct{} { return s.notify }

func (s *fakeStore) set(kind string, objs ...manifest.Object) {
	s.mu.Lock()
	s.objs[kind] = objs
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// fakeApplier records the chains of every applied Ruleset and fails while
// err is set.
type fakeApplier struct {
	mu      sync.Mutex
	err     error
	applied chan []string
}

func (a *fakeApplier) Apply(rs *Ruleset) error {
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	if err != nil {
		a.applied <- []string{"error"}
		return err
	}
	var chains []string
	for _, p := range rs.Ports {
		chains = append(chains, p.String())
	}
	a.applied <- chains
	return nil
}

func TestRun(t *testing.T) {
	st := newFakeStore()
	ap := &fakeApplier{applied: make(chan []string, 10), err: errors.New("netlink: boom")}
	p := New(Config{Store: st, Applier: ap, ServiceCIDR: serviceCIDR, RetryInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	next := func() []string {
		t.Helper()
		select {
		case got := <-ap.applied:
			return got
		case <-time.After(5 * time.Second):
			t.Fatal("no Apply within 5s")
			return nil
		}
	}
	if got := next(); !cmp.Equal(got, []string{"error"}) {
		t.Fatalf("first apply = %v, want the failure", got)
	}
	// The failure is retried without any store change.
	ap.mu.Lock()
	ap.err = nil
	ap.mu.Unlock()
	for got := next(); got != nil; got = next() {
		if !cmp.Equal(got, []string{"error"}) {
			t.Fatalf("retry applied %v, want the empty ruleset", got)
		}
	}
	st.set(manifest.KindEndpoints, endpoints("d", "web", subset([]string{"10.42.0.1"}, epPort("", "", 80))))
	st.set(manifest.KindService, service("d", "web", "ClusterIP", "10.43.0.1", port("", corev1.ProtocolTCP, 80, 80, 0)))
	for {
		got := next()
		if cmp.Equal(got, []string{"d/web:80/tcp"}) {
			break
		}
		if got != nil {
			t.Fatalf("applied %v, want d/web:80/tcp", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at cancel", err)
	}
}
