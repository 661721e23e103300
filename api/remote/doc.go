// Package remote is tug's state as a remote node sees it: a Store that
// satisfies the Store interfaces of nodeagent, proxy and dns over the
// server's agent API (api.NewAgentHandler, mutual TLS with the node's
// certificate from pki).
//
// Reads come from an in-memory cache, so planners and probes never wait on
// the network: for each cached kind (DefaultKinds, and any kind passed to
// Notify) Run lists, then watches from the list's resource version
// (`?watch=1&resourceVersion=N`). A broken watch resumes from the last
// version seen after a jittered back-off (200 ms doubling to 10 s); one the
// server no longer holds (410 Gone) lists again. Notify wakes on every
// change that reaches the cache and after every re-list. While the server
// is unreachable the cache keeps its last state, so the node keeps running
// its pods, as a kubelet does.
//
// Writes go to the server:
//
//   - Mutate reads (the cache first, the server after a conflict), calls fn
//     and sends its result with the read resource version as a
//     precondition: POST for a new object, PUT to replace one. A 409 reads
//     again and retries (up to 10 times). For a Pod only the status is
//     written (the status subresource); the server keeps the rest.
//   - Delete sends the UID as a precondition; a missing object or another
//     UID is not an error, as with the state store.
//   - RecordEvent posts an event; the server aggregates it.
//
// The server decides what a node may write (api.Authorize); a refusal is an
// *api.StatusError with code 403.
package remote
