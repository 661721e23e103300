package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tug-dev/tug/health"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// SyncStatus is the live state of the Git fetcher, which the store does not
// keep: a fetch that fails produces no sync record.
type SyncStatus struct {
	// LastFetch is when the last fetch attempt finished.
	LastFetch time.Time `json:"lastFetch,omitzero"`
	// LastFetchedSHA is the branch head the last successful fetch saw.
	LastFetchedSHA string `json:"lastFetchedSHA,omitempty"`
	// LastSuccess is when a fetch last succeeded.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastFetchError is the error of the last fetch; empty when it worked.
	LastFetchError string `json:"lastFetchError,omitempty"`
}

// WebhookStats counts webhook requests by outcome since tugd started
// (gitsync/webhook Stats).
type WebhookStats struct {
	Triggered    uint64 `json:"triggered"`    // valid pushes to the tracked ref
	Unauthorized uint64 `json:"unauthorized"` // 401: missing or bad signature or token
	TooLarge     uint64 `json:"tooLarge"`     // 413
	Duplicates   uint64 `json:"duplicates"`   // repeated delivery IDs
	Ignored      uint64 `json:"ignored"`      // pings, other events, other refs
	BadRequests  uint64 `json:"badRequests"`  // 400/405/408
	Panics       uint64 `json:"panics"`       // recovered panics (500)
}

// Status is the answer of /tug/v1/status.
type Status struct {
	Repo string `json:"repo,omitempty"`
	// Branch, Tag or Commit: the one ref tugd tracks.
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Applied is the commit in force: the newest Applied sync record.
	Applied *manifest.SyncRecord `json:"applied,omitempty"`
	// Rejected is the newest Rejected sync record newer than Applied: a
	// commit that did not validate and is not in force.
	Rejected *manifest.SyncRecord `json:"rejected,omitempty"`
	// Sync is the fetcher's live state (absent when the server has none).
	Sync *SyncStatus `json:"sync,omitempty"`
	// Webhooks counts webhook requests; absent when no webhook is enabled.
	Webhooks *WebhookStats `json:"webhooks,omitempty"`
	// Objects counts stored objects per kind (every kind, zeros included).
	Objects map[string]int `json:"objects"`
	// Pods counts pods per phase ("Pending" for pods without one yet).
	Pods            map[string]int `json:"pods"`
	ResourceVersion uint64         `json:"resourceVersion"`
	// Health rolls up the health of every object committed to Git.
	Health *Health `json:"health,omitempty"`
}

// Health is the health of the Git objects (see package health).
type Health struct {
	// Status is the worst object's status: Healthy, Suspended,
	// Progressing, Missing or Degraded.
	Status health.Status `json:"status"`
	// Counts counts objects per status.
	Counts map[health.Status]int `json:"counts"`
	// Unhealthy lists every object that is not Healthy, worst first, with
	// its reason.
	Unhealthy []health.Result `json:"unhealthy,omitempty"`
	// Objects lists every Git object's health, sorted by kind, namespace
	// and name; only with ?objects=true (Client.StatusObjects).
	Objects []health.Result `json:"objects,omitempty"`
}

// StatusObjects is Status with the health of every Git object
// (Status.Health.Objects) included.
func (c *Client) StatusObjects(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.getJSON(ctx, "/tug/v1/status", url.Values{"objects": {"true"}}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// SyncList is the answer of /tug/v1/syncs.
type SyncList struct {
	Items []manifest.SyncRecord `json:"items"`
}

// rejectedAfter returns the newest Rejected record among recs (newest
// first) that is newer than the applied record, or nil. With no applied
// record every rejection counts.
func rejectedAfter(recs []manifest.SyncRecord, applied *manifest.SyncRecord) *manifest.SyncRecord {
	for i := range recs {
		if applied != nil && recs[i].Seq <= applied.Seq {
			return nil
		}
		if recs[i].Outcome == manifest.OutcomeRejected {
			r := recs[i]
			return &r
		}
	}
	return nil
}

// podPhases counts pods per phase.
func podPhases(pods []manifest.Object) map[string]int {
	out := map[string]int{}
	for _, obj := range pods {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		phase := string(pod.Status.Phase)
		if phase == "" {
			phase = string(corev1.PodPending)
		}
		out[phase]++
	}
	return out
}

func (s *server) buildStatus() (*Status, error) {
	st := &Status{Repo: s.repo, Branch: s.cfg.Branch, Tag: s.cfg.Tag, Commit: s.cfg.Commit, Objects: map[string]int{}}
	rv, err := s.cfg.Store.ResourceVersion()
	if err != nil {
		return nil, fmt.Errorf("read resource version: %w", err)
	}
	st.ResourceVersion = rv
	applied, ok, err := s.cfg.Store.LastApplied()
	if err != nil {
		return nil, fmt.Errorf("read last applied sync: %w", err)
	}
	if ok {
		st.Applied = &applied
	}
	recs, err := s.cfg.Store.Syncs(0)
	if err != nil {
		return nil, fmt.Errorf("read sync history: %w", err)
	}
	st.Rejected = rejectedAfter(recs, st.Applied)
	if s.cfg.SyncStatus != nil {
		ss := s.cfg.SyncStatus()
		st.Sync = &ss
	}
	if s.cfg.Webhooks != nil {
		ws := s.cfg.Webhooks()
		st.Webhooks = &ws
	}
	var all []manifest.Object
	for _, kind := range manifest.Kinds() {
		objs, err := s.cfg.Store.List(kind, "")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", manifest.Plural(kind), err)
		}
		if kind != manifest.KindEvent {
			all = append(all, objs...)
		}
		st.Objects[kind] = len(objs)
		if kind == manifest.KindPod {
			st.Pods = podPhases(objs)
		}
	}
	sum := health.Evaluate(all, nil)
	st.Health = &Health{Status: sum.Status, Counts: sum.Counts, Unhealthy: sum.Unhealthy(), Objects: sum.Objects}
	return st, nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.buildStatus()
	if err != nil {
		s.writeStatus(w, internalError(err))
		return
	}
	if v, _ := strconv.ParseBool(r.URL.Query().Get("objects")); !v {
		st.Health.Objects = nil
	}
	s.writeJSON(w, http.StatusOK, st)
}

func (s *server) syncs(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeStatus(w, badRequest(fmt.Sprintf("invalid limit %q: want a whole number ≥ 0", v)))
			return
		}
		limit = n
	}
	recs, err := s.cfg.Store.Syncs(limit)
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("read sync history: %w", err)))
		return
	}
	if recs == nil {
		recs = []manifest.SyncRecord{}
	}
	s.writeJSON(w, http.StatusOK, SyncList{Items: recs})
}
