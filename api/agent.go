package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AgentStore is what the agent listener writes through (*state.Store
// satisfies it).
type AgentStore interface {
	Mutate(key manifest.Key, fn func(cur manifest.Object) (manifest.Object, error)) error
	Delete(key manifest.Key, uid types.UID) error
	RecordEvent(ev *corev1.Event) error
}

// Verbs of an API request, as Kubernetes authorizers name them.
const (
	VerbGet    = "get"
	VerbList   = "list"
	VerbWatch  = "watch"
	VerbCreate = "create"
	VerbUpdate = "update"
	VerbDelete = "delete"
)

// Request is what Authorize decides on.
type Request struct {
	Node        string // the node the client certificate names; "" for none
	Verb        string
	Kind        string
	Namespace   string
	Name        string
	Subresource string // "status" or ""
	// Stored is the object the request acts on as stored (nil when it does
	// not exist); for an Event, the pod the event is about.
	Stored manifest.Object
	// Object is the request's body (create, update), nil otherwise.
	Object manifest.Object
	// UID is a delete's UID precondition.
	UID types.UID
	// Related is, for a get of a Secret, ConfigMap, PersistentVolumeClaim
	// or PersistentVolume, whether a pod bound to Node references the
	// object (Kubernetes' node graph; see PodReferences).
	Related bool
}

// Authorize applies the agent listener's rules (Kubernetes' Node
// authorizer and NodeRestriction, reduced to what tug's agent does). A node
// may read everything except Secrets, ConfigMaps, PersistentVolumeClaims
// and PersistentVolumes no pod bound to it references (Related; lists and
// watches of those kinds are filtered the same way); it may create and update only its own Node (and
// its Lease kube-node-lease/<node>), update
// the status of and delete (with a UID precondition) only pods bound to it,
// and record events only about itself or its pods. Everything else is
// refused. It returns nil or the reason for a refusal. It is pure.
func Authorize(r Request) error {
	if r.Node == "" {
		return fmt.Errorf("the client certificate does not name a node (want CN=%sNAME, O=%s)", pki.NodeUserPrefix, pki.NodesGroup)
	}
	switch r.Verb {
	case VerbGet:
		if graphKinds[r.Kind] && !r.Related {
			return fmt.Errorf("no relationship found between node %q and this object", r.Node)
		}
		return nil
	case VerbList, VerbWatch:
		return nil // lists and watches of graph kinds are filtered to what the node's pods reference
	}
	switch r.Kind {
	case manifest.KindNode:
		if r.Verb != VerbCreate && r.Verb != VerbUpdate {
			return fmt.Errorf("node %q may only create and update its own Node", r.Node)
		}
		if r.Name != r.Node || (r.Object != nil && r.Object.GetName() != r.Node) {
			return fmt.Errorf("node %q may only create and update its own Node, not %q", r.Node, r.Name)
		}
		return nil
	case manifest.KindPod:
		pod, _ := r.Stored.(*corev1.Pod)
		switch {
		case r.Verb == VerbUpdate && r.Subresource == "status":
			if pod == nil || pod.Spec.NodeName != r.Node {
				return fmt.Errorf("node %q may only update the status of pods bound to it", r.Node)
			}
			return nil
		case r.Verb == VerbDelete && r.Subresource == "":
			if pod == nil || pod.Spec.NodeName != r.Node {
				return fmt.Errorf("node %q may only delete pods bound to it", r.Node)
			}
			if r.UID == "" {
				return fmt.Errorf("node %q may delete a pod only with a UID precondition", r.Node)
			}
			return nil
		}
		return fmt.Errorf("node %q may only update the status of and delete pods bound to it", r.Node)
	case manifest.KindEvent:
		ev, _ := r.Object.(*corev1.Event)
		if r.Verb != VerbCreate || ev == nil {
			return fmt.Errorf("node %q may only create events", r.Node)
		}
		about := ev.InvolvedObject
		switch {
		case about.Kind == manifest.KindNode && about.Name == r.Node:
			return nil
		case about.Kind == manifest.KindPod:
			if pod, _ := r.Stored.(*corev1.Pod); pod != nil && pod.Spec.NodeName == r.Node &&
				pod.Namespace == about.Namespace && pod.Name == about.Name {
				return nil
			}
		}
		return fmt.Errorf("node %q may only record events about itself and pods bound to it", r.Node)
	case manifest.KindLease: // its heartbeat, as the kubelet's in kube-node-lease
		own := r.Namespace == corev1.NamespaceNodeLease && r.Name == r.Node && (r.Object == nil || r.Object.GetName() == r.Node &&
			(r.Object.GetNamespace() == "" || r.Object.GetNamespace() == corev1.NamespaceNodeLease))
		if (r.Verb != VerbCreate && r.Verb != VerbUpdate) || !own {
			return fmt.Errorf("node %q may only create and update its own Lease %s/%s", r.Node, corev1.NamespaceNodeLease, r.Node)
		}
		return nil
	}
	return fmt.Errorf("node %q may not %s %s", r.Node, r.Verb, qualifiedResource(r.Kind))
}

// NewAgentHandler returns the agent listener's API, to be served over TLS
// with verified client certificates (pki.ServerTLS): the reads of
// NewHandler (Secrets unredacted: nodes need their values; Secrets,
// ConfigMaps, claims and volumes only as the node graph allows) and watches,
// plus the writes a node agent makes, each checked by Authorize:
//
//	POST   /api/v1/nodes                               create its Node
//	PUT    /api/v1/nodes/{name}[/status]               update its Node (taints, cordon, an allocated podCIDR stay)
//	PUT    /api/v1/namespaces/{ns}/pods/{name}/status  a bound pod's status
//	DELETE /api/v1/namespaces/{ns}/pods/{name}         a bound pod, DeleteOptions.preconditions.uid required
//	POST   /api/v1/namespaces/{ns}/events              an event (aggregated as state.RecordEvent does)
//	POST   /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases[/{name}: PUT]  its Lease
//
// Updates carrying metadata.resourceVersion are optimistic: a stale one is
// answered with 409 Conflict. Any other write is 403 Forbidden.
func NewAgentHandler(cfg Config, writes AgentStore) http.Handler {
	if cfg.Store == nil || cfg.IsNotFound == nil || writes == nil {
		panic("api.NewAgentHandler: Config.Store, Config.IsNotFound and writes are required")
	}
	s := newServer(cfg)
	s.agent = true
	reads := s.readRoutes()
	a := &agentServer{server: s, writes: writes}
	wmux := http.NewServeMux()
	wmux.HandleFunc("POST /api/v1/nodes", a.createNode)
	wmux.HandleFunc("PUT /api/v1/nodes/{name}", func(w http.ResponseWriter, r *http.Request) { a.updateNode(w, r, "") })
	wmux.HandleFunc("PUT /api/v1/nodes/{name}/status", func(w http.ResponseWriter, r *http.Request) { a.updateNode(w, r, "status") })
	wmux.HandleFunc("PUT /api/v1/namespaces/{namespace}/pods/{name}/status", a.updatePodStatus)
	wmux.HandleFunc("DELETE /api/v1/namespaces/{namespace}/pods/{name}", a.deletePod)
	wmux.HandleFunc("POST /api/v1/namespaces/{namespace}/events", a.createEvent)
	wmux.HandleFunc("POST /apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", a.writeLease)       // agentlease.go
	wmux.HandleFunc("PUT /apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", a.writeLease) // its heartbeat
	wmux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.forbid(w, r, fmt.Errorf("node %q may not %s %s", nodeOf(r), r.Method, r.URL.Path))
	})
	return s.accessLog(s.recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		node := nodeOf(r)
		if node == "" {
			a.forbid(w, r, Authorize(Request{}))
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			reads.ServeHTTP(w, r)
			return
		}
		wmux.ServeHTTP(w, r)
	})))
}

