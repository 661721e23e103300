package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchRetry is how long a RefWatcher waits before setting up its watch
// again when the repository is missing or was removed.
const watchRetry = 5 * time.Second

// Triggerer is what a RefWatcher or a webhook handler pokes; *Syncer is one.
type Triggerer interface {
	Trigger(reason string)
}

// RefWatcher watches the refs of a local repository (HEAD, packed-refs and
// everything under refs/) with fsnotify and calls Trigger(TriggerFSNotify)
// whenever one changes, so a local commit starts a sync at once instead of
// at the next poll. Lock files (*.lock) are ignored: git renames the lock
// onto the ref when the update is complete, which is the event that counts.
// Polling stays in force; the watcher only makes it faster.
type RefWatcher struct {
	gitDir string
	target Triggerer
	log    *slog.Logger
	retry  time.Duration
}

// NewRefWatcher returns a watcher for repo (a local path or file:// URL, as
// given to Config.Repo), or ok=false when repo is not local. The repository
// need not exist yet: Run waits for it.
func NewRefWatcher(repo string, target Triggerer, log *slog.Logger) (w *RefWatcher, ok bool) {
	dir, ok := localRepoDir(repo)
	if !ok {
		return nil, false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RefWatcher{gitDir: dir, target: target, log: log.With("watch", dir), retry: watchRetry}, true
}

// localRepoDir returns the directory of a local repository given as a path
// or a file:// URL.
func localRepoDir(repo string) (string, bool) {
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		if u.Scheme != "file" || u.Path == "" {
			return "", false
		}
		repo = u.Path
	}
	if repo == "" || (strings.Contains(repo, "@") && strings.Contains(repo, ":")) {
		return "", false
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", false
	}
	return abs, true
}

// resolveGitDir finds the git directory of a working tree (dir/.git, or the
// directory a ".git" file points to) or of a bare repository (dir itself).
func resolveGitDir(dir string) (string, error) {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case err == nil && fi.IsDir():
		return dotGit, nil
	case err == nil:
		data, err := os.ReadFile(dotGit)
		if err != nil {
			return "", err
		}
		line, ok := bytes.CutPrefix(bytes.TrimSpace(data), []byte("gitdir:"))
		if !ok {
			return "", fmt.Errorf("%s: not a gitdir file", dotGit)
		}
		p := string(bytes.TrimSpace(line))
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return "", fmt.Errorf("%s is not a git repository: %w", dir, err)
	}
	return dir, nil
}

// Run watches until ctx ends and then returns nil. When the repository is
// missing, or its watch fails, it logs and tries again every few seconds;
// polling covers the gap.
func (w *RefWatcher) Run(ctx context.Context) error {
	warned := false
	for {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !warned {
			w.log.Warn("cannot watch the repository's refs; relying on polling until it can", "err", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.retry):
		}
	}
}

// watch sets up one fsnotify watcher and serves it until ctx ends or the
// repository goes away.
func (w *RefWatcher) watch(ctx context.Context) error {
	gitDir, err := resolveGitDir(w.gitDir)
	if err != nil {
		return err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	// The git directory itself: HEAD and packed-refs are replaced by rename.
	if err := fw.Add(gitDir); err != nil {
		return fmt.Errorf("watch %s: %w", gitDir, err)
	}
	refs := filepath.Join(gitDir, "refs")
	if err := addTree(fw, refs); err != nil {
		return err
	}
	w.log.Debug("watching refs", "gitdir", gitDir)
	// A ref may have moved while the watch was being set up.
	w.target.Trigger(TriggerFSNotify)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("fsnotify closed")
			}
			// An overflow loses events: sync to be safe.
			w.log.Warn("fsnotify error", "err", err)
			w.target.Trigger(TriggerFSNotify)
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("fsnotify closed")
			}
			if ev.Name == gitDir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("%s was removed", gitDir)
			}
			if ev.Has(fsnotify.Create) && isUnder(refs, ev.Name) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					if err := addTree(fw, ev.Name); err != nil {
						w.log.Warn("watching new ref directory", "err", err)
					}
				}
			}
			if isRefPath(gitDir, ev.Name) {
				w.target.Trigger(TriggerFSNotify)
			}
		}
	}
}

// isRefPath reports whether a change to name may move a ref.
func isRefPath(gitDir, name string) bool {
	if strings.HasSuffix(name, ".lock") {
		return false
	}
	rel, err := filepath.Rel(gitDir, name)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	return rel == "HEAD" || rel == "packed-refs" || strings.HasPrefix(rel, "refs/")
}

func isUnder(dir, name string) bool {
	return strings.HasPrefix(name, dir+string(filepath.Separator))
}

// addTree watches dir and every directory below it (fsnotify is not
// recursive). Symbolic links are not followed.
func addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed while walking
			}
			return err
		}
		if d.IsDir() {
			if err := fw.Add(p); err != nil {
				return fmt.Errorf("watch %s: %w", p, err)
			}
		}
		return nil
	})
}
