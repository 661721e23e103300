package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/reconciler"
)

// clusterAnnotations are set by tugd, never by the repository; they are
// left out when the cluster's objects are compared with a commit.
var clusterAnnotations = []string{
	reconciler.AnnotationRevision, reconciler.AnnotationConfigHash, reconciler.AnnotationBuiltin, api.AnnotationRedacted,
}

// appliedObjects fetches the objects the cluster holds from Git: every
// object of a kind a repository may hold that carries the source
// annotation (built-in namespaces do not).
func appliedObjects(ctx context.Context, c *api.Client) ([]manifest.Object, error) {
	var out []manifest.Object
	for _, kind := range manifest.GitKinds() {
		objs, err := c.List(ctx, kind, "", "")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", manifest.Plural(kind), err)
		}
		for _, o := range objs {
			if _, fromGit := o.GetAnnotations()[manifest.SourceAnnotation]; fromGit {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// comparable prepares the cluster's objects and a commit's objects for
// gitsync.DiffObjects, so that only what the repository controls is
// compared: status and the metadata tugd keeps (uid, resourceVersion,
// generation, creation time) and tugd's annotations are dropped, a
// Service's allocated cluster IP and node ports count only where the
// commit sets them, and Secret values are emptied on both sides (the API
// serves Secrets redacted, so only their keys can be compared).
func comparable(applied, head []manifest.Object) (a, h []manifest.Object, err error) {
	headByKey := make(map[manifest.Key]manifest.Object, len(head))
	for _, o := range head {
		headByKey[manifest.KeyOf(o)] = o
	}
	for _, o := range head {
		o = manifest.DeepCopy(o)
		stripSecret(o)
		h = append(h, o)
	}
	for _, o := range applied {
		if n, ok := o.(*corev1.Node); ok {
			if o, err = gitNodeView(n); err != nil {
				return nil, nil, err
			}
		}
		o, err := stripCluster(o)
		if err != nil {
			return nil, nil, err
		}
		stripSecret(o)
		if svc, ok := o.(*corev1.Service); ok {
			if want, ok := headByKey[manifest.KeyOf(o)].(*corev1.Service); ok {
				keepAllocations(svc, want)
			}
		}
		a = append(a, o)
	}
	return a, h, nil
}

// stripCluster returns a copy of o without status and cluster metadata.
func stripCluster(o manifest.Object) (manifest.Object, error) {
	kind := manifest.KindOf(o)
	data, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, o.GetName(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, o.GetName(), err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
			delete(md, f)
		}
	}
	stripAnnotations(m)
	if spec, ok := m["spec"].(map[string]any); ok {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			stripAnnotations(tmpl)
		}
	}
	out, err := manifest.New(kind)
	if err != nil {
		return nil, err
	}
	data, err = json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, o.GetName(), err)
	}
	return out, nil
}

func stripAnnotations(obj map[string]any) {
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		return
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return
	}
	for _, k := range clusterAnnotations {
		delete(ann, k)
	}
	if len(ann) == 0 {
		delete(md, "annotations")
	}
}

// stripSecret empties a Secret's values, keeping its keys.
func stripSecret(o manifest.Object) {
	if s, ok := o.(*corev1.Secret); ok {
		for k := range s.Data {
			s.Data[k] = []byte{}
		}
		s.StringData = nil
	}
}

// keepAllocations drops from the cluster's Service the addresses tugd
// allocated where the commit leaves them out.
func keepAllocations(svc, want *corev1.Service) {
	if want.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	}
	if len(want.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIPs = nil
	}
	for i := range svc.Spec.Ports {
		if i < len(want.Spec.Ports) && want.Spec.Ports[i].NodePort == 0 {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
}

// shortSHA shortens a SHA for display.
func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "<none>"
	}
	return strings.TrimSpace(s)
}

// gitNodeView reduces a stored Node to what the repository set on it (the
// reconciler records that in manifest.AnnotationGitNode): the agent's status,
// pod CIDR and the node-failure taints are not the repository's and must
// not show as differences.
func gitNodeView(n *corev1.Node) (*corev1.Node, error) {
	var rec struct {
		Labels        map[string]string `json:"labels,omitempty"`
		Annotations   map[string]string `json:"annotations,omitempty"`
		Taints        []corev1.Taint    `json:"taints,omitempty"`
		Unschedulable bool              `json:"unschedulable,omitempty"`
	}
	if raw := n.Annotations[manifest.AnnotationGitNode]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("node %s: annotation %s: %w", n.Name, manifest.AnnotationGitNode, err)
		}
	}
	out := &corev1.Node{}
	out.Name = n.Name
	out.Labels = rec.Labels
	out.Annotations = map[string]string{}
	for k, v := range rec.Annotations {
		out.Annotations[k] = v
	}
	if src, ok := n.Annotations[manifest.SourceAnnotation]; ok {
		out.Annotations[manifest.SourceAnnotation] = src
	}
	out.Spec.Taints = rec.Taints
	out.Spec.Unschedulable = rec.Unschedulable
	manifest.SetTypeMeta(out)
	return out, nil
}
