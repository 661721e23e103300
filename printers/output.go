package printers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tug-dev/tug/manifest"
	"sigs.k8s.io/yaml"
)

// PrintList writes objs, all of kind, in opts.Output format: a table (wide
// or not), a kubectl "List" document in json or yaml, or kind/name lines.
// An empty list writes nothing as a table or names, and an empty List
// document as json or yaml, as kubectl does.
func PrintList(w io.Writer, kind string, objs []manifest.Object, opts Options) error {
	switch opts.Output {
	case OutputTable, OutputWide:
		t, err := Table(kind, objs, opts.Now)
		if err != nil {
			return err
		}
		return PrintTable(w, t, opts)
	case OutputName:
		for _, obj := range objs {
			if _, err := fmt.Fprintln(w, ResourceName(obj)); err != nil {
				return err
			}
		}
		return nil
	case OutputJSON, OutputYAML:
		items := make([]any, 0, len(objs))
		for _, obj := range objs {
			m, err := toMap(obj)
			if err != nil {
				return err
			}
			items = append(items, m)
		}
		list := map[string]any{
			"apiVersion": "v1",
			"kind":       "List",
			"items":      items,
			"metadata":   map[string]any{"resourceVersion": ""},
		}
		return writeData(w, list, opts.Output)
	}
	return ValidateOutput(opts.Output)
}

// PrintObject writes one object in opts.Output format; json and yaml print
// the object itself rather than a List.
func PrintObject(w io.Writer, obj manifest.Object, opts Options) error {
	switch opts.Output {
	case OutputJSON, OutputYAML:
		m, err := toMap(obj)
		if err != nil {
			return err
		}
		return writeData(w, m, opts.Output)
	}
	return PrintList(w, manifest.KindOf(obj), []manifest.Object{obj}, opts)
}

// PrintData writes any JSON-encodable value as indented json or as yaml.
func PrintData(w io.Writer, v any, format string) error {
	if format != OutputJSON && format != OutputYAML {
		return fmt.Errorf("unknown output format %q: use json or yaml", format)
	}
	return writeData(w, v, format)
}

func writeData(w io.Writer, v any, format string) error {
	var out []byte
	var err error
	if format == OutputYAML {
		out, err = yaml.Marshal(v)
	} else {
		// kubectl indents with four spaces; keys of maps come out sorted.
		out, err = json.MarshalIndent(v, "", "    ")
		out = append(out, '\n')
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}

// toMap turns a typed object into its generic JSON form, so that it prints
// with sorted keys as kubectl prints objects. Numbers stay exact.
func toMap(obj manifest.Object) (map[string]any, error) {
	if obj.GetObjectKind().GroupVersionKind().Kind == "" {
		obj = manifest.DeepCopy(obj)
		manifest.SetTypeMeta(obj)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ResourceName(obj), err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encode %s: %w", ResourceName(obj), err)
	}
	return m, nil
}

// ResourceName returns obj as kubectl -o name prints it: "pod/web-1",
// "deployment.apps/web".
func ResourceName(obj manifest.Object) string {
	kind := manifest.KindOf(obj)
	prefix := strings.ToLower(kind)
	if gvk, ok := manifest.GVK(kind); ok && gvk.Group != "" {
		prefix += "." + gvk.Group
	}
	return prefix + "/" + obj.GetName()
}
