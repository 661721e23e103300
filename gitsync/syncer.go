package gitsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/tug-dev/tug/manifest"
)

// Defaults for Config.
const (
	DefaultBranch       = "main"
	DefaultPollInterval = 60 * time.Second
	// DefaultFetchTimeout cuts off a fetch (a slow or hostile server).
	DefaultFetchTimeout = 2 * time.Minute
	// minRetry is the first back-off delay after a failure (or the poll
	// interval when that is shorter).
	minRetry = time.Second
)

// Triggers recorded in manifest.SyncRecord.Trigger: why a sync ran.
const (
	TriggerStart    = "start"    // the first sync after Run starts
	TriggerPoll     = "poll"     // the poll timer
	TriggerFSNotify = "fsnotify" // a RefWatcher saw the local repository's refs change
	TriggerWebhook  = "webhook"  // a signed webhook delivery (package gitsync/webhook)
)

// Config says which repository to follow and how.
type Config struct {
	Repo         string               // local path, file://, http(s)://, ssh:// or user@host:path
	Branch       string               // default "main" (unless Tag or Commit is set)
	Tag          string               // track this tag instead of a branch; re-resolved on every fetch
	Commit       string               // track this fixed commit (a full SHA) instead; fetched once, never changes
	Path         string               // subdirectory holding the manifests; default the root
	CacheDir     string               // where the bare clone lives (e.g. <data-dir>/git)
	PollInterval time.Duration        // default 60s; each wait varies by ±10%
	FetchTimeout time.Duration        // default 2m; a longer fetch is cut off and retried
	MaxPackSize  int64                // default DefaultMaxPackSize; a fetch bringing more is cut off
	Credentials  Credentials          // files with credentials for http(s) and ssh; see Credentials
	Auth         transport.AuthMethod // instead of Credentials: a ready auth method
	AllowEmpty   bool                 // apply commits that render zero objects (also per repository: RepoConfigFile)
	Logger       *slog.Logger         // default: discard
	Clock        func() time.Time     // default time.Now; stamps records and status
	// LastApplied is the commit in force when the Syncer starts (from the
	// sync history), so that a force-push after a restart is still
	// recorded as a history rewrite (SyncRecord.Rewrite).
	LastApplied string
}

// Sink receives results. Apply returns an error when it could not apply (the
// same SHA is then retried later, with back-off); Reject records a commit
// that did not validate (an error from Reject is retried too). Added, Changed
// and Removed in the record are the sink's to fill in.
type Sink interface {
	Apply(ctx context.Context, rev *manifest.Revision, rec manifest.SyncRecord) error
	Reject(ctx context.Context, rec manifest.SyncRecord) error
}

// Recorder is implemented by a Sink that keeps the sync history: Record
// stores a record that changes nothing else, a commit whose Outcome is
// manifest.OutcomeSuperseded (it was the head, but a newer head arrived
// before it was applied). A Sink without it gets no such records.
type Recorder interface {
	Record(ctx context.Context, rec manifest.SyncRecord) error
}

// Status is what a Syncer last saw.
type Status struct {
	Repo   string
	Branch string // the tracked branch; "" when a tag or a commit is tracked
	Tag    string // the tracked tag, if any
	Commit string // the tracked fixed commit, if any
	Path   string

	Fetched   string    // head SHA at the last successful fetch
	FetchedAt time.Time // time of the last successful fetch
	Applied   string    // last SHA the sink applied
	AppliedAt time.Time
	Rejected  string // the head SHA when it did not validate; "" once a later commit applies

	// Err says why the branch head is not in force: a fetch, read,
	// validation (wrapping a manifest.ErrorList) or apply error. It is nil
	// when the head is applied and the last fetch worked.
	Err      error
	ErrAt    time.Time // when Err first read as it does now
	Failures int       // consecutive failed attempts; drives the back-off
}

// Syncer follows one branch of one repository: it fetches, renders each new
// head commit into a Revision and hands it to a Sink.
type Syncer struct {
	cfg     Config
	sink    Sink
	log     *slog.Logger
	now     func() time.Time
	mirror  *mirror
	render  *Renderer // only touched by Run
	trigger chan string
	running atomic.Bool

	done    plumbing.Hash // last head applied or rejected; only touched by Run
	applied plumbing.Hash // last head applied (Config.LastApplied at start); only touched by Run
	// seen is the record of the head being processed, until it is applied
	// or rejected; a newer head then supersedes it. Only touched by Run.
	seen *manifest.SyncRecord
	// next and nextReason: the newer head that superseded the one process
	// was working on.
	next        plumbing.Hash
	nextReason  string
	afterRender func() // tests: runs between render and apply

	mu     sync.Mutex
	status Status
	// fetchErr and headErr make up status.Err: a fetch error, else the
	// error of the current head.
	fetchErr, headErr error
}

