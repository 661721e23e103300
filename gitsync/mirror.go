package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// supportedSchemes are the URL schemes tug fetches from, with go-git's
// transports: file (git-upload-pack), smart HTTP(S) and SSH.
var supportedSchemes = map[string]bool{"file": true, "http": true, "https": true, "ssh": true}

// remoteURL checks repo (a local path, a URL or an scp-like user@host:path)
// and returns the URL to fetch. URLs may not carry passwords or tokens: they
// would end up in logs and status; they belong in Credentials.PasswordFile.
// Errors show the URL with its credentials stripped.
func remoteURL(repo string) (string, error) {
	if repo == "" {
		return "", errors.New("repository is required")
	}
	if isSCPLike(repo) {
		if strings.Contains(repo[:strings.Index(repo, "@")], ":") {
			return "", errors.New("repository: credentials in the URL are refused; use --git-ssh-key-file")
		}
		return repo, nil
	}
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		shown := u.Redacted()
		if u.Opaque != "" {
			shown = u.Scheme + ":..."
		}
		if !supportedSchemes[u.Scheme] {
			return "", fmt.Errorf("repository %q: scheme %q is not supported; use a local path, file://, http(s):// or ssh://", shown, u.Scheme)
		}
		if u.Scheme == "file" && u.Path == "" {
			return "", fmt.Errorf("repository %q: file URL without a path", shown)
		}
		if u.User != nil {
			if _, hasPassword := u.User.Password(); hasPassword || u.Scheme != "ssh" {
				u.User = nil
				return "", fmt.Errorf("repository %q: credentials in the URL are refused (they would show in logs and status); "+
					"give the username with --git-username and the password or token in --git-password-file", u.String())
			}
		}
		return repo, nil
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", fmt.Errorf("repository %q: %w", repo, err)
	}
	return abs, nil
}

// mirror is the bare on-disk copy of one remote branch, tag or commit under
// the cache directory, keyed by a hash of the remote URL.
type mirror struct {
	url    string
	branch plumbing.ReferenceName // refs/heads/<branch> or refs/tags/<tag> on the remote; "" for a fixed commit
	local  plumbing.ReferenceName // refs/remotes/origin/<branch> or refs/tags/<tag> here
	commit plumbing.Hash          // the fixed commit, when one is tracked
	dir    string
	auth   transport.AuthMethod
	log    *slog.Logger
	repo   *git.Repository
	// maxPack cuts off a fetch whose pack is larger (a hostile or
	// misconfigured server); DefaultMaxPackSize unless set.
	maxPack int64
}

// DefaultMaxPackSize is the largest pack one fetch may bring.
const DefaultMaxPackSize = 512 << 20

// limitedStorage is the mirror's filesystem storage with a size limit on
// the packs that fetches write into it.
type limitedStorage struct {
	*filesystem.Storage
	max int64
}

// PackfileWriter is what go-git writes a fetched pack through.
func (s *limitedStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return &limitedWriter{WriteCloser: w, left: s.max, max: s.max}, nil
}

// errPackTooLarge is returned (wrapped) when a fetch is cut off.
var errPackTooLarge = errors.New("pack too large")

type limitedWriter struct {
	io.WriteCloser
	left, max int64
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		return 0, fmt.Errorf("the remote sent more than %d bytes in one fetch; cut off: %w", w.max, errPackTooLarge)
	}
	w.left -= int64(len(p))
	return w.WriteCloser.Write(p)
}

// trackedRef is what a mirror follows: exactly one of a branch, a tag or a
// fixed commit (a full SHA).
type trackedRef struct {
	Branch, Tag, Commit string
}

// String names the ref for logs and errors: "branch main", "tag v1",
// "commit 0123abc...".
func (r trackedRef) String() string {
	switch {
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Commit != "":
		return "commit " + r.Commit
	}
	return "branch " + r.Branch
}

func newMirror(cacheDir, remote string, ref trackedRef, auth transport.AuthMethod, log *slog.Logger) *mirror {
	sum := sha256.Sum256([]byte(remote))
	m := &mirror{
		url:     remote,
		dir:     filepath.Join(cacheDir, hex.EncodeToString(sum[:8])+".git"),
		auth:    auth,
		log:     log,
		maxPack: DefaultMaxPackSize,
	}
	switch {
	case ref.Tag != "":
		m.branch = plumbing.NewTagReferenceName(ref.Tag)
		m.local = m.branch
	case ref.Commit != "":
		m.commit = plumbing.NewHash(ref.Commit)
	default:
		m.branch = plumbing.NewBranchReferenceName(ref.Branch)
		m.local = plumbing.NewRemoteReferenceName("origin", ref.Branch)
	}
	return m
}

