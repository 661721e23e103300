package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WatchSource is the store's change feed (*state.Store satisfies it).
type WatchSource interface {
	Watch(ctx context.Context, kinds ...string) <-chan state.Event
	ResourceVersion() (uint64, error)
}

// DefaultWatchHistory is how many recent changes a WatchCache keeps for
// watches that resume from an older resource version: as many as the store
// buffers for one watcher. A commit bigger than that restarts every watch,
// and clients too far behind list again.
const DefaultWatchHistory = 4096

// WatchCache fans the store's changes out to HTTP watches and keeps the
// most recent ones, so that a watch can resume from any resource version
// it holds ("?watch=1&resourceVersion=N"). A resource version older than
// the history is answered with 410 Gone, as Kubernetes does; the client
// lists again. Run feeds it; one WatchCache may serve several handlers.
type WatchCache struct {
	src  WatchSource
	size int
	log  *slog.Logger

	mu      sync.Mutex
	ready   chan struct{} // closed once Run has subscribed
	floor   uint64        // every change after floor is in history
	history []state.Event // ascending resource versions
	subs    map[*watchSub]bool
}

type watchSub struct {
	ch     chan state.Event
	closed bool
	// from is the resource version the watch starts after: the cache may
	// still be catching up with the store when a watch subscribes, and
	// changes at or before from were already listed.
	from uint64
}

// NewWatchCache returns a cache over src keeping the last history changes
// (DefaultWatchHistory when ≤ 0). logger may be nil.
func NewWatchCache(src WatchSource, history int, logger *slog.Logger) *WatchCache {
	if history <= 0 {
		history = DefaultWatchHistory
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &WatchCache{src: src, size: history, log: logger, ready: make(chan struct{}), subs: map[*watchSub]bool{}}
}

// Run follows the store until ctx ends. When the store drops its watch
// (this cache fell behind), the history is cut at the current resource
// version and every open watch is closed: their clients resume, and those
// too far behind list again.
func (c *WatchCache) Run(ctx context.Context) error {
	first := true
	for ctx.Err() == nil {
		events := c.src.Watch(ctx)
		rv, err := c.src.ResourceVersion()
		if err != nil {
			return fmt.Errorf("watch cache: read resource version: %w", err)
		}
		c.mu.Lock()
		c.floor = rv
		clear(c.history)
		c.history = c.history[:0]
		for s := range c.subs {
			c.closeSub(s)
		}
		c.mu.Unlock()
		if first {
			close(c.ready)
			first = false
		} else {
			c.log.Warn("watch cache fell behind the store; watches restart", "resourceVersion", rv)
		}
		for ev := range events {
			c.add(ev)
		}
	}
	c.mu.Lock()
	for s := range c.subs {
		c.closeSub(s)
	}
	c.mu.Unlock()
	return nil
}

func (c *WatchCache) add(ev state.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.ResourceVersion <= c.floor {
		return // also listed: the resource version was read after subscribing
	}
	if len(c.history) >= c.size {
		// Drop the oldest quarter at once: the copy is amortised.
		drop := max(c.size/4, 1)
		c.floor = c.history[drop-1].ResourceVersion
		n := copy(c.history, c.history[drop:])
		clear(c.history[n:])
		c.history = c.history[:n]
	}
	c.history = append(c.history, ev)
	for s := range c.subs {
		if ev.ResourceVersion <= s.from {
			continue
		}
		select {
		case s.ch <- ev:
		default: // a slow client: it resumes from what it got
			c.closeSub(s)
		}
	}
}

func (c *WatchCache) closeSub(s *watchSub) {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	delete(c.subs, s)
}

// Ready is closed once Run follows the store: from then on every change is
// kept for watches.
func (c *WatchCache) Ready() <-chan struct{} { return c.ready }

// errGone is a watch from a resource version older than the history.
type errGone struct{ rv, floor uint64 }

func (e errGone) Error() string {
	return fmt.Sprintf("too old resource version: %d (%d)", e.rv, e.floor+1)
}

// subscribe returns the changes after rv: first those in history, then live
// ones, on one channel closed when the watch must end.
func (c *WatchCache) subscribe(ctx context.Context, rv uint64) (<-chan state.Event, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rv < c.floor {
		return nil, errGone{rv, c.floor}
	}
	var backlog []state.Event
	for i, ev := range c.history {
		if ev.ResourceVersion > rv {
			backlog = c.history[i:]
			break
		}
	}
	s := &watchSub{ch: make(chan state.Event, len(backlog)+1024), from: rv}
	for _, ev := range backlog {
		s.ch <- ev
	}
	c.subs[s] = true
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		c.closeSub(s)
		c.mu.Unlock()
	}()
	return s.ch, nil
}

