package gitsync

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tug-dev/tug/manifest"
)

// kustomizationNames are the file names that make a directory a
// kustomization, in the order kustomize looks for them.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizeRoot is where the repository is mounted in the in-memory
// filesystem kustomize reads: a path that climbs out of it finds nothing.
const kustomizeRoot = "/repo"

// kustomizationFile returns the name of t's kustomization file, if any.
func kustomizationFile(t *object.Tree) (string, bool) {
	for _, n := range kustomizationNames {
		for _, e := range t.Entries {
			if e.Name == n && e.Mode != filemode.Dir && e.Mode != filemode.Submodule {
				return n, true
			}
		}
	}
	return "", false
}

// repoFS is the repository tree at one commit loaded into an in-memory
// filesystem under kustomizeRoot, with the kustomization files it holds.
// Symbolic links, submodules and files over MaxFileSize are left out (a
// kustomization that needs them fails to find them).
type repoFS struct {
	fs    filesys.FileSystem
	kusts map[string]*types.Kustomization // directory (from the repository root) → its parsed kustomization file
}

// loadRepoFS reads every regular file of root into memory, at most
// maxTotal bytes in all.
func loadRepoFS(ctx context.Context, s storer.EncodedObjectStorer, root *object.Tree, maxTotal int64) (*repoFS, error) {
	r := &repoFS{fs: filesys.MakeFsInMemory(), kusts: map[string]*types.Kustomization{}}
	var total int64
	var walk func(t *object.Tree, prefix string) error
	walk = func(t *object.Tree, prefix string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		kname, isKust := kustomizationFile(t)
		for _, e := range t.Entries {
			name := path.Join(prefix, e.Name)
			switch {
			case e.Mode == filemode.Dir:
				sub, err := object.GetTree(s, e.Hash)
				if err != nil {
					return fmt.Errorf("directory %s: %w", name, err)
				}
				if err := walk(sub, name); err != nil {
					return err
				}
			case e.Mode == filemode.Submodule || e.Mode == filemode.Symlink || !e.Mode.IsFile():
			default:
				data, problem, err := readBlob(s, e.Hash, MaxFileSize)
				if err != nil {
					return fmt.Errorf("read %s: %w", name, err)
				}
				if problem != "" {
					continue
				}
				if line, ok := invalidUTF8(data); !ok && isManifest(e.Name) {
					return manifest.ErrorList{{File: name, Line: line, Msg: "not valid UTF-8 text; save the file as UTF-8"}}
				}
				if total += int64(len(data)); total > maxTotal {
					return manifest.ErrorList{{File: name, Msg: fmt.Sprintf(
						"the files kustomize would read from this commit exceed %d bytes in all; tug stops reading here", maxTotal)}}
				}
				if err := r.fs.WriteFile(kustomizeRoot+"/"+name, data); err != nil {
					return fmt.Errorf("load %s: %w", name, err)
				}
				if isKust && e.Name == kname {
					k := &types.Kustomization{}
					// A file kustomize cannot parse is reported when it is built.
					_ = yaml.Unmarshal(data, k)
					r.kusts[prefix] = k
				}
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	return r, nil
}

// kustFileOf names the kustomization file of dir for errors.
func (r *repoFS) kustFileOf(dir string) string {
	for _, n := range kustomizationNames {
		if r.fs.Exists(kustomizeRoot + "/" + path.Join(dir, n)) {
			return path.Join(dir, n)
		}
	}
	return path.Join(dir, kustomizationNames[0])
}

// reachable returns dirs and every kustomization directory they use as a
// resource, base or component, directly or not, sorted.
func (r *repoFS) reachable(dirs []string) []string {
	seen := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		k := r.kusts[dir]
		if k == nil || seen[dir] {
			return
		}
		seen[dir] = true
		for _, ref := range slices.Concat(k.Resources, k.Bases, k.Components) {
			if !isRemoteRef(ref) && !path.IsAbs(ref) {
				visit(path.Join(dir, ref))
			}
		}
	}
	for _, d := range dirs {
		visit(d)
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// checkLocal refuses what would make kustomize reach outside the
// repository: remote bases and resources (git or http URLs), Helm charts
// (which run helm) and paths that are absolute. It checks the
// kustomizations in dirs and those they use, so bases are covered too.
func (r *repoFS) checkLocal(dirs []string) manifest.ErrorList {
	var errs manifest.ErrorList
	for _, dir := range r.reachable(dirs) {
		k := r.kusts[dir]
		file := r.kustFileOf(dir)
		bad := func(field, ref, why string) {
			errs = append(errs, &manifest.FieldError{File: file, Line: 1, Field: field, Msg: fmt.Sprintf("%q: %s", ref, why)})
		}
		check := func(field string, refs ...string) {
			for _, ref := range refs {
				ref = strings.TrimSpace(ref)
				switch {
				case ref == "" || strings.Contains(ref, "\n"): // an inline patch
				case isRemoteRef(ref):
					bad(field, ref, "remote bases and resources are not fetched by tug; vendor them into the repository")
				case path.IsAbs(ref):
					bad(field, ref, "absolute paths are refused; use a path relative to the kustomization")
				}
			}
		}
		check("resources", k.Resources...)
		check("bases", k.Bases...)
		check("components", k.Components...)
		check("crds", k.Crds...)
		check("configurations", k.Configurations...)
		check("generators", k.Generators...)
		check("transformers", k.Transformers...)
		check("validators", k.Validators...)
		for _, p := range k.PatchesStrategicMerge {
			check("patchesStrategicMerge", string(p))
		}
		for _, p := range k.Patches {
			check("patches.path", p.Path)
		}
		for _, p := range k.PatchesJson6902 {
			check("patchesJson6902.path", p.Path)
		}
		for _, p := range k.Replacements {
			check("replacements.path", p.Path)
		}
		for _, v := range k.OpenAPI {
			check("openapi", v)
		}
		for _, g := range k.ConfigMapGenerator {
			check("configMapGenerator", kvFiles(g.KvPairSources)...)
		}
		for _, g := range k.SecretGenerator {
			check("secretGenerator", kvFiles(g.KvPairSources)...)
		}
		if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
			errs = append(errs, &manifest.FieldError{File: file, Line: 1, Field: "helmCharts", Msg: "Helm charts are not rendered by tug; commit the rendered manifests"})
		}
	}
	return errs
}

// kvFiles lists the files a generator reads ("key=path" or "path").
func kvFiles(s types.KvPairSources) []string {
	out := slices.Clone(s.EnvSources)
	if s.EnvSource != "" {
		out = append(out, s.EnvSource)
	}
	for _, f := range s.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		out = append(out, f)
	}
	return out
}

// isRemoteRef reports whether kustomize would fetch ref from the network
// (an http(s) file or a git repository) rather than read it from the
// repository.
func isRemoteRef(ref string) bool {
	l := strings.ToLower(ref)
	first, _, _ := strings.Cut(l, "/")
	return strings.Contains(l, "://") || strings.HasPrefix(l, "git::") || strings.HasPrefix(l, "gh:") ||
		strings.Contains(first, "@") || strings.HasPrefix(l, "github.com") || strings.Contains(l, "?ref=") ||
		strings.Contains(l, "?version=")
}

// consumed lists which of dirs another of dirs uses as a resource, base or
// component: those are rendered as part of it, not on their own.
func (r *repoFS) consumed(dirs []string) map[string]bool {
	out := map[string]bool{}
	for _, dir := range dirs {
		k := r.kusts[dir]
		if k == nil {
			continue
		}
		for _, ref := range slices.Concat(k.Resources, k.Bases, k.Components) {
			if isRemoteRef(ref) || path.IsAbs(ref) {
				continue
			}
			target := path.Join(dir, ref)
			if target != dir && slices.Contains(dirs, target) {
				out[target] = true
			}
		}
	}
	return out
}

// build renders the kustomization in dir (from the repository root) with
// builtin generators and transformers only and decodes each object it
// yields. Objects and errors are placed at line 1 of the kustomization
// file: the rendered objects have no line of their own in the repository.
func (r *repoFS) build(dir string) (objs []manifest.Decoded, errs manifest.ErrorList, size int64) {
	file := r.kustFileOf(dir)
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.AddManagedbyLabel = false
	var out []byte
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("kustomize failed: %v", p)
			}
		}()
		m, err := krusty.MakeKustomizer(opts).Run(r.fs, kustomizeRoot+"/"+dir)
		if err != nil {
			return err
		}
		out, err = m.AsYaml()
		return err
	}()
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), kustomizeRoot+"/", "")
		return nil, manifest.ErrorList{{File: file, Line: 1, Msg: "kustomize build: " + msg}}, 0
	}
	if len(out) > MaxFileSize {
		return nil, manifest.ErrorList{{File: file, Line: 1, Msg: fmt.Sprintf(
			"kustomize renders %d bytes, more than the %d bytes tug accepts from one kustomization; split it", len(out), MaxFileSize)}}, int64(len(out))
	}
	decoded, err := manifest.DecodeFile(file, out)
	if l, ok := manifest.AsErrorList(err); ok {
		for _, e := range l {
			e.Line = 1
		}
		errs = l
	} else if err != nil {
		errs = manifest.ErrorList{{File: file, Line: 1, Msg: err.Error()}}
	}
	src := manifest.Source{File: file, Line: 1}
	for _, d := range decoded {
		if a := d.Object.GetAnnotations(); a != nil {
			a[manifest.SourceAnnotation] = src.String()
		}
		// A fresh Decoded: field lines of the rendered text mean nothing
		// in the repository, so every field is placed at the file's line 1.
		objs = append(objs, manifest.Decoded{Object: d.Object, Source: src})
	}
	return objs, errs, int64(len(out))
}

