package api

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// kindFor maps a resource in a URL ("pods" under the core group,
// "deployments" under apps) to its kind. Only the plural is accepted in
// paths, as in Kubernetes.
func kindFor(resource, group string) (string, bool) {
	kind, ok := manifest.KindForResource(resource)
	if !ok || manifest.Plural(kind) != resource {
		return "", false
	}
	gvk, _ := manifest.GVK(kind)
	return kind, gvk.Group == group
}

// objects serves lists (list=true) and gets of one resource. namespace is
// empty for cluster-scoped paths.
func (s *server) objects(w http.ResponseWriter, r *http.Request, group, namespace string, list bool) {
	kind, ok := kindFor(r.PathValue("resource"), group)
	if !ok {
		s.writeStatus(w, noSuchResource())
		return
	}
	namespaced := manifest.Namespaced(kind)
	if namespace != "" && !namespaced {
		s.writeStatus(w, noSuchResource()) // /namespaces/x/nodes
		return
	}
	if !list {
		if namespaced && namespace == "" {
			s.writeStatus(w, noSuchResource()) // /api/v1/pods/x
			return
		}
		s.get(w, r, manifest.Key{Kind: kind, Namespace: namespace, Name: r.PathValue("name")})
		return
	}
	s.list(w, r, kind, namespace)
}

func (s *server) get(w http.ResponseWriter, r *http.Request, key manifest.Key) {
	obj, err := s.cfg.Store.Get(key)
	if err != nil {
		if s.cfg.IsNotFound(err) {
			s.writeStatus(w, notFound(key.Kind, key.Name))
			return
		}
		s.writeStatus(w, internalError(fmt.Errorf("get %s: %w", key, err)))
		return
	}
	graph, err := s.graphFor(r, key.Kind)
	if err != nil {
		s.writeStatus(w, internalError(err))
		return
	}
	if graph != nil {
		req := Request{Node: nodeOf(r), Verb: VerbGet, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name, Related: graph.match(obj)}
		if err := Authorize(req); err != nil {
			s.forbidRead(w, r, key, err)
			return
		}
	}
	obj = s.serve(obj)
	manifest.SetTypeMeta(obj)
	if s.wantsTable(r) {
		rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		s.writeTable(w, r, key.Kind, []manifest.Object{obj}, rv)
		return
	}
	s.writeJSON(w, http.StatusOK, obj)
}

// objectList is a Kubernetes XxxList with typed items.
type objectList struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ListMeta   `json:"metadata"`
	Items           []manifest.Object `json:"items"`
}

func (s *server) list(w http.ResponseWriter, r *http.Request, kind, namespace string) {
	q := r.URL.Query()
	match, err := selectors(kind, q.Get("labelSelector"), q.Get("fieldSelector"))
	if err != nil {
		s.writeStatus(w, badRequest(err.Error()))
		return
	}
	graph, err := s.graphFor(r, kind) // agent listener: what the node's pods reference
	if err != nil {
		s.writeStatus(w, internalError(err))
		return
	}
	if b, _ := strconv.ParseBool(q.Get("watch")); b {
		s.serveWatch(w, r, kind, namespace, match, graph)
		return
	}
	if graph != nil {
		sel := match
		match = func(obj manifest.Object) bool { return sel(obj) && graph.match(obj) }
	}
	// Read the version first: the list is at least this fresh, so a watch
	// from it would miss nothing.
	rv, err := s.cfg.Store.ResourceVersion()
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("read resource version: %w", err)))
		return
	}
	objs, err := s.cfg.Store.List(kind, namespace)
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("list %s: %w", manifest.Plural(kind), err)))
		return
	}
	items := make([]manifest.Object, 0, len(objs))
	for _, obj := range objs {
		if !match(obj) {
			continue
		}
		obj = s.serve(obj)
		manifest.SetTypeMeta(obj)
		items = append(items, obj)
	}
	if s.wantsTable(r) {
		s.writeTable(w, r, kind, items, rv)
		return
	}
	gvk, _ := manifest.GVK(kind)
	s.writeJSON(w, http.StatusOK, objectList{
		TypeMeta: metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: kind + "List"},
		Metadata: metav1.ListMeta{ResourceVersion: strconv.FormatUint(rv, 10)},
		Items:    items,
	})
}

