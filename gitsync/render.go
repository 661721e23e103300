package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tug-dev/tug/manifest"
)

// Render reads the tree of commit sha from s and turns the manifests under
// dir (a slash-separated directory of the repository, "" for the root) into
// a Revision.
//
// Every *.yaml and *.yml file under dir is decoded, recursively and in path
// order; files and directories whose name starts with "." are skipped, as are
// submodules. Error file names are relative to the repository root. When the
// commit does not validate, or renders no object at all, Render returns a
// manifest.ErrorList and no Revision; any other error (a missing object, a
// cancelled ctx) means the commit could not be read.
func Render(ctx context.Context, s storer.EncodedObjectStorer, sha plumbing.Hash, dir string) (*manifest.Revision, error) {
	commit, err := object.GetCommit(s, sha)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", sha, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: tree: %w", sha, err)
	}
	dir = cleanDir(dir)
	if dir != "" {
		tree, err = tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, manifest.ErrorList{{File: dir, Msg: fmt.Sprintf("directory %q does not exist at commit %s; check --path", dir, sha.String()[:12])}}
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s: directory %q: %w", sha, dir, err)
		}
	}
	files, err := manifestFiles(ctx, s, tree, dir)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", sha, err)
	}

	var (
		decoded []manifest.Decoded
		errs    manifest.ErrorList
	)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.problem != "" {
			errs = append(errs, &manifest.FieldError{File: f.name, Msg: f.problem})
			continue
		}
		data, problem, err := readBlob(s, f.hash)
		if err != nil {
			return nil, fmt.Errorf("commit %s: read %s: %w", sha, f.name, err)
		}
		if problem != "" {
			errs = append(errs, &manifest.FieldError{File: f.name, Msg: problem})
			continue
		}
		objs, err := manifest.DecodeFile(f.name, data)
		decoded = append(decoded, objs...)
		if l, ok := manifest.AsErrorList(err); ok {
			errs = append(errs, l...)
		} else if err != nil {
			return nil, fmt.Errorf("commit %s: decode %s: %w", sha, f.name, err)
		}
	}
	if l, ok := manifest.AsErrorList(manifest.Validate(decoded)); ok {
		errs = append(errs, l...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(decoded) == 0 {
		where := "the repository root"
		if dir != "" {
			where = fmt.Sprintf("directory %q", dir)
		}
		return nil, manifest.ErrorList{{Msg: fmt.Sprintf("commit renders zero objects: no manifests under %s; check --path", where)}}
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
}

// manifestFiles lists the manifest files below tree (found at dir), sorted
// by path.
func manifestFiles(ctx context.Context, s storer.EncodedObjectStorer, tree *object.Tree, dir string) ([]treeFile, error) {
	var out []treeFile
	var walk func(t *object.Tree, prefix string) error
	walk = func(t *object.Tree, prefix string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range t.Entries {
			if strings.HasPrefix(e.Name, ".") {
				continue
			}
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
			case e.Mode == filemode.Submodule || !isManifest(e.Name):
			case e.Mode == filemode.Symlink:
				out = append(out, treeFile{name: name, problem: "symbolic links are not followed; commit the manifest itself"})
			default:
				out = append(out, treeFile{name: name, hash: e.Hash})
			}
		}
		return nil
	}
	if err := walk(tree, dir); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b treeFile) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func isManifest(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// readBlob reads a blob; it returns a problem instead when the blob is
// larger than manifest.MaxFileSize.
func readBlob(s storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, string, error) {
	blob, err := object.GetBlob(s, h)
	if err != nil {
		return nil, "", err
	}
	if blob.Size > manifest.MaxFileSize {
		return nil, fmt.Sprintf("file is %d bytes, larger than the %d bytes tug accepts; split it", blob.Size, manifest.MaxFileSize), nil
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return data, "", err
}