// New checks cfg, fills in defaults and returns a Syncer; nothing is fetched
// before Run.
func New(cfg Config, sink Sink) (*Syncer, error) {
	if sink == nil {
		return nil, errors.New("gitsync: sink is required")
	}
	remote, err := remoteURL(cfg.Repo)
	if err != nil {
		return nil, fmt.Errorf("gitsync: %w", err)
	}
	if cfg.Auth == nil {
		if cfg.Auth, err = authFor(remote, cfg.Credentials); err != nil {
			return nil, fmt.Errorf("gitsync: repository %s: %w", remote, err)
		}
	} else if !cfg.Credentials.empty() {
		return nil, errors.New("gitsync: give Credentials or Auth, not both")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("gitsync: cache directory is required")
	}
	switch {
	case cfg.Tag != "" && cfg.Commit != "":
		return nil, errors.New("gitsync: give a tag or a commit to track, not both")
	case cfg.Branch != "" && (cfg.Tag != "" || cfg.Commit != ""):
		return nil, errors.New("gitsync: give a branch, a tag or a commit to track, not several")
	case cfg.Tag != "":
		if err := plumbing.NewTagReferenceName(cfg.Tag).Validate(); err != nil {
			return nil, fmt.Errorf("gitsync: tag %q: %w", cfg.Tag, err)
		}
	case cfg.Commit != "":
		cfg.Commit = strings.ToLower(cfg.Commit)
		if len(cfg.Commit) != 40 || !plumbing.IsHash(cfg.Commit) {
			return nil, fmt.Errorf("gitsync: commit %q: want a full 40-character SHA", cfg.Commit)
		}
	default:
		if cfg.Branch == "" {
			cfg.Branch = DefaultBranch
		}
		if err := plumbing.NewBranchReferenceName(cfg.Branch).Validate(); err != nil {
			return nil, fmt.Errorf("gitsync: branch %q: %w", cfg.Branch, err)
		}
	}
	ref := trackedRef{Branch: cfg.Branch, Tag: cfg.Tag, Commit: cfg.Commit}
	if strings.Contains("/"+cfg.Path+"/", "/../") {
		return nil, fmt.Errorf("gitsync: path %q must stay inside the repository", cfg.Path)
	}
	cfg.Path = cleanDir(cfg.Path)
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger.With("repo", remote, "ref", ref.String())
	m := newMirror(cfg.CacheDir, remote, ref, cfg.Auth, log)
	if cfg.MaxPackSize > 0 {
		m.maxPack = cfg.MaxPackSize
	}
	var applied plumbing.Hash
	if cfg.LastApplied != "" {
		if !plumbing.IsHash(cfg.LastApplied) {
			return nil, fmt.Errorf("gitsync: last applied commit %q is not a SHA", cfg.LastApplied)
		}
		applied = plumbing.NewHash(cfg.LastApplied)
	}
	return &Syncer{
		applied: applied,
		cfg:     cfg,
		sink:    sink,
		log:     log,
		now:     cfg.Clock,
		mirror:  m,
		render:  NewRenderer(cfg.AllowEmpty),
		trigger: make(chan string, 1),
		status:  Status{Repo: remote, Branch: cfg.Branch, Tag: cfg.Tag, Commit: cfg.Commit, Path: cfg.Path},
	}, nil
}

// Trigger asks for a fetch now; reason (TriggerFSNotify, TriggerWebhook, ...)
// is recorded as the SyncRecord's Trigger. It never blocks; triggers that
// arrive while one is pending are merged into it (the first reason is kept).
func (s *Syncer) Trigger(reason string) {
	select {
	case s.trigger <- reason:
	default:
	}
}

