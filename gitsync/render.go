package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"sigs.k8s.io/yaml"

	"github.com/tug-dev/tug/manifest"
)

// Limits on what one commit may hold; content over them is refused with a
// clear error before it is read, so memory stays bounded.
const (
	MaxFileSize     = 4 << 20  // bytes in one manifest file
	MaxRevisionSize = 64 << 20 // bytes in all the manifest files of one commit
	maxRepoConfig   = 64 << 10 // bytes in .tug.yaml
)

// RepoConfigFile, at the root of the repository, holds per-repository
// options. Today it has one:
//
//	allowEmpty: true   # a commit that renders zero objects is applied (and prunes everything)
//
// Without it, such a commit is rejected: a wrong --path or an emptied tree
// never wipes the cluster.
const RepoConfigFile = ".tug.yaml"

// RepoConfig is the content of RepoConfigFile.
type RepoConfig struct {
	AllowEmpty bool `json:"allowEmpty"`
}

// Render reads the tree of commit sha from s and turns the manifests under
// dir (a slash-separated directory of the repository, "" for the root) into
// a Revision. It is NewRenderer(false).Render: nothing is cached.
func Render(ctx context.Context, s storer.EncodedObjectStorer, sha plumbing.Hash, dir string) (*manifest.Revision, error) {
	return NewRenderer(false).Render(ctx, s, sha, dir)
}

// Renderer renders commits, reusing what it decoded for the previous one:
// unchanged directories (same tree hash) are not walked again and unchanged
// files (same path and blob hash) are not decoded again, so a one-file
// change costs one decode plus the validation of the whole tree. It keeps
// only what the last render used. A Renderer is not safe for concurrent use.
type Renderer struct {
	allowEmpty bool
	maxTotal   int64 // MaxRevisionSize; smaller in tests
	files      map[fileKey]*decodedFile
	trees      map[treeKey][]treeFile
	kust       map[fileKey]*decodedFile // rendered kustomizations by file name and root tree hash

	// decodedFiles and reusedFiles count the last render's work.
	decodedFiles, reusedFiles int
}

type fileKey struct {
	name string
	hash plumbing.Hash
}

type treeKey struct {
	prefix string
	hash   plumbing.Hash
}

// decodedFile is one file's decode result; the objects are shared between
// revisions, which never change them.
type decodedFile struct {
	objs []manifest.Decoded
	errs manifest.ErrorList // decode errors
	size int64

	// objErrs is manifest.ValidateObjects(objs), computed once: it
	// depends on the objects alone.
	objErrs   manifest.ErrorList
	validated bool
}

// objectErrors returns the per-object validation errors of df, computing
// them the first time.
func (df *decodedFile) objectErrors() manifest.ErrorList {
	if !df.validated {
		df.objErrs, df.validated = manifest.ValidateObjects(df.objs), true
	}
	return df.objErrs
}

// NewRenderer returns an empty Renderer. allowEmpty accepts commits that
// render zero objects, as RepoConfigFile's allowEmpty does per repository.
func NewRenderer(allowEmpty bool) *Renderer {
	return &Renderer{allowEmpty: allowEmpty, maxTotal: MaxRevisionSize, files: map[fileKey]*decodedFile{}, trees: map[treeKey][]treeFile{}}
}

