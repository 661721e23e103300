package reconciler

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func eventLines(w Writes) []string {
	var out []string
	for _, ev := range w.Events {
		out = append(out, ev.Type+" "+ev.Reason+" "+ev.InvolvedObject.Name+": "+ev.Message)
	}
	return out
}

func podScheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestUnschedulableRetried: a pod no node fits stays Pending with
// PodScheduled=False/Unschedulable and one FailedScheduling event in
// kube-scheduler's words; a pass with nothing new records nothing; it is
// bound, with a Scheduled event, as soon as a node frees up or appears.
func TestUnschedulableRetried(t *testing.T) {
	pending := func(cpu string) *corev1.Pod {
		p := schedPod("p", "web", func(p *corev1.Pod) {
			p.UID = "uid-p"
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
			p.Status.Phase = corev1.PodPending
		})
		return p
	}
	tainted := readyNode("a", "4")
	tainted.Spec.Taints = []corev1.Taint{{Key: "node-role/x", Effect: corev1.TaintEffectNoSchedule}}
	hog := schedPod("hog", "hog", on("c"), func(p *corev1.Pod) {
		p.UID = "uid-hog"
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	})
	s := Snapshot{Nodes: []*corev1.Node{tainted, readyNode("b", "1"), readyNode("c", "2")}, Pods: []*corev1.Pod{pending("1500m"), hog}}

	w := Plan(s, t0, &seqIDs{}, FitScheduler{})
	const msg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role/x: }, 2 Insufficient cpu."
	if diff := cmp.Diff([]string{"Warning FailedScheduling p: " + msg}, eventLines(w)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	s = applyWrites(s, w)
	if c := podScheduled(s.Pods[0]); c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != msg {
		t.Errorf("PodScheduled condition %+v", c)
	}
	if w := Plan(s, t0.Add(time.Second), &seqIDs{}, FitScheduler{}); !w.Empty() || len(w.Events) != 0 {
		t.Errorf("second pass: %d writes, events %q; want none", len(w.Puts), eventLines(w))
	}

	// The hog goes: c has room.
	freed := s
	freed.Pods = []*corev1.Pod{s.Pods[0]}
	w = Plan(freed, t0.Add(2*time.Second), &seqIDs{}, FitScheduler{})
	if diff := cmp.Diff([]string{"Normal Scheduled p: Successfully assigned default/p to c"}, eventLines(w)); diff != "" {
		t.Errorf("after the hog left (-want +got):\n%s", diff)
	}
	// Or a node joins.
	s.Nodes = append(s.Nodes, readyNode("d", "4"))
	w = Plan(s, t0.Add(2*time.Second), &seqIDs{}, FitScheduler{})
	if diff := cmp.Diff([]string{"Normal Scheduled p: Successfully assigned default/p to d"}, eventLines(w)); diff != "" {
		t.Errorf("after d joined (-want +got):\n%s", diff)
	}
	s = applyWrites(s, w)
	if c := podScheduled(s.Pods[0]); s.Pods[0].Spec.NodeName != "d" || c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("pod on %q, PodScheduled %+v; want d, True", s.Pods[0].Spec.NodeName, c)
	}
}

// TestLoopRecordsEvents: the control loop stores the events its passes
// plan; the same FailedScheduling aggregates.
func TestLoopRecordsEvents(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := schedPod("p", "web", func(p *corev1.Pod) { p.UID = types.UID("uid-p") })
	if _, err := st.Apply([]manifest.Object{readyNode("a", "4"), p}, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := New(Config{Store: st, Clock: func() time.Time { return t0 }})
	if _, err := r.pass(); err != nil {
		t.Fatal(err)
	}
	r.FlushEvents()
	evs, err := st.List(manifest.KindEvent, "default")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range evs {
		ev := o.(*corev1.Event)
		got = append(got, ev.Reason+" "+ev.Message+" from "+ev.Source.Component)
	}
	if diff := cmp.Diff([]string{"Scheduled Successfully assigned default/p to a from tug-scheduler"}, got); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

type slowEventStore struct {
	mu     sync.Mutex
	stored []string
	gate   chan struct{}
}

func (s *slowEventStore) RecordEvent(ev *corev1.Event) error {
	<-s.gate
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, ev.Name)
	return nil
}

// TestEventRecorderBounded: events queue behind a slow store up to
// maxQueuedEvents; the rest are dropped; flush waits for the queue.
func TestEventRecorderBounded(t *testing.T) {
	st := &slowEventStore{gate: make(chan struct{})}
	q := newEventRecorder(st, slog.New(slog.DiscardHandler), &sync.Mutex{})
	var evs []*corev1.Event
	for i := 0; i < maxQueuedEvents+500; i++ {
		evs = append(evs, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i)}})
	}
	q.add(evs[:10])
	q.add(evs[10:])
	close(st.gate)
	q.flush()
	// The worker may have taken the first event off the queue before the
	// second add, leaving room for one more.
	if n := len(st.stored); n != maxQueuedEvents && n != maxQueuedEvents+1 {
		t.Errorf("%d events stored, want %d", n, maxQueuedEvents)
	}
	if st.stored[0] != "0" || st.stored[len(st.stored)-1] != fmt.Sprint(len(st.stored)-1) {
		t.Errorf("stored out of order or not the first ones: %v ... %v", st.stored[0], st.stored[len(st.stored)-1])
	}
	q.add(evs[:1]) // a worker starts again after going idle
	q.flush()
	if len(st.stored) < maxQueuedEvents+1 {
		t.Errorf("event after idle not stored")
	}
}
