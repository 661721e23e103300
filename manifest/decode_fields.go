package manifest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	sjson "sigs.k8s.io/json"
)

// fieldWalker walks a document's generic JSON alongside the Go type it
// decodes into and reports fields the type does not have (unknown) and
// fields outside the kind's allow-list (not supported by tug yet).
type fieldWalker struct {
	problems []fieldProblem
	reported map[string]bool
}

type fieldProblem struct{ path, msg string }

func (w *fieldWalker) report(path, msg string) {
	w.problems = append(w.problems, fieldProblem{path, msg})
	w.reported[path] = true
}

func (w *fieldWalker) walkRoot(obj Object, allowed *fieldTree, generic map[string]any) {
	t := reflect.TypeOf(obj).Elem()
	if st, ok := generic["status"]; ok && !isEmpty(st) {
		if _, known := structField(t, "status"); known {
			w.report("status", "status is reported by tug, not committed; remove it")
		}
	}
	w.walk(t, allowed, generic, "")
}

func (w *fieldWalker) walk(t reflect.Type, allowed *fieldTree, v any, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil || isLeafType(t) {
		return
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
			return // a type error, reported by the decoder
		}
		for _, k := range sortedKeys(val) {
			if path == "" && k == "status" {
				continue // checked by walkRoot
			}
			sub, p := val[k], joinPath(path, k)
			ft := t
			if t.Kind() == reflect.Struct {
				var ok bool
				if ft, ok = structField(t, k); !ok {
					w.report(p, unknownFieldMsg(t, k))
					continue
				}
			} else {
				ft = t.Elem()
			}
			child := allowed.child(k)
			if child == nil {
				if sub != nil {
					w.report(p, "field is not supported by tug yet")
				}
				continue
			}
			w.walk(ft, child, sub, p)
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return
		}
		child := allowed.child("[*]")
		for i, sub := range val {
			p := path + "[" + strconv.Itoa(i) + "]"
			if child == nil {
				w.report(p, "field is not supported by tug yet")
				continue
			}
			w.walk(t.Elem(), child, sub, p)
		}
	}
}

func isEmpty(v any) bool {
	switch val := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(val) == 0
	}
	return false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// isLeafType reports whether values of t decode themselves (quantities,
// int-or-string, times) and so have no fields to check.
func isLeafType(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

// structField returns the type of the field of struct t whose JSON name is
// name (case-sensitive, looking into inlined embedded structs).
func structField(t reflect.Type, name string) (reflect.Type, bool) {
	var found reflect.Type
	eachJSONField(t, func(n string, ft reflect.Type) bool {
		if n == name {
			found = ft
			return false
		}
		return true
	})
	return found, found != nil
}

// eachJSONField calls fn with the JSON name and type of every field of struct
// t until fn returns false.
func eachJSONField(t reflect.Type, fn func(name string, ft reflect.Type) bool) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if !eachJSONField(ft, fn) {
					return false
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if !fn(name, f.Type) {
			return false
		}
	}
	return true
}

// unknownFieldMsg says a field is unknown and suggests the closest field of t.
func unknownFieldMsg(t reflect.Type, name string) string {
	best, bestDist := "", 3
	eachJSONField(t, func(n string, _ reflect.Type) bool {
		d := editDistance(strings.ToLower(n), strings.ToLower(name))
		if d < bestDist {
			best, bestDist = n, d
		}
		return true
	})
	if best == "" {
		return "unknown field"
	}
	return fmt.Sprintf("unknown field (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// locateDecodeErrors finds the fields of a document that made decoding into
// obj fail, by decoding its sub-values one level at a time, and returns
// their paths with messages that show no value.
func locateDecodeErrors(obj Object, generic map[string]any) []fieldProblem {
	return decodeFailures(reflect.TypeOf(obj).Elem(), generic, "")
}

// decodeFailures returns the deepest members of v that do not decode into t,
// or v itself when none of its members fails on its own.
func decodeFailures(t reflect.Type, v any, path string) []fieldProblem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []fieldProblem
	if !isLeafType(t) {
		switch val := v.(type) {
		case map[string]any:
			if t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
				break
			}
			for _, k := range sortedKeys(val) {
				ft := t
				if t.Kind() == reflect.Struct {
					var ok bool
					if ft, ok = structField(t, k); !ok {
						continue
					}
				} else {
					ft = t.Elem()
				}
				if decodeInto(ft, val[k]) != nil {
					out = append(out, decodeFailures(ft, val[k], joinPath(path, k))...)
				}
			}
		case []any:
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				break
			}
			for i, sub := range val {
				if decodeInto(t.Elem(), sub) != nil {
					out = append(out, decodeFailures(t.Elem(), sub, path+"["+strconv.Itoa(i)+"]")...)
				}
			}
		}
	}
	if len(out) == 0 {
		if err := decodeInto(t, v); err != nil {
			out = append(out, fieldProblem{path: path, msg: decodeErrorMsg(t, v, err)})
		}
	}
	return out
}

func decodeInto(t reflect.Type, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sjson.UnmarshalCaseSensitivePreserveInts(data, reflect.New(t).Interface())
}

// decodeErrorMsg explains why v does not decode into t without showing v.
func decodeErrorMsg(t reflect.Type, v any, err error) string {
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &b64):
		return fmt.Sprintf("must be base64-encoded (invalid input at byte %d); use stringData for plain text", int64(b64))
	case t == reflect.TypeFor[intstr.IntOrString]():
		return "must be an integer or a string, not " + jsonKind(v)
	case t == reflect.TypeFor[resource.Quantity]():
		if _, ok := v.(string); ok {
			return "must be a quantity such as 250m, 1.5 or 128Mi"
		}
		return "must be a quantity such as 250m, 1.5 or 128Mi, not " + jsonKind(v)
	case strings.Contains(err.Error(), "cannot unmarshal"):
		if _, isInt := v.(int64); isInt && goKind(t) == "an integer" {
			return "integer is out of range"
		}
		msg := "must be " + goKind(t) + ", not " + jsonKind(v)
		switch v.(type) {
		case bool, int64, float64, json.Number:
			if t.Kind() == reflect.String {
				msg += "; quote the value (YAML reads yes, no, on, off and numbers as non-strings)"
			}
		}
		return msg
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64-encoded string"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a " + t.Kind().String()
}

func jsonKind(v any) string {
	switch val := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case int64, json.Number:
		return "an integer"
	case float64:
		if val == float64(int64(val)) {
			return "an integer out of range"
		}
		return "a fractional number"
	}
	return "a value of another type"
}
