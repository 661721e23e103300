package printers

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/health"
	"github.com/tug-dev/tug/manifest"
)

// ShortSHA returns the first seven characters of a commit SHA.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// FirstLine returns the first line of a commit message.
func FirstLine(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(line)
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return fmt.Sprintf("%s (%s ago)", t.Format("2006-01-02 15:04:05 MST"), Age(t, now))
}

// PrintStatus writes the answer of /tug/v1/status for people: the commit
// in force, a newer commit that was rejected and why (one line per error),
// the fetcher's live state, the webhook counters (when webhooks are
// enabled), object counts and pods by phase.
func PrintStatus(w io.Writer, st *api.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", label, cell(fmt.Sprintf(format, args...)))
	}
	repo := st.Repo
	if repo == "" {
		repo = "<unknown>"
	}
	switch {
	case st.Tag != "":
		repo += " (tag " + st.Tag + ")"
	case st.Commit != "":
		repo += " (commit " + ShortSHA(st.Commit) + ", fixed)"
	case st.Branch != "":
		repo += " (branch " + st.Branch + ")"
	}
	line("Repository:", "%s", repo)

	if a := st.Applied; a != nil {
		line("Applied:", "%s %s", ShortSHA(a.SHA), FirstLine(a.Message))
		line("", "by %s, applied %s", orUnknown(a.Author), when(a.Finished, now))
	} else {
		line("Applied:", "nothing yet")
	}
	if r := st.Rejected; r != nil {
		line("Rejected:", "%s %s", ShortSHA(r.SHA), FirstLine(r.Message))
		line("", "by %s, rejected %s; the applied commit stays in force", orUnknown(r.Author), when(r.Finished, now))
		for _, e := range r.Errors {
			line("", "  %s", e)
		}
	}
	if h := st.Health; h != nil {
		healthLines(h, line)
	}
	if s := st.Sync; s != nil {
		switch {
		case s.LastFetch.IsZero():
			line("Fetch:", "no fetch yet")
		case s.LastFetchedSHA != "":
			line("Fetch:", "last fetch %s ago, head %s", Age(s.LastFetch, now), ShortSHA(s.LastFetchedSHA))
		default:
			line("Fetch:", "last fetch %s ago", Age(s.LastFetch, now))
		}
		if s.LastFetchError != "" {
			since := ""
			if !s.LastSuccess.IsZero() {
				since = fmt.Sprintf(" (last success %s ago)", Age(s.LastSuccess, now))
			}
			line("Fetch error:", "%s%s", s.LastFetchError, since)
		}
	}
	if h := st.Webhooks; h != nil {
		line("Webhooks:", "triggered %d, ignored %d, duplicates %d", h.Triggered, h.Ignored, h.Duplicates)
		line("", "refused: unauthorized %d, too large %d, bad requests %d; panics %d", h.Unauthorized, h.TooLarge, h.BadRequests, h.Panics)
	}
	line("Objects:", "%s", counts(st.Objects, manifest.Kinds()))
	line("Pods:", "%s", counts(st.Pods, []string{"Running", "Pending", "Succeeded", "Failed", "Unknown"}))
	return tw.Flush()
}

// maxHealthLines is how many unhealthy objects PrintStatus names.
const maxHealthLines = 10

// healthLines writes the roll-up: "Healthy (12 objects)", or one line per
// unhealthy object, worst first: "Degraded — Deployment shop/web:
// ProgressDeadlineExceeded: <message>".
func healthLines(h *api.Health, line func(label, format string, args ...any)) {
	total := 0
	for _, n := range h.Counts {
		total += n
	}
	if len(h.Unhealthy) == 0 {
		line("Health:", "%s (%d %s)", h.Status, total, plural(total, "object", "objects"))
		return
	}
	label := "Health:"
	for i, r := range h.Unhealthy {
		if i == maxHealthLines {
			line("", "+ %d more not healthy (tug status --objects)", len(h.Unhealthy)-i)
			break
		}
		line(label, "%s", HealthLine(r))
		label = ""
	}
}

// HealthLine renders one object's health: "Progressing — Deployment
// shop/web: FailedCreate: pods "web-abc-" is forbidden: ...".
func HealthLine(r health.Result) string {
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	s := fmt.Sprintf("%s — %s %s", r.Status, r.Kind, name)
	for _, part := range []string{r.Reason, r.Message} {
		if part != "" {
			s += ": " + part
		}
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// PrintHealth writes every object's health as a table: KIND NAMESPACE NAME
// HEALTH REASON MESSAGE (tug status --objects).
func PrintHealth(w io.Writer, objs []health.Result, opts Options) error {
	if len(objs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if !opts.NoHeaders {
		fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tHEALTH\tREASON\tMESSAGE")
	}
	for _, r := range objs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(r.Kind), cell(orNone(r.Namespace)), cell(r.Name), cell(string(r.Status)),
			cell(orNone(r.Reason)), cell(orNone(r.Message)))
	}
	return tw.Flush()
}

// counts renders non-zero counts as "Running 3, Pending 1": the keys in
// order first, then any others sorted.
func counts(m map[string]int, order []string) string {
	seen := map[string]bool{}
	var parts []string
	add := func(k string) {
		if seen[k] || m[k] == 0 {
			return
		}
		seen[k] = true
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	for _, k := range order {
		add(k)
	}
	var rest []string
	for k := range m {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// PrintHistory writes sync records as a table: SHA OUTCOME TRIGGER AGE
// MESSAGE, in the order given (newest first from the server).
func PrintHistory(w io.Writer, recs []manifest.SyncRecord, opts Options) error {
	if len(recs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if !opts.NoHeaders {
		fmt.Fprintln(tw, "SHA\tOUTCOME\tTRIGGER\tAGE\tMESSAGE")
	}
	for _, r := range recs {
		t := r.Finished
		if t.IsZero() {
			t = r.Started
		}
		outcome := r.Outcome
		if r.Rewrite {
			// A force-push: the commit does not descend from the one before.
			outcome += " (rewrite of " + ShortSHA(r.Previous) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(ShortSHA(r.SHA)), cell(outcome), cell(orNone(r.Trigger)),
			Age(t, opts.Now), cell(FirstLine(r.Message)))
	}
	return tw.Flush()
}