// Status returns a copy of the current status.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run fetches now, then on every poll tick or Trigger, until ctx ends; it
// then returns nil. After a failure the next attempt comes sooner, after an
// exponential back-off from 1s (or the poll interval, if shorter) up to the
// poll interval. Run may be called once at a time.
//
// Only a new head is processed: a commit already applied or rejected is not
// handed to the sink again (a restarted process applies the head once more,
// which a sink must treat as a no-op). A fetch error never reaches the sink.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("gitsync: Run is already running")
	}
	defer s.running.Store(false)
	reason := TriggerStart
	for {
		ok := s.syncOnce(ctx, reason)
		if ctx.Err() != nil {
			return nil
		}
		failures := s.recordAttempt(ok)
		wait := jitter(s.cfg.PollInterval, rand.Float64())
		if !ok {
			wait = backoff(failures, min(minRetry, s.cfg.PollInterval), s.cfg.PollInterval)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
			reason = TriggerPoll
		case r := <-s.trigger:
			timer.Stop()
			reason = r
		}
	}
}

// maxSupersede bounds how many newer heads one sync follows before it
// applies what it has: a branch pushed to without pause still gets applied.
const maxSupersede = 3

// fetchHead fetches the branch and returns its head.
func (s *Syncer) fetchHead(ctx context.Context) (plumbing.Hash, bool) {
	fetchCtx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	head, err := s.mirror.fetch(fetchCtx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("git fetch failed", "err", err)
			s.update(func(st *Status) { s.fetchErr = err })
		}
		return head, false
	}
	s.update(func(st *Status) {
		s.fetchErr = nil
		st.Fetched, st.FetchedAt = head.String(), s.now()
	})
	return head, true
}

// pendingTrigger takes a trigger that arrived meanwhile, if any.
func (s *Syncer) pendingTrigger() (string, bool) {
	select {
	case r := <-s.trigger:
		return r, true
	default:
		return "", false
	}
}

// newRecord starts the record of an attempt to sync head.
func (s *Syncer) newRecord(head plumbing.Hash, trigger string, started time.Time) manifest.SyncRecord {
	rec := manifest.SyncRecord{SHA: head.String(), Trigger: trigger, Started: started}
	if c, err := object.GetCommit(s.mirror.storer(), head); err == nil {
		rec.Author = fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email)
		rec.Message = strings.TrimRight(c.Message, "\n")
		rec.Commit = c.Committer.When
	}
	if s.applied != (plumbing.Hash{}) && s.applied != head && !s.descends(head, s.applied) {
		rec.Rewrite, rec.Previous = true, s.applied.String()
	}
	return rec
}

// descends reports whether commit head has prev among its ancestors. A
// prev the mirror no longer holds counts as not an ancestor.
func (s *Syncer) descends(head, prev plumbing.Hash) bool {
	hc, err := object.GetCommit(s.mirror.storer(), head)
	if err != nil {
		return false
	}
	pc, err := object.GetCommit(s.mirror.storer(), prev)
	if err != nil {
		return false
	}
	ok, err := pc.IsAncestor(hc)
	return err == nil && ok
}

// supersede records rec (a head that was never applied) as Superseded by
// newer, when the sink keeps such records (Recorder).
func (s *Syncer) supersede(ctx context.Context, rec manifest.SyncRecord, newer plumbing.Hash) {
	rec.Outcome, rec.Finished = manifest.OutcomeSuperseded, s.now()
	rec.Errors = []string{"superseded by " + short(newer) + " before it was applied"}
	s.log.Info("commit superseded", "sha", rec.SHA[:12], "by", short(newer))
	if r, ok := s.sink.(Recorder); ok {
		if err := r.Record(ctx, rec); err != nil {
			s.log.Error("recording superseded commit failed", "sha", rec.SHA[:12], "err", err)
		}
	}
}

// syncOnce fetches and processes the head; it reports false when something
// failed that a later attempt may fix.
func (s *Syncer) syncOnce(ctx context.Context, trigger string) bool {
	started := s.now()
	head, ok := s.fetchHead(ctx)
	if !ok {
		return false
	}
	for follow := 0; ; follow++ {
		if head == s.done {
			return true
		}
		// A head seen before but never applied or rejected (its apply
		// failed, or a fetch failed since) is skipped for this newer one.
		if s.seen != nil && s.seen.SHA != head.String() {
			s.supersede(ctx, *s.seen, head)
		}
		rec := s.newRecord(head, trigger, started)
		s.seen = &rec
		ok, done := s.process(ctx, head, rec, func() (plumbing.Hash, string, bool) {
			// Before applying: did a newer commit arrive meanwhile?
			if follow >= maxSupersede {
				return head, "", false
			}
			reason, pending := s.pendingTrigger()
			if !pending {
				return head, "", false
			}
			newer, ok := s.fetchHead(ctx)
			if !ok || newer == head {
				return head, "", false
			}
			return newer, reason, true
		})
		if done {
			s.seen = nil
			return ok
		}
		if !ok {
			return false
		}
		// Superseded: process the newer head now.
		newer, reason := s.next, s.nextReason
		s.supersede(ctx, rec, newer)
		s.seen = nil
		head, trigger, started = newer, reason, s.now()
	}
}

