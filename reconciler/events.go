package reconciler

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// Components named as the source of the reconciler's events.
const (
	componentScheduler  = "tug-scheduler"
	componentController = "tug-controller-manager"
)

// Event reasons, as Kubernetes' components record them.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
	ReasonEvicted          = "Evicted"
	ReasonEvictionBlocked  = "EvictionBlocked"
)

// scheduled is kube-scheduler's event for a pod it bound.
func scheduled(p *corev1.Pod, now time.Time) *corev1.Event {
	return manifest.NewEvent(p, corev1.EventTypeNormal, ReasonScheduled,
		"Successfully assigned "+p.Namespace+"/"+p.Name+" to "+p.Spec.NodeName, componentScheduler, "", now)
}

// failedScheduling is kube-scheduler's event for a pod no node fits.
func failedScheduling(p *corev1.Pod, err error, now time.Time) *corev1.Event {
	return manifest.NewEvent(p, corev1.EventTypeWarning, ReasonFailedScheduling, err.Error(), componentScheduler, "", now)
}

// maxQueuedEvents bounds the events waiting to be stored, as client-go's
// event broadcaster does (it drops events beyond 1,000 queued).
const maxQueuedEvents = 1000

// eventRecorder stores events in the background, one store transaction
// each, so a pass binding thousands of pods does not wait for thousands of
// synced writes; it holds gate (the control loop's pass lock) while it
// stores one, so it does not compete with passes. Events beyond
// maxQueuedEvents are dropped and counted in the log: events are advisory.
type eventRecorder struct {
	store interface {
		RecordEvent(*corev1.Event) error
	}
	log  *slog.Logger
	gate sync.Locker

	mu      sync.Mutex
	idle    sync.Cond
	queue   []*corev1.Event
	running bool
}

func newEventRecorder(store interface{ RecordEvent(*corev1.Event) error }, log *slog.Logger, gate sync.Locker) *eventRecorder {
	q := &eventRecorder{store: store, log: log, gate: gate}
	q.idle.L = &q.mu
	return q
}

// add queues evs and starts a worker if none runs.
func (q *eventRecorder) add(evs []*corev1.Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	room := maxQueuedEvents - len(q.queue)
	if dropped := len(evs) - room; dropped > 0 {
		q.log.Warn("event queue full; dropping events", "dropped", dropped)
		evs = evs[:max(room, 0)]
	}
	q.queue = append(q.queue, evs...)
	if !q.running && len(q.queue) > 0 {
		q.running = true
		go q.run()
	}
}

func (q *eventRecorder) run() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.idle.Broadcast()
			q.mu.Unlock()
			return
		}
		ev := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		q.gate.Lock()
		err := q.store.RecordEvent(ev)
		q.gate.Unlock()
		if err != nil {
			q.log.Warn("record event", "object", ev.InvolvedObject.Kind+" "+ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name,
				"reason", ev.Reason, "err", err)
		}
	}
}

// flush waits until every queued event has been stored.
func (q *eventRecorder) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.running {
		q.idle.Wait()
	}
}

// FlushEvents waits until the events planned so far are stored (tests, and
// tugd before it closes the store).
func (r *Reconciler) FlushEvents() { r.events.flush() }
