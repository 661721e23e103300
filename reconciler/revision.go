package reconciler

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Annotations tug sets on objects it manages.
const (
	// AnnotationBuiltin marks objects tug creates itself (the default namespace).
	AnnotationBuiltin = "tug.dev/builtin"
	// AnnotationRevision records the commit that introduced a ReplicaSet's template.
	AnnotationRevision = "tug.dev/revision"
	// AnnotationConfigHash is the hash of the ConfigMaps and Secrets a pod template uses.
	AnnotationConfigHash = "tug.dev/config-hash"
)

// RevisionPlan is the set of writes that makes the stored Git objects equal
// to a revision's.
type RevisionPlan struct {
	Puts    []manifest.Object
	Deletes []manifest.Object
	Added   int
	Changed int
	Removed int
	// Errors, when any, refuse the revision as a whole (a Service asking
	// for an address another Service holds, say); Puts and Deletes are then
	// empty. Each names the file, object and field.
	Errors []string
}

// PlanRevision diffs the desired objects of the revision at commit sha
// against the Git-managed objects in the store. Stored objects keep their
// UID, creation time and status; an object whose content is unchanged is not
// written, so an unchanged commit writes nothing.
//
// Services get their cluster IP and node ports here (allocateServices), so
// an address is decided in the same transaction that stores the Service and
// is kept across later commits that leave it out. A Deployment whose
// effective pod template (its template and the ConfigMaps and Secrets it
// uses) changes in this commit is stamped with tug.dev/revision: sha, which
// the ReplicaSet created for that template records; otherwise it keeps the
// stamp it has. Built-in objects are never pruned. Nodes are merged, not
// replaced (see planGitNodes).
func PlanRevision(sha string, desired, stored []manifest.Object) RevisionPlan {
	var p RevisionPlan
	desiredNodes, desired := splitNodes(desired)
	storedNodes, stored := splitNodes(stored)
	stored = gitStorage(stored) // see volume.go
	cur := make(map[manifest.Key]manifest.Object, len(stored))
	for _, o := range stored {
		cur[manifest.KeyOf(o)] = o
	}
	desired = slices.Clone(desired)
	for i, d := range desired {
		desired[i] = manifest.DeepCopy(d)
	}
	keepBindings(desired, cur) // see volume.go
	if errs := prepareRevision(sha, desired, stored, cur); len(errs) > 0 {
		return RevisionPlan{Errors: errs}
	}
	want := make(map[manifest.Key]bool, len(desired))
	for _, d := range desired {
		key := manifest.KeyOf(d)
		want[key] = true
		old, ok := cur[key]
		if !ok {
			obj := d
			obj.SetGeneration(1)
			defaultStatus(obj)
			p.Puts = append(p.Puts, obj)
			p.Added++
			continue
		}
		if sameContent(d, old) && old.GetDeletionTimestamp() == nil {
			continue
		}
		// Changed, or back in Git while Terminating (a claim a pod still
		// uses, protection.go): written as committed, no longer deleted.
		obj := d
		obj.SetUID(old.GetUID())
		obj.SetCreationTimestamp(old.GetCreationTimestamp())
		obj.SetResourceVersion(old.GetResourceVersion())
		obj.SetGeneration(old.GetGeneration())
		if !equality.Semantic.DeepEqual(specOf(d), specOf(old)) {
			obj.SetGeneration(old.GetGeneration() + 1)
		}
		copyStatus(obj, old)
		p.Puts = append(p.Puts, obj)
		p.Changed++
	}
	for _, o := range stored {
		key := manifest.KeyOf(o)
		if want[key] || isBuiltin(key) || computedEndpoints(o) {
			continue
		}
		p.Deletes = append(p.Deletes, o)
		p.Removed++
	}
	planGitNodes(desiredNodes, storedNodes, &p)
	sort.Slice(p.Deletes, func(i, j int) bool {
		return manifest.KeyOf(p.Deletes[i]).String() < manifest.KeyOf(p.Deletes[j]).String()
	})
	return p
}

// sameContent compares what Git controls: labels, annotations and
// everything but metadata and status.
func sameContent(a, b manifest.Object) bool {
	if !maps.Equal(a.GetLabels(), b.GetLabels()) || !maps.Equal(a.GetAnnotations(), b.GetAnnotations()) {
		return false
	}
	return equality.Semantic.DeepEqual(specOf(a), specOf(b))
}

