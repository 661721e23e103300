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
// whole or not at all.
//
// Repositories are given as a local path or a file:// URL and fetched with
// go-git (whose file transport runs git-upload-pack); other schemes are
// refused by New until they are supported (see supportedSchemes).
//
// Usage:
//
//	s, err := gitsync.New(gitsync.Config{Repo: "/srv/cluster.git", CacheDir: dataDir + "/git", Logger: log}, sink)
//	go s.Run(ctx)
//	s.Trigger("webhook") // from a webhook or an fsnotify watch
//	st := s.Status()      // for the API and the CLI
package gitsync