// renderKustomizations renders the kustomization directories among files
// (entries with kustomize set) for the commit whose root tree is root.
// Results are cached by directory and root tree hash: a kustomization may
// read any file of the repository, so any change renders it again.
func (r *Renderer) renderKustomizations(ctx context.Context, s storer.EncodedObjectStorer, root *object.Tree, files []treeFile) (map[fileKey]*decodedFile, manifest.ErrorList, error) {
	var dirs []string
	for _, f := range files {
		if f.kustomize {
			dirs = append(dirs, f.name)
		}
	}
	if len(dirs) == 0 {
		r.kust = nil
		return nil, nil, nil
	}
	out := make(map[fileKey]*decodedFile, len(dirs))
	defer func() { r.kust = out }()
	var missing []string
	for _, d := range dirs {
		if df, ok := r.kust[fileKey{d, root.Hash}]; ok {
			out[fileKey{d, root.Hash}] = df
		} else {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		rfs, err := loadRepoFS(ctx, s, root, r.maxTotal)
		if l, ok := manifest.AsErrorList(err); ok {
			return nil, l, nil
		}
		if err != nil {
			return nil, nil, err
		}
		all := make([]string, len(dirs))
		for i, d := range dirs {
			all[i] = kustDir(d)
		}
		if errs := rfs.checkLocal(all); len(errs) > 0 {
			return nil, errs, nil
		}
		consumed := rfs.consumed(all)
		for _, d := range missing {
			df := &decodedFile{}
			if !consumed[kustDir(d)] {
				df.objs, df.errs, df.size = rfs.build(kustDir(d))
			}
			out[fileKey{d, root.Hash}] = df
		}
	}
	return out, nil, nil
}

// kustDir is the directory of a kustomization file ("" for the root).
func kustDir(file string) string {
	if d := path.Dir(file); d != "." {
		return d
	}
	return ""
}
