package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrNotFound is returned by Get for an object that does not exist.
var ErrNotFound = errors.New("not found")

// DefaultKinds are the kinds a Store caches from the start: what the node
// agent, the proxy and the DNS server read.
var DefaultKinds = []string{
	manifest.KindPod, manifest.KindNode, manifest.KindConfigMap, manifest.KindSecret,
	manifest.KindService, manifest.KindEndpoints,
}

// maxConflictRetries bounds Mutate's read-modify-write attempts.
const maxConflictRetries = 10

// Config configures a Store.
type Config struct {
	// Server is the agent listener, "https://10.99.0.1:7444". Required.
	Server string
	// TLS carries the node's client certificate and the cluster CA
	// (pki.ClientTLS). Required unless HTTP is set.
	TLS *tls.Config
	// HTTP replaces the client built from TLS (tests).
	HTTP *http.Client
	// Kinds are cached from the start (DefaultKinds when empty). Notify on
	// another kind starts caching it; List and Get of a kind whose cache is
	// not filled yet go to the server.
	Kinds []string
	// MinBackoff and MaxBackoff bound the wait before a watch reconnects
	// after an error; default 200 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Store is tug's state as seen by a remote node: a cache filled by list and
// watch over the agent API, and writes sent to the server. It satisfies the
// Store interfaces of nodeagent, proxy and dns.
type Store struct {
	cfg  Config
	base string
	http *http.Client
	log  *slog.Logger

	mu      sync.Mutex
	runCtx  context.Context
	kinds   map[string]*kindCache
	subs    map[*notifySub]bool
	started map[string]bool
	wg      sync.WaitGroup
}

type kindCache struct {
	synced bool
	objs   map[manifest.Key]manifest.Object
	ready  chan struct{} // closed at the first sync
}

type notifySub struct {
	kinds map[string]bool // nil: all
	ch    chan struct{}
}

// New returns a Store; Run fills its cache.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("remote: server %q: want https://HOST:PORT", cfg.Server)
	}
	if cfg.HTTP == nil && cfg.TLS == nil {
		return nil, errors.New("remote: a TLS configuration with the node's certificate is required")
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = DefaultKinds
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTP
	if hc == nil {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
		hc = &http.Client{Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			TLSClientConfig:     cfg.TLS,
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: 10 * time.Second,
			// A server that vanishes without closing the connection is
			// noticed within about 25 s.
			HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second},
		}}
	}
	s := &Store{
		cfg: cfg, base: strings.TrimRight(cfg.Server, "/"), http: hc,
		log:   cfg.Logger.With("component", "remote-store", "server", cfg.Server),
		kinds: map[string]*kindCache{}, subs: map[*notifySub]bool{}, started: map[string]bool{},
	}
	for _, k := range cfg.Kinds {
		if _, err := manifest.New(k); err != nil {
			return nil, fmt.Errorf("remote: cache kind %q: %w", k, err)
		}
		s.cacheFor(k)
	}
	return s, nil
}

// cacheFor returns kind's cache, creating it. Called with s.mu held or
// before Run.
func (s *Store) cacheFor(kind string) *kindCache {
	kc := s.kinds[kind]
	if kc == nil {
		kc = &kindCache{objs: map[manifest.Key]manifest.Object{}, ready: make(chan struct{})}
		s.kinds[kind] = kc
	}
	return kc
}

// Run keeps the cache in step with the server until ctx ends: for each
// kind it lists, then watches from the list's resource version; a broken
// watch resumes from the last version seen after a back-off, and one the
// server no longer holds (410 Gone) lists again.
func (s *Store) Run(ctx context.Context) error {
	s.mu.Lock()
	s.runCtx = ctx
	for kind := range s.kinds {
		s.startLocked(kind)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

func (s *Store) startLocked(kind string) {
	if s.runCtx == nil || s.started[kind] {
		return
	}
	s.started[kind] = true
	s.cacheFor(kind)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.follow(s.runCtx, kind)
	}()
}

// WaitSynced blocks until every kind in Config.Kinds has been listed once.
func (s *Store) WaitSynced(ctx context.Context) error {
	for _, k := range s.cfg.Kinds {
		s.mu.Lock()
		ready := s.cacheFor(k).ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return fmt.Errorf("remote: waiting for %s from %s: %w", manifest.Plural(k), s.base, ctx.Err())
		}
	}
	return nil
}

