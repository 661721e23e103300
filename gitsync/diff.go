package gitsync

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/tug-dev/tug/manifest"
)

// Object-level change kinds.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Redacted replaces Secret values in diffs.
const Redacted = "<redacted>"

// ObjectDiff is how one object differs between two revisions.
type ObjectDiff struct {
	Key    manifest.Key
	Op     string // Added, Removed or Changed
	Source string // file:line in the newer revision (the older one for Removed)
	Fields []FieldChange
}

// FieldChange is one changed leaf (or a whole added or removed subtree).
// Old and New are compact JSON; "" means absent.
type FieldChange struct {
	Path     string // e.g. spec.template.spec.containers[0].image
	Old, New string
}

// DiffObjects compares two sets of objects (as rendered from two commits)
// and returns their differences sorted by key. The source annotation is not
// compared (moving a manifest is not a change) and Secret data and
// stringData values are shown as Redacted.
func DiffObjects(base, head []manifest.Object) ([]ObjectDiff, error) {
	index := func(objs []manifest.Object) map[manifest.Key]manifest.Object {
		m := make(map[manifest.Key]manifest.Object, len(objs))
		for _, o := range objs {
			m[manifest.KeyOf(o)] = o
		}
		return m
	}
	old, cur := index(base), index(head)
	keys := slices.Collect(maps.Keys(old))
	for k := range cur {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b manifest.Key) int { return strings.Compare(a.String(), b.String()) })

	var out []ObjectDiff
	for _, k := range keys {
		o, inOld := old[k]
		n, inNew := cur[k]
		switch {
		case !inOld:
			out = append(out, ObjectDiff{Key: k, Op: Added, Source: sourceOf(n)})
		case !inNew:
			out = append(out, ObjectDiff{Key: k, Op: Removed, Source: sourceOf(o)})
		default:
			a, err := genericJSON(o)
			if err != nil {
				return nil, err
			}
			b, err := genericJSON(n)
			if err != nil {
				return nil, err
			}
			var fields []FieldChange
			diffValues("", a, b, &fields)
			if k.Kind == manifest.KindSecret {
				redact(fields)
			}
			if len(fields) > 0 {
				out = append(out, ObjectDiff{Key: k, Op: Changed, Source: sourceOf(n), Fields: fields})
			}
		}
	}
	return out, nil
}

func sourceOf(o manifest.Object) string { return o.GetAnnotations()[manifest.SourceAnnotation] }

// genericJSON turns an object into generic JSON without tug's annotation.
func genericJSON(o manifest.Object) (map[string]any, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.KeyOf(o), err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.KeyOf(o), err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, manifest.SourceAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
		delete(md, "creationTimestamp")
	}
	delete(m, "status")
	return m, nil
}

// diffValues appends the differences between a and b below path.
func diffValues(path string, a, b any, out *[]FieldChange) {
	if reflect.DeepEqual(a, b) {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := slices.Collect(maps.Keys(av))
		for k := range bv {
			if _, ok := av[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			diffValues(joinField(path, k), av[k], bv[k], out)
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		for i := range max(len(av), len(bv)) {
			var x, y any
			if i < len(av) {
				x = av[i]
			}
			if i < len(bv) {
				y = bv[i]
			}
			diffValues(path+"["+strconv.Itoa(i)+"]", x, y, out)
		}
		return
	}
	*out = append(*out, FieldChange{Path: path, Old: compact(a), New: compact(b)})
}

// joinField appends a map key, quoting keys that are not identifiers.
func joinField(path, k string) string {
	if k == "" || strings.ContainsAny(k, ".[]\"' ") {
		k = "[" + strconv.Quote(k) + "]"
		return path + k
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func compact(v any) string {
	if v == nil {
		return ""
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// redact hides Secret values, keeping whether each was added, removed or
// changed.
func redact(fields []FieldChange) {
	for i, f := range fields {
		if !isSecretValue(f.Path) {
			continue
		}
		if f.Old != "" {
			fields[i].Old = Redacted
		}
		if f.New != "" {
			fields[i].New = Redacted
		}
	}
}

// WriteDiff prints diffs, one object per line and one indented line per
// field:
//
//   - ConfigMap default/new (deploy/new.yaml:1)
//   - Service default/old
//     ~ Deployment default/web (deploy/web.yaml:1)
//     spec.replicas: 2 → 3
//     spec.template.spec.containers[0].env: (none) → [{"name":"A","value":"b"}]
func WriteDiff(w io.Writer, diffs []ObjectDiff) error {
	var b strings.Builder
	for _, d := range diffs {
		mark := map[string]string{Added: "+", Removed: "-", Changed: "~"}[d.Op]
		b.WriteString(mark + " " + displayKey(d.Key))
		if d.Source != "" && d.Op != Removed {
			b.WriteString(" (" + d.Source + ")")
		}
		b.WriteString("\n")
		for _, f := range d.Fields {
			fmt.Fprintf(&b, "    %s: %s → %s\n", f.Path, orNone(f.Old), orNone(f.New))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func isSecretValue(path string) bool {
	for _, p := range []string{"data", "stringData"} {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return true
		}
	}
	return false
}

// displayKey is "Kind namespace/name", or "Kind name" for cluster-scoped kinds.
func displayKey(k manifest.Key) string {
	if k.Namespace == "" {
		return k.Kind + " " + k.Name
	}
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
