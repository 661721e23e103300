package proxy

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
)

// kindStore is a Store with one notification channel per Notify call
// (fired when one of its kinds is set) that counts List calls per kind.
type kindStore struct {
	mu      sync.Mutex
	objs    map[string][]manifest.Object
	lists   map[string]int
	chans   []chan struct{}
	kindsOf [][]string
}

func (s *kindStore) List(kind, _ string) ([]manifest.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[kind]++
	return slices.Clone(s.objs[kind]), nil
}

func (s *kindStore) Notify(_ context.Context, kinds ...string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{}, 1)
	s.chans, s.kindsOf = append(s.chans, ch), append(s.kindsOf, kinds)
	return ch
}

func (s *kindStore) set(kind string, objs ...manifest.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[kind] = objs
	for i, kinds := range s.kindsOf {
		if slices.Contains(kinds, kind) {
			select {
			case s.chans[i] <- struct{}{}:
			default:
			}
		}
	}
}

func (s *kindStore) count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists[kind]
}

// policyApplier records the policy part of every applied Ruleset.
type policyApplier struct{ applied chan *PolicyRules }

func (a *policyApplier) Apply(rs *Ruleset) error { a.applied <- rs.Policy; return nil }

// TestRunPolicyWatch checks what Run lists on each kind of change: a
// service change lists no pods; a pod change (a label) recompiles the
// policy from fresh pods without listing services; without policies pods
// are not listed at all.
func TestRunPolicyWatch(t *testing.T) {
	st := &kindStore{objs: map[string][]manifest.Object{}, lists: map[string]int{}}
	ap := &policyApplier{applied: make(chan *PolicyRules, 10)}
	p := New(Config{Store: st, Applier: ap, ServiceCIDR: serviceCIDR})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func() *PolicyRules {
		t.Helper()
		select {
		case pr := <-ap.applied:
			return pr
		case <-time.After(5 * time.Second):
			t.Fatal("no Apply within 5s")
			return nil
		}
	}
	next()
	pods, namespaces := ttObjects("")
	objs := func() []manifest.Object {
		var out []manifest.Object
		for _, p := range pods {
			out = append(out, p.DeepCopy())
		}
		return out
	}
	st.set(manifest.KindPod, objs()...)
	next()
	if n := st.count(manifest.KindPod); n != 0 {
		t.Errorf("pods listed %d times without any NetworkPolicy, want 0", n)
	}
	var nsObjs []manifest.Object
	for _, ns := range namespaces {
		nsObjs = append(nsObjs, ns)
	}
	st.set(manifest.KindNamespace, nsObjs...)
	next()
	var npObjs []manifest.Object
	for _, np := range ttScenarios[1].decode(t) { // allow-by-pod: a/x admits a/y
		npObjs = append(npObjs, np)
	}
	st.set(manifest.KindNetworkPolicy, npObjs...)
	pr := next()
	x, y, z := ttAddr(ttPod{"a", "x"}), ttAddr(ttPod{"a", "y"}), ttAddr(ttPod{"a", "z"})
	if !evalPolicy(pr, y, x, TCP, 80) || evalPolicy(pr, z, x, TCP, 80) {
		t.Fatalf("allow-by-pod compiled wrong:\n%s", pr.Text())
	}

	services := st.count(manifest.KindService)
	pods[2].Labels = map[string]string{"pod": "y"} // a/z becomes a "y"
	st.set(manifest.KindPod, objs()...)
	if pr = next(); !evalPolicy(pr, z, x, TCP, 80) {
		t.Errorf("after a/z's label change a/z → a/x:80 is denied; rules:\n%s", pr.Text())
	}
	if n := st.count(manifest.KindService); n != services {
		t.Errorf("a pod change listed services %d times, want 0", n-services)
	}
	podLists := st.count(manifest.KindPod)
	st.set(manifest.KindService)
	next()
	if n := st.count(manifest.KindPod); n != podLists {
		t.Errorf("a service change listed pods %d times, want 0", n-podLists)
	}
}