// errGone is a watch the server cannot resume.
var errGone = errors.New("resource version too old")

func (s *Store) follow(ctx context.Context, kind string) {
	wait := s.cfg.MinBackoff
	backoff := func() {
		d := wait/2 + rand.N(wait/2+1)
		wait = min(wait*2, s.cfg.MaxBackoff)
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	for ctx.Err() == nil {
		rv, err := s.relist(ctx, kind)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("list failed; retrying", "kind", kind, "err", err)
			}
			backoff()
			continue
		}
		wait = s.cfg.MinBackoff
		for ctx.Err() == nil {
			started := time.Now()
			got, err := s.watch(ctx, kind, &rv)
			healthy := err == nil && time.Since(started) > 5*time.Second // a quiet watch the server timed out
			if got || healthy {
				wait = s.cfg.MinBackoff
			}
			if errors.Is(err, errGone) {
				s.log.Info("watch expired; listing again", "kind", kind, "resourceVersion", rv)
				break
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("watch broke; resuming", "kind", kind, "resourceVersion", rv, "err", err)
			}
			if err != nil || !got && !healthy {
				backoff() // also for a watch that ends at once: never spin
			}
		}
	}
}

// relist replaces kind's cache with a fresh list and returns its version.
func (s *Store) relist(ctx context.Context, kind string) (uint64, error) {
	objs, rv, err := s.list(ctx, kind, "")
	if err != nil {
		return 0, err
	}
	m := make(map[manifest.Key]manifest.Object, len(objs))
	for _, o := range objs {
		m[manifest.KeyOf(o)] = o
	}
	s.mu.Lock()
	kc := s.cacheFor(kind)
	kc.objs = m
	if !kc.synced {
		kc.synced = true
		close(kc.ready)
	}
	s.notifyLocked(kind)
	s.mu.Unlock()
	return rv, nil
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watch follows kind from *rv until the stream ends, advancing *rv. got
// reports whether any event arrived.
func (s *Store) watch(ctx context.Context, kind string, rv *uint64) (got bool, err error) {
	p, err := api.ObjectPath(kind, "", "")
	if err != nil {
		return false, err
	}
	q := url.Values{"watch": {"1"}, "resourceVersion": {strconv.FormatUint(*rv, 10)},
		"timeoutSeconds": {strconv.Itoa(300 + rand.IntN(300))}}
	resp, err := s.do(ctx, http.MethodGet, p, q, nil)
	if err != nil {
		var se *api.StatusError
		if errors.As(err, &se) && se.Status.Code == http.StatusGone {
			return false, errGone
		}
		return false, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev rawEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return got, nil // the server ended the watch: resume
			}
			return got, err
		}
		got = true
		if ev.Type == "ERROR" {
			var st metav1.Status
			if json.Unmarshal(ev.Object, &st) == nil && st.Code == http.StatusGone {
				return got, errGone
			}
			return got, fmt.Errorf("watch %s: %s", manifest.Plural(kind), ev.Object)
		}
		obj, err := manifest.New(kind)
		if err != nil {
			return got, err
		}
		if err := json.Unmarshal(ev.Object, obj); err != nil {
			return got, fmt.Errorf("watch %s: decode event: %w", manifest.Plural(kind), err)
		}
		manifest.SetTypeMeta(obj)
		if v := objRV(obj); v > *rv {
			*rv = v
		}
		s.apply(kind, ev.Type, obj)
	}
}

func objRV(obj manifest.Object) uint64 {
	v, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	return v
}

