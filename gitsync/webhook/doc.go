// Package webhook receives push notifications from Git hosts and turns the
// valid ones into a sync trigger. A hook is only a hint: nothing in its
// payload is applied; the Syncer fetches the branch and renders what it finds.
//
// Endpoints (mounted under /hooks/ on the API listener), each enabled only
// when it has a secret:
//
//	/hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>  (no SHA-1 fallback)
//	/hooks/gitlab   X-Gitlab-Token: <secret>                                   (constant-time compare)
//	/hooks/gitea    X-Gitea-Signature: <hex HMAC-SHA256 of the body>
//	/hooks/generic  X-Tug-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//
// Every request goes through the same steps, and stops at the first that fails:
//
//	POST only ─────────────────────────────────────────▶ 405
//	provider enabled? ─────────────────────────────────▶ 404
//	GitLab token (before reading the body) ────────────▶ 401
//	body ≤ 1 MiB, read within 10 s ────────────────────▶ 413 / 408
//	signature of the raw body (before any parsing) ────▶ 401
//	delivery ID seen before? ──────────────────────────▶ 202 "duplicate", no trigger
//	ping ──────────────────────────────────────────────▶ 200, no trigger
//	not a push, or a push to another ref ──────────────▶ 202 "ignored", no trigger
//	push to the tracked branch (or tag, Config.Tag) ───▶ Trigger("webhook"), 202
//
// The trigger never blocks and bursts coalesce in the Syncer into one
// fetch. The generic endpoint accepts an empty body (any signed request is
// a push to the tracked branch) or JSON with an optional "ref". A panic in
// the handler is recovered, answered with 500 and counted in Stats. A tag
// push (GitLab's "Tag Push Hook" included) triggers only when Config.Tag
// names that tag; while a branch is tracked it is ignored.
//
// Secrets come from files (LoadSecrets) and are never logged.
//
// Usage:
//
//	secrets, err := webhook.LoadSecrets([]string{"github=/etc/tug/github-secret"})
//	h, err := webhook.New(webhook.Config{Secrets: secrets, Branch: "main", Target: syncer, Logger: log})
//	mux.Handle("/hooks/", h)
package webhook
