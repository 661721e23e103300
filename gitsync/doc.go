// Package gitsync turns commits of the tracked branch into Revisions.
//
// A Syncer keeps a bare clone of the repository under Config.CacheDir (one
// directory per remote URL, named by a hash of it), fetches the branch on
// start, on every poll tick (PollInterval ±10%) and on every Trigger, and
// processes each new head commit once:
//
//	fetch ──error──▶ Status.Err, retry with back-off (1s … PollInterval); the sink is not called
//	  │
//	head already applied or rejected? ──yes──▶ nothing to do
//	  │
//	Render(commit, Path) ──ErrorList──▶ Sink.Reject(record with "file:line: ..." errors)
//	  │                                   (also for a commit that renders zero objects)
//	  ▼
//	Sink.Apply(revision, record) ──error──▶ Status.Err, same SHA retried with back-off
//
// Render is the pure part: the tree at one commit → a manifest.Revision or a
// manifest.ErrorList. It reads every *.yaml/*.yml file below the configured
// directory in path order, skipping names that start with "." (.git, .github,
// .pre-commit-config.yaml), and validates them together: a commit is applied
// whole or not at all. The Syncer's Renderer remembers the previous commit's
// directory listings (by tree hash) and decoded files (by path and blob
// hash), so a new commit costs a decode of the changed files only plus the
// validation of the whole tree. Hostile content is refused with bounded
// memory: symbolic links, files over MaxFileSize (4 MiB), commits over
// MaxRevisionSize (64 MiB of manifests), non-UTF-8 text, YAML alias bombs
// and nesting deeper than 10,000. A commit that renders zero objects is
// refused unless Config.AllowEmpty is set or the repository commits
// RepoConfigFile (.tug.yaml) with "allowEmpty: true".
//
// Triggers (recorded in each SyncRecord): TriggerStart, TriggerPoll,
// TriggerFSNotify from a RefWatcher, which watches a local repository's
// HEAD, packed-refs and refs/ with fsnotify, and TriggerWebhook from package
// gitsync/webhook. Triggers coalesce: a burst while one is pending is one
// fetch. Offline, DiffObjects and WriteDiff show what a commit changes (tug
// diff).
//
// Repositories are a local path, file://, smart http(s):// or ssh:// (or
// user@host:path), fetched with go-git; a fetch is cut off after
// Config.FetchTimeout or when its pack exceeds Config.MaxPackSize (a
// hostile or runaway server), and retried with back-off. Credentials come from files (Credentials): an HTTP
// password or token sent as basic auth, or an SSH key checked against a
// known_hosts file that must list the server (an unknown or changed host
// key fails the fetch; host keys are never ignored). URLs carrying
// credentials are refused, so URLs in logs, errors and status hold none.
//
// Usage:
//
//	s, err := gitsync.New(gitsync.Config{Repo: "/srv/cluster.git", CacheDir: dataDir + "/git", Logger: log}, sink)
//	go s.Run(ctx)
//	if w, ok := gitsync.NewRefWatcher(repo, s, log); ok {
//		go w.Run(ctx) // local repositories: a commit syncs at once
//	}
//	s.Trigger(gitsync.TriggerWebhook) // what package webhook does
//	st := s.Status()      // for the API and the CLI
package gitsync