// apply puts one change into the cache, unless the cache already holds a
// newer version (from this store's own write), and wakes Notify.
func (s *Store) apply(kind, typ string, obj manifest.Object) {
	key := manifest.KeyOf(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	kc := s.cacheFor(kind)
	cur, ok := kc.objs[key]
	if ok && objRV(cur) > objRV(obj) {
		return
	}
	if typ == "DELETED" {
		if !ok {
			return
		}
		delete(kc.objs, key)
	} else {
		if ok && objRV(cur) == objRV(obj) {
			return // this store's own write, already cached
		}
		kc.objs[key] = obj
	}
	s.notifyLocked(kind)
}

func (s *Store) notifyLocked(kind string) {
	for sub := range s.subs {
		if sub.kinds != nil && !sub.kinds[kind] {
			continue
		}
		select {
		case sub.ch <- struct{}{}:
		default:
		}
	}
}

// Notify returns a channel that receives a value after any change of one
// of kinds (all cached kinds when none) reaches the cache, and after every
// re-list; bursts coalesce. It closes when ctx ends.
func (s *Store) Notify(ctx context.Context, kinds ...string) <-chan struct{} {
	sub := &notifySub{ch: make(chan struct{}, 1)}
	s.mu.Lock()
	if len(kinds) > 0 {
		sub.kinds = map[string]bool{}
		for _, k := range kinds {
			sub.kinds[k] = true
			s.cacheFor(k)
			s.startLocked(k)
		}
	}
	s.subs[sub] = true
	s.mu.Unlock()
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				s.mu.Lock()
				delete(s.subs, sub)
				s.mu.Unlock()
				return
			case <-sub.ch:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// cached returns kind's cache when it has been filled.
func (s *Store) cached(kind string) (*kindCache, bool) {
	kc := s.kinds[kind]
	return kc, kc != nil && kc.synced
}

// List returns the objects of kind in namespace (all when empty), ordered
// by namespace and name, from the cache when it is filled.
func (s *Store) List(kind, namespace string) ([]manifest.Object, error) {
	s.mu.Lock()
	kc, ok := s.cached(kind)
	if !ok {
		s.mu.Unlock()
		objs, _, err := s.list(context.Background(), kind, namespace)
		return objs, err
	}
	out := make([]manifest.Object, 0, len(kc.objs))
	for k, o := range kc.objs {
		if namespace == "" || k.Namespace == namespace {
			out = append(out, manifest.DeepCopy(o))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetNamespace() != out[j].GetNamespace() {
			return out[i].GetNamespace() < out[j].GetNamespace()
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out, nil
}

// Get returns one object (from the cache when it is filled), or an error
// wrapping ErrNotFound.
func (s *Store) Get(key manifest.Key) (manifest.Object, error) {
	s.mu.Lock()
	kc, ok := s.cached(key.Kind)
	if ok {
		obj, found := kc.objs[key]
		s.mu.Unlock()
		if !found {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return manifest.DeepCopy(obj), nil
	}
	s.mu.Unlock()
	return s.fetch(context.Background(), key)
}

// fetch reads one object from the server.
func (s *Store) fetch(ctx context.Context, key manifest.Key) (manifest.Object, error) {
	p, err := api.ObjectPath(key.Kind, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	obj, err := manifest.New(key.Kind)
	if err != nil {
		return nil, err
	}
	if err := s.doJSON(ctx, http.MethodGet, p, nil, nil, obj); err != nil {
		if api.IsNotFound(err) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, err
	}
	manifest.SetTypeMeta(obj)
	return obj, nil
}

func (s *Store) list(ctx context.Context, kind, namespace string) ([]manifest.Object, uint64, error) {
	p, err := api.ObjectPath(kind, namespace, "")
	if err != nil {
		return nil, 0, err
	}
	var list struct {
		Metadata metav1.ListMeta   `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := s.doJSON(ctx, http.MethodGet, p, nil, nil, &list); err != nil {
		return nil, 0, err
	}
	out := make([]manifest.Object, 0, len(list.Items))
	for i, raw := range list.Items {
		obj, err := manifest.New(kind)
		if err != nil {
			return nil, 0, err
		}
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, 0, fmt.Errorf("decode %s item %d: %w", manifest.Plural(kind), i, err)
		}
		manifest.SetTypeMeta(obj)
		out = append(out, obj)
	}
	rv, _ := strconv.ParseUint(list.Metadata.ResourceVersion, 10, 64)
	return out, rv, nil
}

// Mutate reads the object with key (nil when missing), lets fn return the
// object to store (nil: leave it), and writes it with the read version as
// a precondition; on a conflict it reads again from the server and calls fn
// again. A new object is created (POST); an existing one replaced (PUT).
// Only the status of a Pod is written (its status subresource): the
// server keeps the rest.
func (s *Store) Mutate(key manifest.Key, fn func(cur manifest.Object) (manifest.Object, error)) error {
	ctx := context.Background()
	var cur manifest.Object
	var err error
	fresh := false
	for attempt := 0; ; attempt++ {
		if fresh {
			cur, err = s.fetch(ctx, key)
		} else {
			cur, err = s.Get(key)
		}
		if errors.Is(err, ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil || next == nil {
			return err
		}
		stored, err := s.write(ctx, key, cur, next)
		if err == nil {
			s.apply(key.Kind, "MODIFIED", stored)
			return nil
		}
		var se *api.StatusError
		retry := errors.As(err, &se) && (se.Status.Code == http.StatusConflict || se.Status.Code == http.StatusNotFound && cur != nil)
		if !retry || attempt+1 >= maxConflictRetries {
			return fmt.Errorf("write %s: %w", key, err)
		}
		fresh = true
	}
}

func (s *Store) write(ctx context.Context, key manifest.Key, cur, next manifest.Object) (manifest.Object, error) {
	next = manifest.DeepCopy(next)
	manifest.SetTypeMeta(next)
	method, name := http.MethodPut, key.Name
	if cur == nil {
		method, name = http.MethodPost, ""
		next.SetResourceVersion("")
	} else {
		next.SetResourceVersion(cur.GetResourceVersion())
	}
	p, err := api.ObjectPath(key.Kind, key.Namespace, name)
	if err != nil {
		return nil, err
	}
	if key.Kind == manifest.KindPod && cur != nil {
		p += "/status"
	}
	body, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	out, err := manifest.New(key.Kind)
	if err != nil {
		return nil, err
	}
	if err := s.doJSON(ctx, method, p, nil, body, out); err != nil {
		return nil, err
	}
	manifest.SetTypeMeta(out)
	return out, nil
}

// Delete removes the object with key if its UID is uid, as the server's
// store does: a missing object or another UID is not an error.
func (s *Store) Delete(key manifest.Key, uid types.UID) error {
	p, err := api.ObjectPath(key.Kind, key.Namespace, key.Name)
	if err != nil {
		return err
	}
	opts := metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	body, _ := json.Marshal(opts)
	err = s.doJSON(context.Background(), http.MethodDelete, p, nil, body, nil)
	var se *api.StatusError
	if errors.As(err, &se) && (se.Status.Code == http.StatusNotFound || se.Status.Code == http.StatusConflict) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	s.mu.Lock()
	if kc := s.kinds[key.Kind]; kc != nil {
		if cur, ok := kc.objs[key]; ok && (uid == "" || cur.GetUID() == uid) {
			delete(kc.objs, key)
			s.notifyLocked(key.Kind)
		}
	}
	s.mu.Unlock()
	return nil
}

// RecordEvent sends ev to the server, which aggregates it.
func (s *Store) RecordEvent(ev *corev1.Event) error {
	if ev == nil {
		return nil
	}
	p, err := api.ObjectPath(manifest.KindEvent, ev.Namespace, "")
	if err != nil {
		return err
	}
	c := ev.DeepCopy()
	manifest.SetTypeMeta(c)
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.doJSON(context.Background(), http.MethodPost, p, nil, body, nil); err != nil {
		return fmt.Errorf("record event %s/%s: %w", ev.Namespace, ev.Name, err)
	}
	return nil
}

// requestTimeout bounds every request but watches.
const requestTimeout = 30 * time.Second

func (s *Store) doJSON(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := s.do(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// do sends one request and returns a 2xx response; any other answer is an
// *api.StatusError.
func (s *Store) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := s.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(data, &st) != nil || st.Kind != "Status" {
		st = metav1.Status{Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status), Reason: metav1.StatusReasonUnknown}
	}
	st.Code = int32(resp.StatusCode)
	return nil, &api.StatusError{Status: st}
}
