package manifest

import "time"

// Revision is the desired state at one commit: every object decoded and
// validated from the repository's tree at SHA. A Revision is immutable once
// built; consumers copy objects before changing them.
type Revision struct {
	SHA     string
	Author  string
	Message string
	Time    time.Time // commit time
	Objects []Object
}

// Sync outcomes.
const (
	OutcomeApplied  = "Applied"
	OutcomeRejected = "Rejected"
	// OutcomeSuperseded: the commit was the branch head, but a newer head
	// arrived before it was applied; it never took effect.
	OutcomeSuperseded = "Superseded"
)

// SyncRecord is one attempt to apply a commit, kept in the sync history.
type SyncRecord struct {
	Seq      uint64    `json:"seq"`
	SHA      string    `json:"sha"`
	Author   string    `json:"author,omitempty"`
	Message  string    `json:"message,omitempty"`
	Commit   time.Time `json:"commitTime,omitzero"`
	Trigger  string    `json:"trigger,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Outcome  string    `json:"outcome"`
	Errors   []string  `json:"errors,omitempty"`
	Objects  int       `json:"objects"`
	Added    int       `json:"added"`
	Changed  int       `json:"changed"`
	Removed  int       `json:"removed"`

	// Rewrite is set when the branch was force-pushed: SHA does not
	// descend from Previous, the last commit applied before it.
	Rewrite  bool   `json:"rewrite,omitempty"`
	Previous string `json:"previous,omitempty"`
}