type agentServer struct {
	*server
	writes AgentStore
}

// nodeOf is the node named by the request's verified client certificate.
func nodeOf(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	name, _ := pki.NodeName(r.TLS.VerifiedChains[0][0])
	return name
}

func (a *agentServer) forbid(w http.ResponseWriter, r *http.Request, reason error) {
	user := "system:anonymous"
	if n := nodeOf(r); n != "" {
		user = pki.NodeUserPrefix + n
	}
	a.log.Info("agent API request refused", "user", user, "method", r.Method, "path", r.URL.Path, "reason", reason)
	a.writeStatus(w, newStatus(http.StatusForbidden, metav1.StatusReasonForbidden,
		fmt.Sprintf("%s %s is forbidden for user %q: %v", r.Method, r.URL.Path, user, reason)))
}

// maxBody bounds a write's body.
const maxBody = 4 << 20

func (a *agentServer) decode(w http.ResponseWriter, r *http.Request, into any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(data) > maxBody {
		err = errors.New("body larger than 4 MiB")
	}
	if err == nil {
		err = json.Unmarshal(data, into)
	}
	if err != nil {
		a.writeStatus(w, badRequest(fmt.Sprintf("decode %s %s: %v", r.Method, r.URL.Path, err)))
		return false
	}
	return true
}

