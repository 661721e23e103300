package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// supportedSchemes are the URL schemes tug fetches from. go-git picks the
// transport by scheme, so supporting http(s) or ssh means adding the scheme
// here (with Config.Auth for credentials) and a test that serves it.
var supportedSchemes = map[string]bool{"file": true}

// remoteURL checks repo (a local path or a URL) and returns the URL to fetch.
func remoteURL(repo string) (string, error) {
	if repo == "" {
		return "", errors.New("repository is required")
	}
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		if !supportedSchemes[u.Scheme] {
			return "", fmt.Errorf("repository %q: scheme %q is not supported yet; use a local path or file://", repo, u.Scheme)
		}
		if u.Scheme == "file" && u.Path == "" {
			return "", fmt.Errorf("repository %q: file URL without a path", repo)
		}
		return repo, nil
	}
	if strings.Contains(repo, "@") && strings.Contains(repo, ":") {
		return "", fmt.Errorf("repository %q: ssh is not supported yet; use a local path or file://", repo)
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", fmt.Errorf("repository %q: %w", repo, err)
	}
	return abs, nil
}

// mirror is the bare on-disk copy of one remote branch under the cache
// directory, keyed by a hash of the remote URL.
type mirror struct {
	url    string
	branch plumbing.ReferenceName // refs/heads/<branch> on the remote
	local  plumbing.ReferenceName // refs/remotes/origin/<branch> here
	dir    string
	auth   transport.AuthMethod
	log    *slog.Logger
	repo   *git.Repository
}

func newMirror(cacheDir, remote, branch string, auth transport.AuthMethod, log *slog.Logger) *mirror {
	sum := sha256.Sum256([]byte(remote))
	return &mirror{
		url:    remote,
		branch: plumbing.NewBranchReferenceName(branch),
		local:  plumbing.NewRemoteReferenceName("origin", branch),
		dir:    filepath.Join(cacheDir, hex.EncodeToString(sum[:8])+".git"),
		auth:   auth,
		log:    log,
	}
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
	m.repo = repo
	return nil
}

// fetch brings the branch up to date and returns its head commit.
func (m *mirror) fetch(ctx context.Context) (plumbing.Hash, error) {
	if err := m.open(); err != nil {
		return plumbing.ZeroHash, err
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", m.branch, m.local))
	err := m.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  m.url,
		RefSpecs:   []config.RefSpec{spec},
		Tags:       git.NoTags,
		Auth:       m.auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, fmt.Errorf("fetch branch %s of %s: %w", m.branch.Short(), m.url, err)
	}
	ref, err := m.repo.Reference(m.local, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch branch %s of %s: %w", m.branch.Short(), m.url, err)
	}
	return ref.Hash(), nil
}

func (m *mirror) storer() storer.EncodedObjectStorer { return m.repo.Storer }
