package api

import (
	"fmt"
	"net/http"

	"github.com/tug-dev/tug/manifest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeLease creates (POST) or renews (PUT) the node's own Lease in
// kube-node-lease, its heartbeat (see Authorize):
//
//	POST /apis/coordination.k8s.io/v1/namespaces/{ns}/leases
//	PUT  /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}
//
// A PUT carrying metadata.resourceVersion is optimistic (409 Conflict when
// stale).
func (a *agentServer) writeLease(w http.ResponseWriter, r *http.Request) {
	lease := &coordinationv1.Lease{}
	if !a.decode(w, r, lease) {
		return
	}
	ns, name, verb := r.PathValue("namespace"), r.PathValue("name"), VerbUpdate
	if r.Method == http.MethodPost {
		name, verb = lease.Name, VerbCreate
	}
	req := Request{Node: nodeOf(r), Verb: verb, Kind: manifest.KindLease, Namespace: ns, Name: name, Object: lease}
	if err := Authorize(req); err != nil {
		a.forbid(w, r, err)
		return
	}
	lease.Namespace = ns
	var out *coordinationv1.Lease
	err := a.writes.Mutate(manifest.Key{Kind: manifest.KindLease, Namespace: ns, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
		next := lease.DeepCopy()
		switch {
		case verb == VerbCreate && cur != nil:
			return nil, &writeErr{newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists,
				fmt.Sprintf("%s %q already exists", qualifiedResource(manifest.KindLease), name))}
		case verb == VerbUpdate && cur == nil:
			return nil, &writeErr{notFound(manifest.KindLease, name)}
		case cur != nil:
			if err := precondition(cur, lease.ResourceVersion); err != nil {
				return nil, err
			}
			next.UID, next.CreationTimestamp = cur.GetUID(), cur.GetCreationTimestamp()
		default:
			next.UID = ""
		}
		next.ResourceVersion, next.DeletionTimestamp = "", nil
		out = next
		return next, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	manifest.SetTypeMeta(out)
	code := http.StatusOK
	if verb == VerbCreate {
		code = http.StatusCreated
	}
	a.writeJSON(w, code, out)
}
