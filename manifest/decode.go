package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
	yamlv3 "sigs.k8s.io/yaml/goyaml.v3"
)

// SourceAnnotation is set on every decoded object to "<file>:<line>", the
// place in the repository where the object is defined.
const SourceAnnotation = "tug.dev/source"

// MaxFileSize is the largest manifest file DecodeFile accepts.
const MaxFileSize = 8 << 20

// DefaultNamespace is the built-in namespace of objects that name none.
const DefaultNamespace = "default"

// Source locates an object or error in the repository.
type Source struct {
	File string
	Line int
}

func (s Source) String() string { return s.File + ":" + strconv.Itoa(s.Line) }

// Decoded is one object decoded from a manifest file, with where it came from.
type Decoded struct {
	Object Object
	Source Source

	// lines maps JSON field paths ("spec.template.spec.containers[0].image")
	// to their line in Source.File; nil for objects not built by DecodeFile.
	lines map[string]int
}

// FieldLine returns the line of the field at path (as in
// "spec.template.spec.containers[0].image"), or of its nearest parent present
// in the file, or the object's own line.
func (d Decoded) FieldLine(path string) int {
	return lineOf(d.lines, path, d.Source.Line)
}

// DecodeFile decodes every YAML document of one manifest file into typed
// objects. Documents are separated by lines starting with "---"; empty
// documents are skipped; List kinds are refused.
//
// The returned error, when not nil, is an ErrorList whose entries carry file,
// line and field; the file must then be rejected. DecodeFile still returns the
// objects it could decode so that Validate can report cross-object problems
// in the same pass.
func DecodeFile(file string, data []byte) ([]Decoded, error) {
	if len(data) > MaxFileSize {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("file is %d bytes, larger than the %d bytes tug accepts; split it", len(data), MaxFileSize)}}
	}
	var (
		out  []Decoded
		errs ErrorList
	)
	docs, splitErrs := splitDocuments(data)
	for _, e := range splitErrs {
		e.File = file
		errs = append(errs, e)
	}
	for _, doc := range docs {
		d, derrs := decodeDocument(file, doc)
		errs = append(errs, derrs...)
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, sortErrors(errs).errOrNil()
}

// document is one YAML document of a file.
type document struct {
	text   []byte
	offset int // lines of the file before the document
}

// line turns a 1-based line within the document into a line of the file.
func (d document) line(n int) int {
	if n < 1 {
		n = 1
	}
	return d.offset + n
}

// splitDocuments splits data at "---" separator lines, keeping each
// document's line offset. A separator may only be followed by a comment.
func splitDocuments(data []byte) ([]document, ErrorList) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var (
		docs      []document
		errs      ErrorList
		start     int // byte offset of the current document
		startLine int // lines before the current document
		line      int // lines before pos
	)
	for pos := 0; pos < len(data); line++ {
		end := len(data)
		next := end
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i
			next = end + 1
		}
		text := bytes.TrimSuffix(data[pos:end], []byte("\r"))
		if rest, ok := bytes.CutPrefix(text, []byte("---")); ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t') {
			if r := bytes.TrimSpace(rest); len(r) > 0 && r[0] != '#' {
				errs = append(errs, &FieldError{Line: line + 1, Msg: "content after --- on the same line is not supported; start the document on the next line"})
			}
			docs = append(docs, document{text: data[start:pos], offset: startLine})
			start, startLine = next, line+1
		}
		pos = next
	}
	docs = append(docs, document{text: data[start:], offset: startLine})
	return docs, errs
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError splits a YAML parser error into its line (0 if unknown) and text.
func yamlError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return n, m[2]
		}
	}
	return 0, msg
}

// yamlParseError turns an error of the YAML node parser into a line within
// the document and a message.
//
// The parser (a libyaml port) reports scanner errors at their 1-based line,
// but parser errors at the 0-based line of the enclosing block. For parser
// errors the line where the parser stopped comes from a second parse with
// the older parser of the same family that sigs.k8s.io/yaml uses, which
// reports the 0-based line of the offending token.
func yamlParseError(doc document, err error) (int, string) {
	n, msg := yamlError(err)
	if !isParserProblem(msg) {
		return n, msg
	}
	n++ // the enclosing block, 1-based
	if _, err2 := yaml.YAMLToJSON(doc.text); err2 != nil {
		if n2, msg2 := yamlError(err2); msg2 == msg && n2 > 0 && n2+1 != n {
			return n2 + 1, fmt.Sprintf("%s (in the block that starts at line %d)", msg, doc.line(n))
		}
	}
	return n, msg
}

var (
	yamlBackquotedRE = regexp.MustCompile("`[^`]*`")
	yamlAnchorRE     = regexp.MustCompile(`anchor '[^']*'`)
	yamlAsTagRE      = regexp.MustCompile(`as an? (!!\w+)|^(!!binary)`)
)