// specOf returns the object without metadata and status, as generic JSON.
func specOf(o manifest.Object) map[string]any {
	data, err := json.Marshal(o)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	delete(m, "metadata")
	delete(m, "status")
	delete(m, "apiVersion")
	delete(m, "kind")
	return m
}

func defaultStatus(obj manifest.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// copyStatus carries the status the cluster reported over to the new
// desired object.
func copyStatus(dst, src manifest.Object) {
	data, err := json.Marshal(src)
	if err != nil {
		return
	}
	var m struct {
		Status json.RawMessage `json:"status"`
	}
	if json.Unmarshal(data, &m) != nil || len(m.Status) == 0 {
		return
	}
	// Unmarshalling only the status field leaves the rest of dst alone.
	_ = json.Unmarshal([]byte(`{"status":`+string(m.Status)+`}`), dst)
}

// computedEndpoints reports whether o is an Endpoints object the reconciler
// computed for a Service with a selector (not committed to Git), which a
// revision never prunes.
func computedEndpoints(o manifest.Object) bool {
	_, ok := o.(*corev1.Endpoints)
	return ok && !committed(o)
}

// isBuiltin reports whether key names an object tug keeps even when the
// repository does not hold it.
func isBuiltin(key manifest.Key) bool {
	return key.Kind == manifest.KindNamespace && slices.Contains(BuiltinNamespaces, key.Name)
}

// prepareRevision fills in what tug decides for the desired objects (copies
// the caller owns): Service allocations and Deployment revision stamps.
func prepareRevision(sha string, desired, stored []manifest.Object, cur map[manifest.Key]manifest.Object) []string {
	var services []*corev1.Service
	storedServices := map[manifest.Key]*corev1.Service{}
	for _, o := range stored {
		if svc, ok := o.(*corev1.Service); ok {
			storedServices[manifest.KeyOf(o)] = svc
		}
	}
	newConfig, oldConfig := configIndex(desired), configIndex(stored)
	for _, o := range desired {
		switch obj := o.(type) {
		case *corev1.Service:
			services = append(services, obj)
		case *appsv1.Deployment:
			old, _ := cur[manifest.KeyOf(obj)].(*appsv1.Deployment)
			stampRevision(sha, obj, old, newConfig, oldConfig)
		}
	}
	return append(allocateServices(services, storedServices), QuotaErrors(desired)...)
}

// stampRevision sets d's tug.dev/revision: sha when its effective template
// differs from old's (or old is nil), and old's stamp otherwise.
func stampRevision(sha string, d, old *appsv1.Deployment, newConfig, oldConfig configs) {
	stamp := ""
	if old != nil {
		stamp = old.Annotations[AnnotationRevision]
	}
	if sha != "" && (old == nil || effectiveTemplateHash(d, newConfig) != effectiveTemplateHash(old, oldConfig)) {
		stamp = sha
	}
	if stamp == "" {
		delete(d.Annotations, AnnotationRevision)
		return
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[AnnotationRevision] = stamp
}

// configs holds ConfigMaps and Secrets by namespace and name.
type configs struct {
	configMaps map[string]map[string]*corev1.ConfigMap
	secrets    map[string]map[string]*corev1.Secret
}

func configIndex(objs []manifest.Object) configs {
	c := configs{configMaps: map[string]map[string]*corev1.ConfigMap{}, secrets: map[string]map[string]*corev1.Secret{}}
	for _, o := range objs {
		switch obj := o.(type) {
		case *corev1.ConfigMap:
			if c.configMaps[obj.Namespace] == nil {
				c.configMaps[obj.Namespace] = map[string]*corev1.ConfigMap{}
			}
			c.configMaps[obj.Namespace][obj.Name] = obj
		case *corev1.Secret:
			if c.secrets[obj.Namespace] == nil {
				c.secrets[obj.Namespace] = map[string]*corev1.Secret{}
			}
			c.secrets[obj.Namespace][obj.Name] = obj
		}
	}
	return c
}

// effectiveTemplate is the pod template of d's ReplicaSet: the template with
// the hash of the configuration it uses.
func effectiveTemplate(d *appsv1.Deployment, c configs) *corev1.PodTemplateSpec {
	tmpl := d.Spec.Template.DeepCopy()
	if h := ConfigHash(&tmpl.Spec, c.configMaps[d.Namespace], c.secrets[d.Namespace]); h != "" {
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[AnnotationConfigHash] = h
	}
	return tmpl
}

func effectiveTemplateHash(d *appsv1.Deployment, c configs) string {
	return TemplateHash(effectiveTemplate(d, c))
}
