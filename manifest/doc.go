// Package manifest defines the kinds tug knows and turns the YAML committed to
// the repository into typed, validated Kubernetes objects.
//
// # Kinds
//
// kinds.go is the registry: New(kind) makes an empty typed object, KindOf and
// KeyOf name one, IsGitKind tells which kinds a repository may contain
// (Namespace, ConfigMap, Secret, Service, Deployment); the rest (ReplicaSet,
// Pod, Node) are made by tug. Revision is the desired state at one commit;
// SyncRecord is one attempt to apply a commit.
//
// # Decoding
//
// DecodeFile(file, data) decodes one file:
//
//   - documents are split at lines starting with "---", keeping line numbers;
//     empty documents are skipped; a List kind is refused;
//   - each document is parsed into a YAML node tree (for the line of every
//     field and for duplicate keys), converted to JSON with sigs.k8s.io/yaml
//     (the same YAML dialect kubectl reads), and decoded strictly into the Go
//     type of its kind; apiVersion must be the one tug serves the kind as;
//   - fields the Go type lacks are "unknown field"; fields outside the
//     allow-list in supported.go are "field is not supported by tug yet";
//     a committed status is refused. JSON null counts as absent;
//   - namespaced objects without a namespace get "default"; a Secret's
//     stringData is merged into data; every object gets the annotation
//     tug.dev/source: "<file>:<line>".
//
// No other Kubernetes defaulting happens: a Deployment without replicas has
// nil Replicas, and so on; consumers apply defaults.
//
// # Validation
//
// Validate(objs) checks all objects of one commit together: names, labels,
// required fields, ports, volumes, env sources, selectors that match their
// template, and then the cross-object rules: one definition per
// kind/namespace/name, namespaces that exist (committed or "default"),
// ConfigMaps and Secrets (and their keys) that exist when referenced without
// optional: true, node ports and cluster IPs used once.
// ValidateObjects (the per-object checks, whose result depends on the
// object alone and may be cached) and ValidateSet (the checks that span
// objects, plus cached per-object errors) split Validate in two for callers
// that revalidate a mostly unchanged set, as gitsync does per commit.
//
// # Errors
//
// Every problem is a *FieldError with file, line, object and field path,
// rendered as
//
//	deploy/web.yaml:14: Deployment default/web: spec.template.spec.containers[0].imagePullPolicyy: unknown field
//
// and collected in an ErrorList (one per line). Messages never contain
// Secret values. Usage:
//
//	var all []manifest.Decoded
//	var errs manifest.ErrorList
//	for _, f := range files {
//		objs, err := manifest.DecodeFile(f.Name, f.Data)
//		all = append(all, objs...)
//		if l, ok := manifest.AsErrorList(err); ok {
//			errs = append(errs, l...)
//		}
//	}
//	if err := manifest.Validate(all); err != nil { ... }
//	// reject the commit if errs or Validate reported anything
package manifest