// sanitizeYAMLMsg removes the values some YAML error messages quote, which
// may be Secret values.
func sanitizeYAMLMsg(msg string) string {
	switch {
	case strings.HasPrefix(msg, "invalid map key"):
		return "invalid map key: keys must be plain strings"
	case strings.HasPrefix(msg, "unknown anchor"):
		return "unknown anchor referenced; quote values that start with * or &"
	}
	msg = yamlBackquotedRE.ReplaceAllString(msg, "value")
	return yamlAnchorRE.ReplaceAllString(msg, "anchor")
}

// conversionErrorLine finds the line (within the document) of the node a
// YAML-to-JSON conversion error without a line is about, or returns 0.
func conversionErrorLine(top *yamlv3.Node, msg string) int {
	var match func(n *yamlv3.Node, isKey bool) bool
	if strings.HasPrefix(msg, "invalid map key") {
		match = func(n *yamlv3.Node, isKey bool) bool { return isKey && n.Kind != yamlv3.ScalarNode }
	} else if m := yamlAsTagRE.FindStringSubmatch(msg); m != nil {
		tag := m[1] + m[2]
		match = func(n *yamlv3.Node, _ bool) bool {
			return n.Kind == yamlv3.ScalarNode && n.Tag == tag && n.Style&yamlv3.TaggedStyle != 0
		}
	} else {
		return 0
	}
	var find func(n *yamlv3.Node, isKey bool) int
	find = func(n *yamlv3.Node, isKey bool) int {
		if match(n, isKey) {
			return n.Line
		}
		for i, c := range n.Content {
			if l := find(c, n.Kind == yamlv3.MappingNode && i%2 == 0); l > 0 {
				return l
			}
		}
		return 0
	}
	return find(top, false)
}

// isParserProblem reports whether a YAML error message comes from the
// parser rather than the scanner (see yamlParseError).
func isParserProblem(msg string) bool {
	switch msg {
	case "found undefined tag handle", "found duplicate %YAML directive",
		"found incompatible YAML document", "found duplicate %TAG directive":
		return true
	}
	return strings.HasPrefix(msg, "did not find expected")
}

func decodeDocument(file string, doc document) (*Decoded, ErrorList) {
	var root yamlv3.Node
	dec := yamlv3.NewDecoder(bytes.NewReader(doc.text))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		n, msg := yamlParseError(doc, err)
		return nil, ErrorList{{File: file, Line: doc.line(n), Msg: "invalid YAML: " + sanitizeYAMLMsg(msg)}}
	}
	var extra yamlv3.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		n := extra.Line
		if err != nil {
			n, _ = yamlError(err)
		}
		return nil, ErrorList{{File: file, Line: doc.line(n), Msg: "invalid YAML: more than one document; separate documents with a line containing only ---"}}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	top := root.Content[0]
	if top.Kind == yamlv3.ScalarNode && top.Tag == "!!null" {
		return nil, nil
	}
	if top.Kind != yamlv3.MappingNode {
		return nil, ErrorList{{File: file, Line: doc.line(top.Line), Msg: "a manifest must be a YAML mapping with apiVersion, kind and metadata"}}
	}
	lines := map[string]int{}
	dups := indexFields(top, "", doc, lines)
	src := Source{File: file, Line: doc.line(top.Line)}

	jsonData, err := yaml.YAMLToJSON(doc.text)
	if err != nil {
		n, msg := yamlError(err)
		if isParserProblem(msg) {
			n++
		}
		if n == 0 {
			n = conversionErrorLine(top, msg)
		}
		msg = sanitizeYAMLMsg(msg)
		return nil, ErrorList{{File: file, Line: doc.line(n), Msg: "invalid YAML: " + msg}}
	}
	var generic map[string]any
	if err := sjson.UnmarshalCaseSensitivePreserveInts(jsonData, &generic); err != nil || generic == nil {
		return nil, ErrorList{{File: file, Line: src.Line, Msg: "a manifest must be a YAML mapping with apiVersion, kind and metadata"}}
	}

	kind, _ := generic["kind"].(string)
	meta, _ := generic["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	fe := func(field, msg string) *FieldError {
		return &FieldError{File: file, Line: lineOf(lines, field, src.Line), Object: describe(kind, namespace, name), Field: field, Msg: msg}
	}

	var errs ErrorList
	for _, d := range dups {
		e := fe(d.path, fmt.Sprintf("duplicate field; it is already set at line %d", d.first))
		e.Line = d.line
		errs = append(errs, e)
	}
	if e := checkKind(generic, fe); e != nil {
		return nil, append(errs, e)
	}

	obj, err := New(kind)
	if err != nil {
		return nil, append(errs, fe("kind", err.Error()))
	}
	w := fieldWalker{reported: map[string]bool{}}
	w.walkRoot(obj, newFieldTree(supportedFields[kind]), generic)
	for _, p := range w.problems {
		errs = append(errs, fe(p.path, p.msg))
	}
	strictErrs, err := sjson.UnmarshalStrict(jsonData, obj)
	if err != nil {
		problems := locateDecodeErrors(obj, generic)
		if len(problems) == 0 { // not expected: the decoder failed on the whole
			problems = []fieldProblem{{msg: "cannot decode: " + strings.TrimPrefix(err.Error(), "json: ")}}
		}
		for _, p := range problems {
			errs = append(errs, fe(p.path, p.msg))
		}
		return nil, errs
	}
	for _, se := range strictErrs {
		var pe sjson.FieldError
		if !errors.As(se, &pe) || w.reported[pe.FieldPath()] {
			continue
		}
		msg := "unknown field"
		if strings.HasPrefix(se.Error(), "duplicate field") {
			msg = "duplicate field"
		}
		errs = append(errs, fe(pe.FieldPath(), msg))
	}
	SetTypeMeta(obj)

	switch {
	case Namespaced(kind) && obj.GetNamespace() == "":
		obj.SetNamespace(DefaultNamespace)
	case !Namespaced(kind) && obj.GetNamespace() != "":
		errs = append(errs, fe("metadata.namespace", kind+" is cluster-scoped; remove metadata.namespace"))
		obj.SetNamespace("")
	}
	if s, ok := obj.(*corev1.Secret); ok && len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
	annotations := obj.GetAnnotations()
	if _, ok := annotations[SourceAnnotation]; ok {
		errs = append(errs, fe("metadata.annotations."+SourceAnnotation, "this annotation is set by tug; remove it"))
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[SourceAnnotation] = src.String()
	obj.SetAnnotations(annotations)

	return &Decoded{Object: obj, Source: src, lines: lines}, errs
}

