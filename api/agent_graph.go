package api

import (
	"fmt"
	"maps"
	"net/http"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// graphKinds are the kinds a node reads only when a pod bound to it
// references the object (Kubernetes' Node authorizer): Secrets and
// ConfigMaps through volumes, env, envFrom, imagePullSecrets and projected
// sources; PersistentVolumeClaims through volumes; PersistentVolumes
// through those claims' spec.volumeName. Every other kind stays readable.
var graphKinds = map[string]bool{
	manifest.KindSecret: true, manifest.KindConfigMap: true,
	manifest.KindPersistentVolumeClaim: true, manifest.KindPersistentVolume: true,
}

// NodeGraphKind reports whether kind is read through the node graph: a
// node sees only the objects of kind its pods reference.
func NodeGraphKind(kind string) bool { return graphKinds[kind] }

// PodReferences returns the Secrets, ConfigMaps and PersistentVolumeClaims
// pod references, as keys in the pod's namespace. It is pure.
func PodReferences(pod *corev1.Pod) []manifest.Key {
	seen := map[manifest.Key]bool{}
	var out []manifest.Key
	add := func(kind, name string) {
		if name == "" {
			return
		}
		k := manifest.Key{Kind: kind, Namespace: pod.Namespace, Name: name}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	spec := &pod.Spec
	for _, s := range spec.ImagePullSecrets {
		add(manifest.KindSecret, s.Name)
	}
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			add(manifest.KindSecret, v.Secret.SecretName)
		case v.ConfigMap != nil:
			add(manifest.KindConfigMap, v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil:
			add(manifest.KindPersistentVolumeClaim, v.PersistentVolumeClaim.ClaimName)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(manifest.KindSecret, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add(manifest.KindConfigMap, src.ConfigMap.Name)
				}
			}
		}
	}
	env := func(envs []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range from {
			if e.SecretRef != nil {
				add(manifest.KindSecret, e.SecretRef.Name)
			}
			if e.ConfigMapRef != nil {
				add(manifest.KindConfigMap, e.ConfigMapRef.Name)
			}
		}
		for _, e := range envs {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(manifest.KindSecret, r.Name)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(manifest.KindConfigMap, r.Name)
			}
		}
	}
	for _, c := range spec.InitContainers {
		env(c.Env, c.EnvFrom)
	}
	for _, c := range spec.Containers {
		env(c.Env, c.EnvFrom)
	}
	for _, c := range spec.EphemeralContainers {
		env(c.Env, c.EnvFrom)
	}
	return out
}

// nodeGraph is what one node may read of the graph kinds: the objects
// its bound pods reference, kept up to date from pod and claim changes
// (for watches) or built once (for gets and lists).
type nodeGraph struct {
	node string
	// pods holds the references of each pod bound to node.
	pods map[manifest.Key][]manifest.Key
	// claims maps each referenced claim to its spec.volumeName ("" when
	// unbound or missing).
	claims map[manifest.Key]string
}

// newNodeGraph reads node's pods (and their claims) from st.
func newNodeGraph(st Store, node string) (*nodeGraph, error) {
	g := &nodeGraph{node: node, pods: map[manifest.Key][]manifest.Key{}, claims: map[manifest.Key]string{}}
	pods, err := st.List(manifest.KindPod, "")
	if err != nil {
		return nil, fmt.Errorf("node %s: list pods: %w", node, err)
	}
	for _, obj := range pods {
		g.setPod(obj, false)
	}
	g.refreshClaims(st)
	return g, nil
}

// setPod records a pod's references (deleted, or not bound to the node:
// none). It reports whether the pod's references changed.
func (g *nodeGraph) setPod(obj manifest.Object, deleted bool) bool {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	key := manifest.KeyOf(pod)
	old, had := g.pods[key]
	if deleted || pod.Spec.NodeName != g.node {
		delete(g.pods, key)
		return had && len(old) > 0
	}
	refs := PodReferences(pod)
	g.pods[key] = refs
	if len(old) != len(refs) {
		return true
	}
	for i := range refs {
		if old[i] != refs[i] {
			return true
		}
	}
	return false
}