// watchEvent is one line of a Kubernetes watch stream.
type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// serveWatch answers "?watch=1": newline-delimited watch events of kind in
// namespace that match, after resourceVersion (or, without one or with
// "0", every current object as ADDED first, as Kubernetes does). An object
// that stops matching (a label or field changed, or on the agent listener
// the node's pods stopped referencing it) is sent as DELETED, and one that
// starts matching as ADDED, as the Kubernetes API server does. graph, when
// set, is the requesting node's view of the node graph (agent listener).
func (s *server) serveWatch(w http.ResponseWriter, r *http.Request, kind, namespace string, match func(manifest.Object) bool, graph *graphFilter) {
	if s.cfg.Watch == nil {
		s.writeStatus(w, badRequest("tug does not serve watches on this listener; list again to refresh"))
		return
	}
	q := r.URL.Query()
	ctx := r.Context()
	if t, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	matches := func(obj manifest.Object) bool {
		return match(obj) && (graph == nil || graph.match(obj))
	}
	rv, err := s.cfg.Store.ResourceVersion()
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("read resource version: %w", err)))
		return
	}
	if graph != nil {
		// Read the node's pods after the version: changes after it are
		// replayed to the graph, so it misses none.
		if graph, err = newGraphFilter(s.cfg.Store, graph.graph.node, kind); err != nil {
			s.writeStatus(w, internalError(err))
			return
		}
	}
	current, err := s.cfg.Store.List(kind, namespace)
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("list %s: %w", manifest.Plural(kind), err)))
		return
	}
	st := &watchState{seen: map[manifest.Key]bool{}, listedAt: rv}
	var initial []manifest.Object
	switch v := q.Get("resourceVersion"); v {
	case "", "0":
		st.from, initial = rv, current
	default:
		from, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.writeStatus(w, badRequest(fmt.Sprintf("invalid resourceVersion %q", v)))
			return
		}
		// Resumed: the client holds what matched at from. What matches
		// now stands in for it; the changes between from and now
		// (replayed below) are treated as possibly held.
		st.from, st.resumed = from, true
		for _, obj := range current {
			if matches(obj) {
				st.seen[manifest.KeyOf(obj)] = true
			}
		}
	}
	events, err := s.cfg.Watch.subscribe(ctx, st.from)
	if gone, ok := err.(errGone); ok {
		s.writeStatus(w, newStatus(http.StatusGone, metav1.StatusReasonExpired, gone.Error()))
		return
	}
	if err != nil {
		return // the client went away
	}
	// kubectl get -w asks for Tables: each event then carries a one-row
	// Table, as the Kubernetes API server sends.
	tables := s.wantsTable(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(typ string, obj manifest.Object) bool {
		manifest.SetTypeMeta(obj)
		if tables {
			rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
			t, err := s.table(r, kind, []manifest.Object{obj}, rv)
			if err != nil {
				s.log.Error("render watch event as a table", "kind", kind, "err", err)
				return false
			}
			return enc.Encode(watchEvent{Type: typ, Object: t}) == nil
		}
		return enc.Encode(watchEvent{Type: typ, Object: s.serve(obj)}) == nil
	}
	for _, obj := range initial {
		if matches(obj) {
			st.seen[manifest.KeyOf(obj)] = true
			if !send(string(state.Added), obj) {
				return
			}
		}
	}
	rc.Flush()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return // the client resumes from the last version it saw
			}
			if graph != nil && graph.observe(ev.Key.Kind, ev.Object, ev.Type == state.Deleted) {
				if !s.refilter(kind, namespace, matches, st, ev.ResourceVersion, send) {
					return
				}
			}
			if ev.Key.Kind == kind && (namespace == "" || ev.Key.Namespace == namespace) {
				typ, ok := st.decide(ev, matches(ev.Object))
				if ok && !send(typ, manifest.DeepCopy(ev.Object)) {
					return
				}
			}
			// Send what else is queued before flushing.
			if len(events) == 0 {
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	}
}

// watchState is what one watch's client holds, as far as the server
// knows: seen[key] is true for an object sent as matching, false for one
// sent as DELETED, absent when unknown.
type watchState struct {
	seen     map[manifest.Key]bool
	from     uint64 // the watch's starting resource version
	listedAt uint64 // when seen was filled
	resumed  bool
}

// decide returns the event to send for one change of the watched kind
// (ok false: none). matched is whether the changed object matches now.
func (st *watchState) decide(ev state.Event, matched bool) (typ string, ok bool) {
	held, known := st.seen[ev.Key]
	if ev.Type == state.Added {
		held, known = false, true // created after the client's version
	}
	// A replayed change of an object unknown here may be held by a
	// resumed client: a DELETED for it is at worst one too many.
	maybe := held || !known && st.resumed && ev.ResourceVersion <= st.listedAt
	switch {
	case ev.Type == state.Deleted:
		delete(st.seen, ev.Key)
		return string(state.Deleted), matched || maybe
	case matched:
		st.seen[ev.Key] = true
		if !maybe && ev.Type == state.Modified {
			return string(state.Added), true // it starts matching
		}
		return string(ev.Type), true
	default:
		st.seen[ev.Key] = false
		return string(state.Deleted), maybe // it stops matching
	}
}

// refilter sends ADDED and DELETED for the objects whose readability
// changed with the node graph, as of resource version at: objects changed
// later are decided by their own events.
func (s *server) refilter(kind, namespace string, matches func(manifest.Object) bool, st *watchState, at uint64, send func(string, manifest.Object) bool) bool {
	objs, err := s.cfg.Store.List(kind, namespace)
	if err != nil {
		s.log.Error("watch: list again after the node graph changed", "kind", kind, "err", err)
		return false // the client resumes and lists again
	}
	for _, obj := range objs {
		rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		if rv > at {
			continue
		}
		key := manifest.KeyOf(obj)
		m, held := matches(obj), st.seen[key]
		switch {
		case m && !held:
			st.seen[key] = true
			if !send(string(state.Added), obj) {
				return false
			}
		case !m && held:
			st.seen[key] = false
			if !send(string(state.Deleted), obj) {
				return false
			}
		}
	}
	return true
}