// Render reads the tree of commit sha from s and turns the manifests under
// dir into a Revision.
//
// Every *.yaml and *.yml file under dir is decoded, recursively and in path
// order; files and directories whose name starts with "." are skipped, as are
// submodules. Error file names are relative to the repository root. When the
// commit does not validate, holds hostile content (a symbolic link, a file
// over MaxFileSize, more than MaxRevisionSize in all, text that is not
// UTF-8, YAML alias bombs or deep nesting), or renders no object at all
// without allowEmpty, Render returns a manifest.ErrorList and no Revision;
// any other error (a missing object, a cancelled ctx) means the commit could
// not be read.
func (r *Renderer) Render(ctx context.Context, s storer.EncodedObjectStorer, sha plumbing.Hash, dir string) (*manifest.Revision, error) {
	commit, err := object.GetCommit(s, sha)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", sha, err)
	}
	root, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: tree: %w", sha, err)
	}
	repoCfg, cfgErr := readRepoConfig(s, root)
	if cfgErr != nil && !isErrorList(cfgErr) {
		return nil, fmt.Errorf("commit %s: %w", sha, cfgErr)
	}
	tree := root
	dir = cleanDir(dir)
	if dir != "" {
		tree, err = root.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, manifest.ErrorList{{File: dir, Msg: fmt.Sprintf("directory %q does not exist at commit %s; check --path", dir, sha.String()[:12])}}
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s: directory %q: %w", sha, dir, err)
		}
	}
	trees := map[treeKey][]treeFile{}
	files, err := r.manifestFiles(ctx, s, tree, dir, trees)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", sha, err)
	}

	var (
		decoded []manifest.Decoded
		errs    manifest.ErrorList
		objErrs manifest.ErrorList
		total   int64
		used    = make(map[fileKey]*decodedFile, len(files))
	)
	if l, ok := manifest.AsErrorList(cfgErr); ok {
		errs = append(errs, l...)
	}
	kust, kerrs, err := r.renderKustomizations(ctx, s, root, files)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", sha, err)
	}
	errs = append(errs, kerrs...)
	r.decodedFiles, r.reusedFiles = 0, 0
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.problem != "" {
			errs = append(errs, &manifest.FieldError{File: f.name, Msg: f.problem})
			continue
		}
		key := fileKey{f.name, f.hash}
		df, ok := r.files[key]
		if f.kustomize {
			if df, ok = kust[fileKey{f.name, root.Hash}]; !ok {
				continue // refused as a whole: kerrs says why
			}
		} else if ok {
			r.reusedFiles++
		} else {
			df, err = decodeBlob(s, f.name, f.hash)
			if err != nil {
				return nil, fmt.Errorf("commit %s: read %s: %w", sha, f.name, err)
			}
			r.decodedFiles++
		}
		total += df.size
		if total > r.maxTotal {
			errs = append(errs, &manifest.FieldError{File: f.name, Msg: fmt.Sprintf(
				"the manifests of this commit exceed %d bytes in all; tug stops reading here (split the repository or use --path)", r.maxTotal)})
			break
		}
		if !f.kustomize {
			used[key] = df
		}
		decoded = append(decoded, df.objs...)
		errs = append(errs, df.errs...)
		objErrs = append(objErrs, df.objectErrors()...)
	}
	// Per-object checks come from the cache (unchanged files are not
	// checked again); the checks that span objects run on the whole set.
	if l, ok := manifest.AsErrorList(manifest.ValidateSet(decoded, objErrs)); ok {
		errs = append(errs, l...)
	}
	// Keep what this commit used, valid or not: the next commit is most
	// likely a fix of this one.
	r.files, r.trees = used, trees
	if len(errs) > 0 {
		return nil, errs
	}
	if len(decoded) == 0 && !r.allowEmpty && !repoCfg.AllowEmpty {
		where := "the repository root"
		if dir != "" {
			where = fmt.Sprintf("directory %q", dir)
		}
		return nil, manifest.ErrorList{{Msg: fmt.Sprintf("commit renders zero objects: no manifests under %s; check --path "+
			"(to apply an empty commit on purpose, which deletes everything, commit %s with allowEmpty: true)", where, RepoConfigFile)}}
	}

	rev := &manifest.Revision{
		SHA:     sha.String(),
		Author:  fmt.Sprintf("%s <%s>", commit.Author.Name, commit.Author.Email),
		Message: strings.TrimRight(commit.Message, "\n"),
		Time:    commit.Committer.When,
		Objects: make([]manifest.Object, len(decoded)),
	}
	for i, d := range decoded {
		rev.Objects[i] = d.Object
	}
	return rev, nil
}

func isErrorList(err error) bool {
	_, ok := manifest.AsErrorList(err)
	return ok
}

// readRepoConfig reads RepoConfigFile from the root tree; a missing file is
// the zero RepoConfig, a bad one a manifest.ErrorList.
func readRepoConfig(s storer.EncodedObjectStorer, root *object.Tree) (RepoConfig, error) {
	var cfg RepoConfig
	entry, err := root.FindEntry(RepoConfigFile)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if !entry.Mode.IsFile() || entry.Mode == filemode.Symlink {
		return cfg, manifest.ErrorList{{File: RepoConfigFile, Msg: "must be a regular file"}}
	}
	data, problem, err := readBlob(s, entry.Hash, maxRepoConfig)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", RepoConfigFile, err)
	}
	if problem != "" {
		return cfg, manifest.ErrorList{{File: RepoConfigFile, Msg: problem}}
	}
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return cfg, manifest.ErrorList{{File: RepoConfigFile, Msg: fmt.Sprintf("%v (the only option is allowEmpty: true|false)", err)}}
	}
	return cfg, nil
}

