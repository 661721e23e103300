package reconciler

import (
	"context"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// Store is what the reconciler needs from the state store.
type Store interface {
	List(kind, namespace string) ([]manifest.Object, error)
	// Apply commits puts and deletes (and rec, when not nil) atomically.
	// Puts carrying a resource version fail unless it is still current.
	Apply(puts, deletes []manifest.Object, rec *manifest.SyncRecord) (uint64, error)
	Notify(ctx context.Context, kinds ...string) <-chan struct{}
	// LastApplied returns the newest Applied sync record, if any.
	LastApplied() (manifest.SyncRecord, bool, error)
	// RecordEvent stores ev, aggregating it with an earlier one of the same
	// name (count, lastTimestamp).
	RecordEvent(ev *corev1.Event) error
}
