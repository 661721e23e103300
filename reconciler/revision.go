package reconciler

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"

	"github.com/tug-dev/tug/manifest"
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
}

// PlanRevision diffs the desired objects of a revision against the
// Git-managed objects in the store. Stored objects keep their UID, creation
// time and status; an object whose content is unchanged is not written, so an
// unchanged commit writes nothing. Built-in objects are never pruned.
func PlanRevision(desired, stored []manifest.Object) RevisionPlan {
	var p RevisionPlan
	cur := make(map[manifest.Key]manifest.Object, len(stored))
	for _, o := range stored {
		cur[manifest.KeyOf(o)] = o
	}
	want := make(map[manifest.Key]bool, len(desired))
	for _, d := range desired {
		key := manifest.KeyOf(d)
		want[key] = true
		old, ok := cur[key]
		if !ok {
			obj := manifest.DeepCopy(d)
			obj.SetGeneration(1)
			defaultStatus(obj)
			p.Puts = append(p.Puts, obj)
			p.Added++
			continue
		}
		if sameContent(d, old) {
			continue
		}
		obj := manifest.DeepCopy(d)
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
		if want[key] || isBuiltin(key) {
			continue
		}
		p.Deletes = append(p.Deletes, o)
		p.Removed++
	}
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

// isBuiltin reports whether key names an object tug keeps even when the
// repository does not hold it.
func isBuiltin(key manifest.Key) bool {
	return key.Kind == manifest.KindNamespace && slices.Contains(BuiltinNamespaces, key.Name)
}