// decodeBlob reads and decodes one manifest file; limits and encoding
// problems become errors of the file, not failures.
func decodeBlob(s storer.EncodedObjectStorer, name string, h plumbing.Hash) (*decodedFile, error) {
	data, problem, err := readBlob(s, h, MaxFileSize)
	if err != nil {
		return nil, err
	}
	df := &decodedFile{size: int64(len(data))}
	if problem != "" {
		df.errs = manifest.ErrorList{{File: name, Msg: problem}}
		return df, nil
	}
	if line, ok := invalidUTF8(data); !ok {
		df.errs = manifest.ErrorList{{File: name, Line: line, Msg: "not valid UTF-8 text; save the file as UTF-8"}}
		return df, nil
	}
	objs, err := manifest.DecodeFile(name, data)
	df.objs = objs
	if l, ok := manifest.AsErrorList(err); ok {
		df.errs = l
	} else if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return df, nil
}

// invalidUTF8 returns the line of the first invalid UTF-8 byte.
func invalidUTF8(data []byte) (int, bool) {
	if utf8.Valid(data) {
		return 0, true
	}
	line := 1
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if r == utf8.RuneError && n == 1 {
			return line, false
		}
		if r == '\n' {
			line++
		}
		data = data[n:]
	}
	return line, false
}

// cleanDir normalises a repository subdirectory: "./deploy/" → "deploy",
// "/" or "." → "".
func cleanDir(dir string) string {
	dir = path.Clean("/" + strings.TrimSpace(dir))
	return strings.TrimPrefix(dir, "/")
}

type treeFile struct {
	name    string // path from the repository root
	hash    plumbing.Hash
	problem string // why the file cannot be read as a manifest

	// kustomize marks the kustomization file of a directory rendered
	// with kustomize; the directory's other files are not listed.
	kustomize bool
}

// manifestFiles lists the manifest files below tree (found at dir), sorted
// by path. Subtrees already listed by the previous render (same path and
// tree hash) are taken from r.trees; every subtree listed is put in seen.
func (r *Renderer) manifestFiles(ctx context.Context, s storer.EncodedObjectStorer, tree *object.Tree, dir string, seen map[treeKey][]treeFile) ([]treeFile, error) {
	var walk func(h plumbing.Hash, t *object.Tree, prefix string) ([]treeFile, error)
	walk = func(h plumbing.Hash, t *object.Tree, prefix string) ([]treeFile, error) {
		key := treeKey{prefix, h}
		if files, ok := r.trees[key]; ok {
			seen[key] = files
			return files, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if t == nil {
			var err error
			if t, err = object.GetTree(s, h); err != nil {
				return nil, fmt.Errorf("directory %s: %w", prefix, err)
			}
		}
		if kname, ok := kustomizationFile(t); ok {
			files := []treeFile{{name: path.Join(prefix, kname), kustomize: true}}
			seen[key] = files
			return files, nil
		}
		var out []treeFile
		for _, e := range t.Entries {
			if strings.HasPrefix(e.Name, ".") {
				continue
			}
			name := path.Join(prefix, e.Name)
			switch {
			case e.Mode == filemode.Dir:
				sub, err := walk(e.Hash, nil, name)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			case e.Mode == filemode.Submodule || !isManifest(e.Name):
			case e.Mode == filemode.Symlink:
				out = append(out, treeFile{name: name, problem: "symbolic links are not followed; commit the manifest itself"})
			default:
				out = append(out, treeFile{name: name, hash: e.Hash})
			}
		}
		seen[key] = out
		return out, nil
	}
	files, err := walk(tree.Hash, tree, dir)
	if err != nil {
		return nil, err
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b treeFile) int { return strings.Compare(a.name, b.name) })
	return files, nil
}

func isManifest(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// readBlob reads a blob of at most limit bytes; it returns a problem
// instead when the blob is larger.
func readBlob(s storer.EncodedObjectStorer, h plumbing.Hash, limit int64) ([]byte, string, error) {
	blob, err := object.GetBlob(s, h)
	if err != nil {
		return nil, "", err
	}
	if blob.Size > limit {
		return nil, fmt.Sprintf("file is %d bytes, larger than the %d bytes tug accepts; split it", blob.Size, limit), nil
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, "", err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err == nil && int64(len(data)) > limit {
		return nil, fmt.Sprintf("file is larger than the %d bytes tug accepts; split it", limit), nil
	}
	return data, "", err
}