// selectors parses labelSelector and fieldSelector into one predicate.
func selectors(kind, labelSel, fieldSel string) (func(manifest.Object) bool, error) {
	ls, err := labels.Parse(labelSel)
	if err != nil {
		return nil, fmt.Errorf("invalid labelSelector %q: %w", labelSel, err)
	}
	fs, err := fields.ParseSelector(fieldSel)
	if err != nil {
		return nil, fmt.Errorf("invalid fieldSelector %q: %w", fieldSel, err)
	}
	supported := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	if kind == manifest.KindPod {
		supported["spec.nodeName"] = true
		supported["status.phase"] = true
	}
	for _, req := range fs.Requirements() {
		if !supported[req.Field] {
			return nil, fmt.Errorf("field label not supported: %s", req.Field)
		}
	}
	return func(obj manifest.Object) bool {
		if !ls.Matches(labels.Set(obj.GetLabels())) {
			return false
		}
		if fs.Empty() {
			return true
		}
		set := fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
		if pod, ok := obj.(*corev1.Pod); ok {
			set["spec.nodeName"] = pod.Spec.NodeName
			set["status.phase"] = string(pod.Status.Phase)
		}
		return fs.Matches(set)
	}, nil
}

// wantsTable reports whether the client asked for a meta.k8s.io/v1 Table
// (kubectl get sends "application/json;as=Table;v=v1;g=meta.k8s.io,
// application/json") and the server can render one.
func (s *server) wantsTable(r *http.Request) bool {
	if s.cfg.Table == nil {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && params["v"] == "v1" {
			return true
		}
	}
	return false
}

// writeTable answers with a Table. Each row carries the object's metadata
// (includeObject=Metadata, the Kubernetes default), the whole object
// (includeObject=Object) or nothing (None).
func (s *server) writeTable(w http.ResponseWriter, r *http.Request, kind string, objs []manifest.Object, rv uint64) {
	t, err := s.table(r, kind, objs, rv)
	if err != nil {
		s.writeStatus(w, internalError(err))
		return
	}
	data, err := json.Marshal(t)
	if err != nil {
		s.writeStatus(w, internalError(fmt.Errorf("encode table: %w", err)))
		return
	}
	w.Header().Set("Content-Type", "application/json;as=Table;v=v1;g=meta.k8s.io")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// table renders objs as a Table whose rows carry what includeObject asks.
func (s *server) table(r *http.Request, kind string, objs []manifest.Object, rv uint64) (*metav1.Table, error) {
	t, err := s.cfg.Table(kind, objs, s.clock())
	if err != nil {
		return nil, err
	}
	t.TypeMeta = metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}
	t.ResourceVersion = strconv.FormatUint(rv, 10)
	include := r.URL.Query().Get("includeObject")
	for i := range t.Rows {
		obj, ok := t.Rows[i].Object.Object.(manifest.Object)
		t.Rows[i].Object = runtime.RawExtension{}
		if !ok {
			continue
		}
		var (
			v   any
			err error
		)
		switch include {
		case "None":
			continue
		case "Object":
			v = s.serve(obj)
		default:
			v, err = partialMetadata(s.serve(obj))
			if err != nil {
				return nil, err
			}
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode table row: %w", err)
		}
		t.Rows[i].Object = runtime.RawExtension{Raw: raw}
	}
	return t, nil
}

func partialMetadata(obj manifest.Object) (*metav1.PartialObjectMetadata, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	var pom metav1.PartialObjectMetadata
	if err := json.Unmarshal(data, &pom); err != nil {
		return nil, fmt.Errorf("decode metadata of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	pom.TypeMeta = metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}
	return &pom, nil
}
