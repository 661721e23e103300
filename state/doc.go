// Package state keeps tug's observed state in one bbolt file.
//
// Everything stored here is either derived from Git (the objects of the applied
// Revision and what the reconciler expands them into) or reported by node
// agents (node and pod status), so a lost file can be rebuilt from the
// repository and the agents' reports.
//
// Schema (version 1):
//
//	tug/                          root bucket, versioned
//	├── meta/
//	│   ├── schema   → uint64     schema version, big-endian
//	│   └── rv       → uint64     last resource version handed out
//	├── objects/
//	│   └── <Kind>/               one bucket per kind: Deployment, Pod, ...
//	│       └── <ns>/<name> → JSON of the typed k8s object
//	│                             (cluster-scoped kinds: "/<name>")
//	└── syncs/
//	    └── <seq uint64> → JSON of SyncRecord   one record per sync attempt
//
// Every write runs in one bbolt Update transaction (synced; NoSync is never
// set), stamps each written object with a new resource version, a UID and a
// creation time when missing, and then fans the resulting events out to
// watchers in commit order. A watcher that falls behind is closed and must
// list again, as a Kubernetes client re-lists after "resource version too old".
//
// Usage:
//
//	st, err := state.Open(path, state.Options{Logger: log})
//	rv, err := st.Update(func(tx *state.Tx) error {
//		return tx.Put(pod)
//	})
//	w := st.Watch(ctx, manifest.KindPod)
//	for ev := range w { ... }
package state
