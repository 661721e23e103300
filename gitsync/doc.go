// Package gitsync turns commits of the tracked branch, tag or fixed commit
// into Revisions.
//
// What is tracked (Config, like Argo CD's targetRevision or Flux's ref):
// a branch (default "main"); or a tag, fetched and re-resolved on every
// fetch (an annotated tag is peeled to its commit), so a moved tag is
// applied like any new commit and a tag force-moved to a commit that does
// not descend from the applied one is recorded as a history rewrite; or a
// fixed commit (a full SHA), fetched with every branch and tag until the
// mirror holds it and never fetched again. A missing tag or commit is a
// fetch error like any other: nothing is pruned, the last good revision
// stays in force.
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
//	newer head fetched meanwhile (a trigger is pending)? ──yes──▶ record Superseded, process the newer head
//	  │
//	Sink.Apply(revision, record) ──error──▶ Status.Err, same SHA retried with back-off
//
// History: every attempt becomes a manifest.SyncRecord. A head that was
// seen but never applied because a newer head arrived first (during its
// render, or while its apply was being retried) is recorded with Outcome
// Superseded through the optional Recorder interface of the Sink (at most
// maxSupersede newer heads are followed in one sync, so a branch pushed to
// without pause still gets applied). A head that does not descend from the
// last applied commit (a force-push; Config.LastApplied carries it across
// restarts) is applied like any commit, and its record has Rewrite set and
// Previous naming the commit it replaces.
//
// Render is the pure part: the tree at one commit → a manifest.Revision or a
// manifest.ErrorList. It reads every *.yaml/*.yml file below the configured
// directory in path order, skipping names that start with "." (.git, .github,
// .pre-commit-config.yaml), and validates them together: a commit is applied
// whole or not at all. The Syncer's Renderer remembers the previous commit's
// directory listings (by tree hash) and decoded files (by path and blob
// hash), so a new commit costs a decode of the changed files only plus the
// validation of the whole tree: each file's per-object checks
// (manifest.ValidateObjects) are cached with its decode, and only the checks
// that span objects (manifest.ValidateSet) run on the whole set again.
//
// Kustomize: a directory holding a kustomization file (kustomization.yaml,
// kustomization.yml or Kustomization) is rendered with
// sigs.k8s.io/kustomize/api (krusty) instead of having its files decoded
// one by one. Kustomize reads an in-memory copy of the repository tree at
// the commit (mounted at /repo, so a ".." that climbs out of the
// repository finds nothing; symbolic links and files over MaxFileSize are
// left out), with builtin generators and transformers only (no exec or
// plugin generators), files loaded from the kustomization's own directory
// only (LoadRestrictionsRootOnly; bases may be anywhere in the repository).
// Before building, every kustomization of the repository is checked:
// remote bases and resources (http(s) or git URLs), absolute paths and
// Helm charts are refused with an error naming the kustomization file, so
// kustomize never touches the network or runs a program. A kustomization
// that another rendered kustomization uses as a base, resource or
// component is rendered only as part of it. Rendered objects and their
// errors point at line 1 of the kustomization file (their own lines are
// not in the repository); their source annotation says the same. A
// kustomization is rendered again whenever the commit's root tree changes
// (it may read any file of the repository).
//
// Hostile content is refused with bounded
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
