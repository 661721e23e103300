// Package api serves tug's state over HTTP, read-only, in the shape of the
// Kubernetes API, and provides the client the tug CLI uses.
//
// The server (NewHandler) reads through two small interfaces it declares:
// Store (objects, sync history, resource version; *state.Store satisfies
// it) and Logs (container logs, from the node agent). It serves:
//
//	GET /api/v1/{resource}[/{name}]                       nodes, namespaces; all-namespace lists of the rest
//	GET /api/v1/namespaces/{ns}/{resource}[/{name}]       pods, services, configmaps, secrets
//	GET /apis/apps/v1[/namespaces/{ns}]/{resource}[/{name}] deployments, replicasets
//	GET /api/v1/namespaces/{ns}/pods/{name}/log           ?container=&follow=&previous=&tailLines=&timestamps=
//	GET /tug/v1/status                                    Status: applied and rejected commits, live fetch state, counts
//	GET /tug/v1/syncs?limit=N                             SyncList, newest first
//	GET /healthz, /version, /api, /apis, /api/v1, /apis/apps/v1   health and discovery
//
// Lists are Kubernetes XxxList documents whose metadata.resourceVersion is
// read before the list, so a watch started from it misses nothing. Lists take
// labelSelector and a small fieldSelector (metadata.name, metadata.namespace;
// spec.nodeName and status.phase for pods). Errors are Kubernetes Status
// documents (404 NotFound reads `pods "x" not found`, like kubectl). Log
// requests name the container or go to the pod's only one; otherwise they
// get the API server's 400 ("a container name must be specified for pod x,
// choose one of: [a b]"). A Logs error becomes 404 when Config.IsNotFound
// holds for it and 400 with its message otherwise (as Kubernetes answers
// "container is waiting to start"). A client
// that asks for a meta.k8s.io/v1 Table (kubectl's server-side printing) gets
// one when Config.Table is set.
//
// Invariants:
//   - Secret values never leave the read-only listener: every value in
//     data and stringData is emptied and the annotation
//     tug.dev/redacted=true is set, in lists, gets, watches and tables
//     alike. Only authenticated nodes on the agent listener read them.
//   - On the read-only listener (NewHandler) every method other than GET
//     and HEAD is refused with 405 and a Status saying that tug is
//     read-only and naming the repository and branch to commit to; it
//     never writes to the Store. Only the agent listener writes, and only
//     what Authorize allows.
//   - A panicking handler answers 500 and is logged; every request is logged
//     at Debug level.
//
// Watches: with Config.Watch (a WatchCache fed by the store) every list
// path takes `?watch=1&resourceVersion=N` and streams newline-delimited
// Kubernetes watch events (ADDED, MODIFIED, DELETED) after N, with the
// list's selectors; without a resourceVersion (or with 0) the current
// objects come first as ADDED. The cache keeps the last
// DefaultWatchHistory changes; a watch from an older version is answered
// 410 Gone (reason Expired) and the client lists again. An object that
// stops matching a watch's selectors is sent as DELETED and one that starts
// matching as ADDED, as Kubernetes does (a resumed watch may send one
// DELETED too many for a replayed change, never one too few). `kubectl get
// -w` works against the read-only listener.
//
// The agent listener (NewAgentHandler) serves remote node agents over TLS
// with client certificates required (package pki): the same reads and
// watches (Secrets unredacted, as nodes need their values) and the writes
// a node agent makes, each checked by Authorize (Kubernetes' Node
// authorizer and NodeRestriction in small): a node creates and updates
// only its own Node, updates the status of and deletes (with a UID
// precondition) only pods bound to it, and records events only about
// itself and its pods. Everything else is 403. Secrets, ConfigMaps,
// PersistentVolumeClaims and PersistentVolumes are read through the node
// graph (agent_graph.go): only those a pod bound to the node references
// (PodReferences); a get of another is 403, lists are filtered, and watches
// send ADDED and DELETED as the node's pods come and go. Package remote is
// its client.
//
// Logs of pods on other nodes (Config.NodeName names the server's own):
// the server asks the pod's node through Config.NodeLogs (NodeLogClient:
// GET https://INTERNAL-IP:PORT/containerLogs/NS/POD/CONTAINER with the same
// query, PORT from the Node's status.daemonEndpoints.kubeletEndpoint.port,
// the node's certificate checked under its name); each node serves that
// path with NewNodeLogHandler, to the server's client certificate only.
//
// The client (Client) speaks the same paths and returns typed objects.
package api