// what names the tracked ref in errors.
func (m *mirror) what() string {
	switch {
	case m.commit != plumbing.ZeroHash:
		return "commit " + m.commit.String()
	case m.branch.IsTag():
		return "tag " + m.branch.Short()
	}
	return "branch " + m.branch.Short()
}

// open opens the mirror, creating it (or recreating it when it is damaged).
func (m *mirror) open() error {
	if m.repo != nil {
		return nil
	}
	repo, err := git.PlainOpen(m.dir)
	if err == nil {
		if _, rerr := repo.Remote("origin"); rerr != nil {
			err = rerr
		}
	}
	if err != nil {
		if !errors.Is(err, git.ErrRepositoryNotExists) {
			m.log.Warn("recreating git cache", "dir", m.dir, "err", err)
		}
		if err := os.RemoveAll(m.dir); err != nil {
			return fmt.Errorf("git cache %s: %w", m.dir, err)
		}
		if err := os.MkdirAll(filepath.Dir(m.dir), 0o700); err != nil {
			return fmt.Errorf("git cache %s: %w", m.dir, err)
		}
		repo, err = git.PlainInit(m.dir, true)
		if err != nil {
			return fmt.Errorf("git cache %s: init: %w", m.dir, err)
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{m.url}}); err != nil {
			return fmt.Errorf("git cache %s: %w", m.dir, err)
		}
	}
	fs, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return fmt.Errorf("git cache %s: unexpected storage %T", m.dir, repo.Storer)
	}
	if m.repo, err = git.Open(&limitedStorage{Storage: fs, max: m.maxPack}, nil); err != nil {
		return fmt.Errorf("git cache %s: %w", m.dir, err)
	}
	return nil
}

// fetch brings the tracked ref up to date and returns the commit it names.
// A tag is fetched (and so re-resolved) every time, an annotated one peeled
// to its commit. A fixed commit is fetched (with every branch and tag, since
// servers need not serve a bare SHA) only until the mirror holds it; a
// commit no branch or tag reaches is an error.
func (m *mirror) fetch(ctx context.Context) (plumbing.Hash, error) {
	if err := m.open(); err != nil {
		return plumbing.ZeroHash, err
	}
	if m.commit != plumbing.ZeroHash {
		if _, err := object.GetCommit(m.repo.Storer, m.commit); err == nil {
			return m.commit, nil
		}
	}
	specs := []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", m.branch, m.local))}
	if m.commit != plumbing.ZeroHash {
		specs = []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	}
	err := m.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  m.url,
		RefSpecs:   specs,
		Tags:       git.NoTags,
		Auth:       m.auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		m.removeTempPacks()
		return plumbing.ZeroHash, fmt.Errorf("fetch %s of %s: %w", m.what(), m.url, err)
	}
	if m.commit != plumbing.ZeroHash {
		if _, err := object.GetCommit(m.repo.Storer, m.commit); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("fetch %s of %s: no branch or tag of the repository reaches it: %w", m.what(), m.url, err)
		}
		return m.commit, nil
	}
	ref, err := m.repo.Reference(m.local, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s of %s: %w", m.what(), m.url, err)
	}
	h, err := m.peel(ref.Hash())
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s of %s: %w", m.what(), m.url, err)
	}
	return h, nil
}

// peel follows annotated tags from h to the commit they name.
func (m *mirror) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		t, err := object.GetTag(m.repo.Storer, h)
		if err != nil {
			return h, nil // not a tag object: a commit (checked when it is read)
		}
		if t.TargetType != plumbing.CommitObject && t.TargetType != plumbing.TagObject {
			return plumbing.ZeroHash, fmt.Errorf("tag points to a %s, not a commit", t.TargetType)
		}
		h = t.Target
	}
	return plumbing.ZeroHash, errors.New("tag chain longer than 10")
}

func (m *mirror) storer() storer.EncodedObjectStorer { return m.repo.Storer }

// removeTempPacks deletes what an interrupted fetch left behind.
func (m *mirror) removeTempPacks() {
	tmp, _ := filepath.Glob(filepath.Join(m.dir, "objects", "pack", "tmp_*"))
	for _, p := range tmp {
		if err := os.Remove(p); err != nil {
			m.log.Warn("removing a partial pack", "file", p, "err", err)
		}
	}
}