// writeErr is an answer decided inside a store transaction.
type writeErr struct{ st metav1.Status }

func (e *writeErr) Error() string { return e.st.Message }

func conflict(kind, name, msg string) *writeErr {
	st := newStatus(http.StatusConflict, metav1.StatusReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", qualifiedResource(kind), name, msg))
	st.Details = &metav1.StatusDetails{Name: name, Kind: manifest.Plural(kind)}
	return &writeErr{st}
}

func (a *agentServer) fail(w http.ResponseWriter, r *http.Request, err error) {
	var we *writeErr
	var fe forbiddenErr
	switch {
	case errors.As(err, &we):
		a.writeStatus(w, we.st)
	case errors.As(err, &fe):
		a.forbid(w, r, fe.err)
	default:
		a.writeStatus(w, internalError(fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)))
	}
}

type forbiddenErr struct{ err error }

func (e forbiddenErr) Error() string { return e.err.Error() }

func (a *agentServer) createNode(w http.ResponseWriter, r *http.Request) {
	node := &corev1.Node{}
	if !a.decode(w, r, node) {
		return
	}
	req := Request{Node: nodeOf(r), Verb: VerbCreate, Kind: manifest.KindNode, Name: node.Name, Object: node}
	if err := Authorize(req); err != nil {
		a.forbid(w, r, err)
		return
	}
	node.ResourceVersion, node.UID = "", ""
	node.DeletionTimestamp = nil
	node.Spec.Unschedulable = false // the control plane cordons, from Git
	key := manifest.KeyOf(node)
	err := a.writes.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		if cur != nil {
			st := newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists,
				fmt.Sprintf("%s %q already exists", qualifiedResource(manifest.KindNode), node.Name))
			return nil, &writeErr{st}
		}
		return node, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	manifest.SetTypeMeta(node)
	a.writeJSON(w, http.StatusCreated, node)
}

