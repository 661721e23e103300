package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/printers"
	"github.com/tug-dev/tug/reconciler"
	"github.com/tug-dev/tug/state"
)

const diffService = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports:\n  - port: 80\n"

// appliedCluster applies ref of repo the way tugd does (reconciler plan
// into a state store) and serves the store through the API.
func appliedCluster(t *testing.T, dir, ref string) string {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := gitsync.Render(context.Background(), r.Storer, *h, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := reconciler.PlanRevision(rev.SHA, rev.Objects, nil)
	if len(p.Errors) > 0 {
		t.Fatal(p.Errors)
	}
	if _, err := st.Apply(p.Puts, nil, &manifest.SyncRecord{SHA: rev.SHA, Outcome: manifest.OutcomeApplied}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(api.Config{Store: st, Table: printers.Table,
		IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) }}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDiffServer(t *testing.T) {
	repo := newDiffRepo(t)
	repo.commit("main", map[string]string{"web.yaml": diffConfig, "db.yaml": diffSecret, "svc.yaml": diffService})
	repo.commit("color", map[string]string{"web.yaml": strings.Replace(diffConfig, "blue", "green", 1)})
	repo.commit("secret", map[string]string{"db.yaml": strings.Replace(diffSecret, secretValue, "new-"+secretValue, 1)})
	repo.commit("newkey", map[string]string{"db.yaml": diffSecret + "  user: admin\n"})
	repo.commit("typo", map[string]string{"web.yaml": strings.Replace(diffConfig, "\ndata:", "\ndataa:", 1)})
	url := appliedCluster(t, repo.dir, "main")

	tests := []struct {
		name, ref string
		code      int
		out       []string
	}{
		// The applied Service has an allocated cluster IP and node port, a
		// stored status and metadata: none of it is a difference.
		{name: "same commit", ref: "main", out: []string{"0 added, 0 removed, 0 changed; HEAD is valid (3 objects)"}},
		{name: "field changed", ref: "color", out: []string{
			"~ ConfigMap default/web (web.yaml:1)",
			`    data.color: "blue" → "green"`,
			"0 added, 0 removed, 1 changed; HEAD is valid (3 objects)",
		}},
		// Values are not served: a changed value cannot be seen, a new key can.
		{name: "secret value", ref: "secret", out: []string{"0 added, 0 removed, 0 changed; HEAD is valid (3 objects)"}},
		{name: "secret key", ref: "newkey", out: []string{
			"~ Secret default/db (db.yaml:1)",
			"    data.user: (none) → <redacted>",
			"0 added, 0 removed, 1 changed; HEAD is valid (3 objects)",
		}},
		{name: "invalid", ref: "typo", code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runTug(t, nil, "diff", "--server", url, "--repo", repo.dir, tt.ref)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if strings.Contains(stdout+stderr, secretValue) {
				t.Errorf("output shows the Secret value:\n%s", stdout)
			}
			if tt.out == nil {
				return
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "diff cluster ") || !strings.HasPrefix(lines[1], "note: Secrets are compared by their keys only") {
				t.Fatalf("header %q", lines[:2])
			}
			if diff := cmp.Diff(tt.out, lines[2:]); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
	_, stderr, code := runTug(t, nil, "diff", "--server", url, "--repo", repo.dir, "main", "color")
	if code != 1 || !strings.Contains(stderr, "with --server give one ref") {
		t.Errorf("two refs with --server: exit %d, stderr %q", code, stderr)
	}
}
