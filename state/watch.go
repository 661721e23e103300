package state

import (
	"context"

	"github.com/tug-dev/tug/manifest"
)

// EventType says what happened to an object.
type EventType string

// Event types, named as in Kubernetes watches.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is one committed change. Object is a private copy: for Deleted, the
// object as it was last stored.
type Event struct {
	Type            EventType
	Key             manifest.Key
	Object          manifest.Object
	ResourceVersion uint64
}

// watchBuffer is how far a watcher may fall behind before it is closed.
const watchBuffer = 4096

type watcher struct {
	kinds map[string]bool
	ch    chan Event
}

// Watch returns a channel of events for the given kinds (all kinds when none
// are given), starting after the current resource version. The channel is
// closed when ctx ends, when the store closes, or when the watcher falls
// more than a few thousand events behind; the caller then lists again.
func (s *Store) Watch(ctx context.Context, kinds ...string) <-chan Event {
	w := &watcher{ch: make(chan Event, watchBuffer)}
	if len(kinds) > 0 {
		w.kinds = map[string]bool{}
		for _, k := range kinds {
			w.kinds[k] = true
		}
	}
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	s.subs[id] = w
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		if _, ok := s.subs[id]; ok {
			delete(s.subs, id)
			close(w.ch)
		}
		s.mu.Unlock()
	}()
	return w.ch
}

// publish sends events to every interested watcher. Called with s.mu held.
func (s *Store) publish(events []Event) {
	for id, w := range s.subs {
		for _, ev := range events {
			if w.kinds != nil && !w.kinds[ev.Key.Kind] {
				continue
			}
			select {
			case w.ch <- ev:
			default:
				s.log.Warn("watcher fell behind; closing it", "watcher", id)
				delete(s.subs, id)
				close(w.ch)
				goto next
			}
		}
	next:
	}
}

// Notify returns a channel that receives a value after any commit touching
// one of kinds (all kinds when none), coalescing bursts into one wake-up. It
// never closes before ctx ends, which suits level-based loops that re-read
// everything on each wake-up.
func (s *Store) Notify(ctx context.Context, kinds ...string) <-chan struct{} {
	out := make(chan struct{}, 1)
	events := s.Watch(ctx, kinds...) // registered before returning: no commit is missed
	go func() {
		defer close(out)
		for {
			for range events {
				select {
				case out <- struct{}{}:
				default:
				}
			}
			if ctx.Err() != nil {
				return
			}
			// The watcher fell behind and was closed: wake the consumer so
			// it re-reads everything, then watch again.
			select {
			case out <- struct{}{}:
			default:
			}
			events = s.Watch(ctx, kinds...)
		}
	}()
	return out
}