// checkKind checks apiVersion and kind of a generic document.
func checkKind(generic map[string]any, fe func(field, msg string) *FieldError) *FieldError {
	rawKind, hasKind := generic["kind"]
	kind, isString := rawKind.(string)
	switch {
	case !hasKind || rawKind == nil || kind == "" && isString:
		return fe("kind", "kind is required; tug accepts "+strings.Join(GitKinds(), ", "))
	case !isString:
		return fe("kind", "kind must be a string")
	case kind == "List" || strings.HasSuffix(kind, "List") && IsGitKind(strings.TrimSuffix(kind, "List")):
		return fe("kind", kind+" is not supported; put each object in its own YAML document, separated by a line containing only ---")
	}
	gvk, known := GVK(kind)
	if !known {
		return fe("kind", fmt.Sprintf("unknown kind %q; tug accepts %s", kind, strings.Join(GitKinds(), ", ")))
	}
	if !IsGitKind(kind) {
		return fe("kind", fmt.Sprintf("%s objects are created by tug and cannot be committed; commit one of %s", kind, strings.Join(GitKinds(), ", ")))
	}
	want := gvk.GroupVersion().String()
	switch apiVersion, ok := generic["apiVersion"].(string); {
	case !ok || apiVersion == "":
		return fe("apiVersion", fmt.Sprintf("apiVersion is required; use %q for %s", want, kind))
	case apiVersion != want:
		return fe("apiVersion", fmt.Sprintf("apiVersion %q is wrong for %s; use %q", apiVersion, kind, want))
	}
	return nil
}

// describe names an object in error messages: "Deployment default/web".
func describe(kind, namespace, name string) string {
	switch {
	case kind == "":
		return ""
	case name == "":
		return kind
	case Namespaced(kind):
		if namespace == "" {
			namespace = DefaultNamespace
		}
		return kind + " " + namespace + "/" + name
	default:
		return kind + " " + name
	}
}

// describeObject names obj as describe does.
func describeObject(obj Object) string {
	return describe(KindOf(obj), obj.GetNamespace(), obj.GetName())
}

type duplicateKey struct {
	path        string
	line, first int
}

// indexFields records the line of every mapping key and list element below n
// in lines, keyed by JSON path, and returns the keys set twice in one mapping.
// Aliases are not followed: their fields resolve to the alias's line.
func indexFields(n *yamlv3.Node, path string, doc document, lines map[string]int) []duplicateKey {
	var dups []duplicateKey
	switch n.Kind {
	case yamlv3.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yamlv3.ScalarNode {
				continue
			}
			p := joinPath(path, k.Value)
			line := doc.line(k.Line)
			if first, ok := seen[k.Value]; ok && k.Value != "<<" {
				dups = append(dups, duplicateKey{path: p, line: line, first: first})
				continue
			}
			seen[k.Value] = line
			lines[p] = line
			dups = append(dups, indexFields(v, p, doc, lines)...)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = doc.line(c.Line)
			dups = append(dups, indexFields(c, p, doc, lines)...)
		}
	}
	return dups
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf returns the line of path in lines, or of its nearest recorded
// parent, or def.
func lineOf(lines map[string]int, path string, def int) int {
	for path != "" {
		if n, ok := lines[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return def
}

// parentPath drops the last segment of a JSON path: "a.b[0]" → "a.b" → "a".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