// process renders head and hands it to the sink. Before applying it calls
// newer; when that returns a newer head, process stops, sets s.next and
// reports (true, false). Otherwise done is true and ok says whether the
// attempt worked.
func (s *Syncer) process(ctx context.Context, head plumbing.Hash, rec manifest.SyncRecord, newer func() (plumbing.Hash, string, bool)) (ok, done bool) {
	log := s.log.With("sha", short(head), "trigger", rec.Trigger)
	rev, err := s.render.Render(ctx, s.mirror.storer(), head, s.cfg.Path)
	if errs, invalid := manifest.AsErrorList(err); invalid {
		rec.Outcome, rec.Errors, rec.Finished = manifest.OutcomeRejected, errs.Strings(), s.now()
		if err := s.sink.Reject(ctx, rec); err != nil {
			log.Error("recording rejected commit failed", "err", err)
			s.update(func(st *Status) { s.headErr = fmt.Errorf("commit %s: record rejection: %w", short(head), err) })
			return false, false
		}
		log.Warn("commit rejected", "errors", len(errs), "first", errs[0].Error())
		s.done = head
		s.update(func(st *Status) {
			st.Rejected = head.String()
			s.headErr = fmt.Errorf("commit %s rejected: %w", short(head), errs)
		})
		return true, true
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Error("reading commit failed", "err", err)
			s.update(func(st *Status) { s.headErr = err })
		}
		return false, false
	}
	if s.afterRender != nil {
		s.afterRender()
	}
	if next, reason, ok := newer(); ok {
		s.next, s.nextReason = next, reason
		return true, false
	}

	rec.Outcome, rec.Objects, rec.Finished = manifest.OutcomeApplied, len(rev.Objects), s.now()
	if err := s.sink.Apply(ctx, rev, rec); errors.Is(err, manifest.ErrRevisionRejected) {
		// The sink recorded the commit as rejected: it stays out of force
		// until a new commit arrives.
		log.Warn("commit rejected by the cluster state", "err", err)
		s.done = head
		s.update(func(st *Status) {
			st.Rejected = head.String()
			s.headErr = err
		})
		return true, true
	} else if err != nil {
		if ctx.Err() == nil {
			log.Error("applying commit failed; will retry", "err", err)
			s.update(func(st *Status) { s.headErr = fmt.Errorf("commit %s: apply: %w", short(head), err) })
		}
		return false, false
	}
	if rec.Rewrite {
		log.Warn("branch history rewritten (force-push) applied", "previous", rec.Previous[:12], "objects", len(rev.Objects))
	} else {
		log.Info("commit applied", "objects", len(rev.Objects))
	}
	s.done, s.applied = head, head
	s.update(func(st *Status) {
		st.Applied, st.AppliedAt, st.Rejected = head.String(), s.now(), ""
		s.headErr = nil
	})
	return true, true
}

// update changes the status under the lock and recomputes Err.
func (s *Syncer) update(fn func(st *Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.status.Err
	fn(&s.status)
	s.status.Err = s.fetchErr
	if s.status.Err == nil {
		s.status.Err = s.headErr
	}
	// Compare messages: errors may hold uncomparable types (ErrorList).
	if s.status.Err != nil && (prev == nil || prev.Error() != s.status.Err.Error()) {
		s.status.ErrAt = s.now()
	}
}

// recordAttempt counts consecutive failures and returns the count.
func (s *Syncer) recordAttempt(ok bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.status.Failures = 0
	} else {
		s.status.Failures++
	}
	return s.status.Failures
}

// backoff is the wait after the n-th consecutive failure (n ≥ 1): lo, 2·lo,
// 4·lo, ... capped at hi.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// jitter spreads d by ±10%: r in [0,1) maps to [0.9·d, 1.1·d).
func jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*r))
}

func short(h plumbing.Hash) string { return h.String()[:12] }