func (a *agentServer) updateNode(w http.ResponseWriter, r *http.Request, sub string) {
	node := &corev1.Node{}
	if !a.decode(w, r, node) {
		return
	}
	name := r.PathValue("name")
	req := Request{Node: nodeOf(r), Verb: VerbUpdate, Kind: manifest.KindNode, Name: name, Subresource: sub, Object: node}
	if err := Authorize(req); err != nil {
		a.forbid(w, r, err)
		return
	}
	var out manifest.Object
	err := a.writes.Mutate(manifest.Key{Kind: manifest.KindNode, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
		if cur == nil {
			return nil, &writeErr{notFound(manifest.KindNode, name)}
		}
		if err := precondition(cur, node.ResourceVersion); err != nil {
			return nil, err
		}
		var next *corev1.Node
		if sub == "status" {
			next = cur.(*corev1.Node).DeepCopy()
			next.Status = node.Status
		} else {
			next = restrictNodeUpdate(cur.(*corev1.Node), node)
		}
		next.ResourceVersion = ""
		out = next
		return next, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	manifest.SetTypeMeta(out)
	a.writeJSON(w, http.StatusOK, out)
}

// restrictNodeUpdate is the Node a node's update stores (NodeRestriction):
// what it sent, except that the taints and cordon stay as the control plane
// set them (a node must not escape a NoExecute taint or uncordon itself),
// and an allocated pod CIDR never changes.
func restrictNodeUpdate(cur, sent *corev1.Node) *corev1.Node {
	next := sent.DeepCopy()
	next.UID, next.CreationTimestamp = cur.UID, cur.CreationTimestamp
	next.DeletionTimestamp = cur.DeletionTimestamp
	next.Spec.Taints = cur.Spec.Taints
	next.Spec.Unschedulable = cur.Spec.Unschedulable
	if cur.Spec.PodCIDR != "" {
		next.Spec.PodCIDR, next.Spec.PodCIDRs = cur.Spec.PodCIDR, cur.Spec.PodCIDRs
	}
	return next
}

// precondition checks an update's resource version against the stored one
// (none given: the update is unconditional).
func precondition(cur manifest.Object, rv string) error {
	if rv != "" && rv != cur.GetResourceVersion() {
		return conflict(manifest.KindOf(cur), cur.GetName(),
			"the object has been modified; please apply your changes to the latest version and try again")
	}
	return nil
}

func (a *agentServer) updatePodStatus(w http.ResponseWriter, r *http.Request) {
	pod := &corev1.Pod{}
	if !a.decode(w, r, pod) {
		return
	}
	key := manifest.Key{Kind: manifest.KindPod, Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	node := nodeOf(r)
	var out *corev1.Pod
	err := a.writes.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		if cur == nil {
			return nil, &writeErr{notFound(key.Kind, key.Name)}
		}
		req := Request{Node: node, Verb: VerbUpdate, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name,
			Subresource: "status", Stored: cur, Object: pod}
		if err := Authorize(req); err != nil {
			return nil, forbiddenErr{err}
		}
		if pod.UID != "" && pod.UID != cur.GetUID() {
			return nil, conflict(key.Kind, key.Name, fmt.Sprintf("the UID in the object (%s) does not match the stored one (%s)", pod.UID, cur.GetUID()))
		}
		if err := precondition(cur, pod.ResourceVersion); err != nil {
			return nil, err
		}
		out = cur.(*corev1.Pod).DeepCopy()
		out.Status = pod.Status
		out.ResourceVersion = ""
		return out, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	manifest.SetTypeMeta(out)
	a.writeJSON(w, http.StatusOK, out)
}

func (a *agentServer) deletePod(w http.ResponseWriter, r *http.Request) {
	var opts metav1.DeleteOptions
	if r.ContentLength != 0 && !a.decode(w, r, &opts) {
		return
	}
	key := manifest.Key{Kind: manifest.KindPod, Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	var uid types.UID
	if opts.Preconditions != nil && opts.Preconditions.UID != nil {
		uid = *opts.Preconditions.UID
	}
	cur, err := a.cfg.Store.Get(key)
	if err != nil {
		if a.cfg.IsNotFound(err) {
			a.writeStatus(w, notFound(key.Kind, key.Name))
			return
		}
		a.fail(w, r, err)
		return
	}
	req := Request{Node: nodeOf(r), Verb: VerbDelete, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name, Stored: cur, UID: uid}
	if err := Authorize(req); err != nil {
		a.forbid(w, r, err)
		return
	}
	if cur.GetUID() != uid {
		a.writeStatus(w, conflict(key.Kind, key.Name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, cur.GetUID())).st)
		return
	}
	// The store deletes only while the UID matches: a pod created again
	// under the name meanwhile is not this node's to delete.
	if err := a.writes.Delete(key, uid); err != nil {
		a.fail(w, r, err)
		return
	}
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: key.Name, Kind: manifest.Plural(key.Kind), UID: uid}}
	a.writeJSON(w, http.StatusOK, st)
}

func (a *agentServer) createEvent(w http.ResponseWriter, r *http.Request) {
	ev := &corev1.Event{}
	if !a.decode(w, r, ev) {
		return
	}
	ns := r.PathValue("namespace")
	if ev.Namespace == "" {
		ev.Namespace = ns
	}
	if ev.Namespace != ns || ev.Name == "" {
		a.writeStatus(w, badRequest(fmt.Sprintf("event %q: want a name and namespace %q (the path's)", ev.Name, ns)))
		return
	}
	req := Request{Node: nodeOf(r), Verb: VerbCreate, Kind: manifest.KindEvent, Namespace: ns, Name: ev.Name, Object: ev}
	if about := ev.InvolvedObject; about.Kind == manifest.KindPod {
		if pod, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindPod, Namespace: about.Namespace, Name: about.Name}); err == nil {
			req.Stored = pod
		}
	}
	if err := Authorize(req); err != nil {
		a.forbid(w, r, err)
		return
	}
	// Events aggregate by name: a node must not add to an event about
	// another object.
	if old, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindEvent, Namespace: ns, Name: ev.Name}); err == nil {
		o, n := old.(*corev1.Event).InvolvedObject, ev.InvolvedObject
		if o.Kind != n.Kind || o.Namespace != n.Namespace || o.Name != n.Name {
			a.writeStatus(w, conflict(manifest.KindEvent, ev.Name, "the stored event is about another object").st)
			return
		}
	}
	if err := a.writes.RecordEvent(ev); err != nil {
		a.fail(w, r, err)
		return
	}
	manifest.SetTypeMeta(ev)
	a.writeJSON(w, http.StatusCreated, ev)
}