// refreshClaims re-reads the claims the node's pods reference.
func (g *nodeGraph) refreshClaims(st Store) {
	claims := map[manifest.Key]string{}
	for _, refs := range g.pods {
		for _, k := range refs {
			if k.Kind != manifest.KindPersistentVolumeClaim {
				continue
			}
			if _, done := claims[k]; done {
				continue
			}
			claims[k] = ""
			if obj, err := st.Get(k); err == nil {
				if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
					claims[k] = pvc.Spec.VolumeName
				}
			}
		}
	}
	g.claims = claims
}

// allowed returns the keys of graph kinds the node may read.
func (g *nodeGraph) allowed() map[manifest.Key]bool {
	out := map[manifest.Key]bool{}
	for _, refs := range g.pods {
		for _, k := range refs {
			out[k] = true
		}
	}
	for _, pv := range g.claims {
		if pv != "" {
			out[manifest.Key{Kind: manifest.KindPersistentVolume, Name: pv}] = true
		}
	}
	return out
}

// nodeMayRead reports whether node may read obj: always for kinds outside
// the graph, else when allowed holds its key.
func nodeMayRead(allowed map[manifest.Key]bool, obj manifest.Object) bool {
	key := manifest.KeyOf(obj)
	return !graphKinds[key.Kind] || allowed[key]
}

// graphFilter is a watch's view of the node graph for one kind: it
// follows pod (and claim) changes and tells when the set of readable
// objects changed.
type graphFilter struct {
	st      Store
	kind    string
	graph   *nodeGraph
	allowed map[manifest.Key]bool
}

func newGraphFilter(st Store, node, kind string) (*graphFilter, error) {
	g, err := newNodeGraph(st, node)
	if err != nil {
		return nil, err
	}
	return &graphFilter{st: st, kind: kind, graph: g, allowed: g.allowed()}, nil
}

// observe takes one change of any kind and reports whether the readable
// set changed (then allowed is the new one).
func (f *graphFilter) observe(kind string, obj manifest.Object, deleted bool) bool {
	switch kind {
	case manifest.KindPod:
		if !f.graph.setPod(obj, deleted) {
			return false
		}
	case manifest.KindPersistentVolumeClaim:
		if f.kind != manifest.KindPersistentVolume {
			return false
		}
		if _, ours := f.graph.claims[manifest.KeyOf(obj)]; !ours {
			return false
		}
	default:
		return false
	}
	if f.kind == manifest.KindPersistentVolume {
		f.graph.refreshClaims(f.st)
	}
	next := f.graph.allowed()
	if maps.Equal(next, f.allowed) {
		return false
	}
	f.allowed = next
	return true
}

func (f *graphFilter) match(obj manifest.Object) bool { return nodeMayRead(f.allowed, obj) }

// graphFor returns, on the agent listener, the requesting node's view of
// the node graph for kind; nil when every object of kind is readable.
func (s *server) graphFor(r *http.Request, kind string) (*graphFilter, error) {
	if !s.agent || !graphKinds[kind] {
		return nil, nil
	}
	return newGraphFilter(s.cfg.Store, nodeOf(r), kind)
}

// forbidRead answers a node's get of an object its pods do not reference,
// as the Kubernetes API server words it.
func (s *server) forbidRead(w http.ResponseWriter, r *http.Request, key manifest.Key, reason error) {
	node := nodeOf(r)
	s.log.Info("agent API read refused", "user", pki.NodeUserPrefix+node, "path", r.URL.Path, "reason", reason)
	gvk, _ := manifest.GVK(key.Kind)
	msg := fmt.Sprintf("%s %q is forbidden: User %q cannot get resource %q in API group %q",
		manifest.Plural(key.Kind), key.Name, pki.NodeUserPrefix+node, manifest.Plural(key.Kind), gvk.Group)
	if key.Namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", key.Namespace)
	}
	st := newStatus(http.StatusForbidden, metav1.StatusReasonForbidden, msg+": "+reason.Error())
	st.Details = &metav1.StatusDetails{Name: key.Name, Kind: manifest.Plural(key.Kind)}
	s.writeStatus(w, st)
}
