package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

// diffRepo is a real repository with a main branch (base) and a feature
// branch per test case.
type diffRepo struct {
	t   *testing.T
	dir string
	wt  *git.Worktree
}

func newDiffRepo(t *testing.T) *diffRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &diffRepo{t: t, dir: dir, wt: wt}
}

// commit writes files ("" deletes) on branch (created from main when new).
func (r *diffRepo) commit(branch string, files map[string]string) {
	r.t.Helper()
	ref := plumbing.NewBranchReferenceName(branch)
	if err := r.wt.Checkout(&git.CheckoutOptions{Branch: ref}); err != nil && branch != "main" { // main is unborn before the first commit
		if err := r.wt.Checkout(&git.CheckoutOptions{Branch: ref, Create: true}); err != nil {
			r.t.Fatal(err)
		}
	}
	for name, data := range files {
		p := filepath.Join(r.dir, name)
		if data == "" {
			os.Remove(p)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	if _, err := r.wt.Commit(branch, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.Main}); err != nil {
		r.t.Fatal(err)
	}
}

const (
	diffConfig = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  color: blue\n"
	diffSecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + secretValue + "\n"
)

func TestDiff(t *testing.T) {
	repo := newDiffRepo(t)
	repo.commit("main", map[string]string{"deploy/web.yaml": diffConfig, "deploy/db.yaml": diffSecret})
	repo.commit("color", map[string]string{"deploy/web.yaml": strings.Replace(diffConfig, "blue", "green", 1)})
	repo.commit("secret", map[string]string{"deploy/db.yaml": strings.Replace(diffSecret, secretValue, "new-"+secretValue, 1)})
	repo.commit("typo", map[string]string{"deploy/web.yaml": strings.Replace(diffConfig, "\ndata:", "\ndataa:", 1)})
	repo.commit("empty", map[string]string{"deploy/web.yaml": "", "deploy/db.yaml": ""})
	repo.commit("outside", map[string]string{"README.md": "docs\n"})

	tests := []struct {
		name   string
		args   []string
		code   int
		out    []string // lines of stdout after the first ("diff ...")
		errSub string
	}{
		{
			name: "field changed",
			args: []string{"main", "color"},
			out: []string{
				"~ ConfigMap default/web (deploy/web.yaml:1)",
				`    data.color: "blue" → "green"`,
				"0 added, 0 removed, 1 changed; HEAD is valid (2 objects)",
			},
		},
		{
			name: "reverse: same change backwards",
			args: []string{"color", "main"},
			out: []string{
				"~ ConfigMap default/web (deploy/web.yaml:1)",
				`    data.color: "green" → "blue"`,
				"0 added, 0 removed, 1 changed; HEAD is valid (2 objects)",
			},
		},
		{
			name: "secret redacted",
			args: []string{"main", "secret"},
			out: []string{
				"~ Secret default/db (deploy/db.yaml:1)",
				"    data.password: <redacted> → <redacted>",
				"0 added, 0 removed, 1 changed; HEAD is valid (2 objects)",
			},
		},
		{
			name: "no change outside manifests",
			args: []string{"main", "outside"},
			out:  []string{"0 added, 0 removed, 0 changed; HEAD is valid (2 objects)"},
		},
		{
			name: "added from an invalid base",
			args: []string{"typo", "main"},
			out: []string{
				"note: BASE does not validate (1 error); comparing with an empty BASE",
				"+ ConfigMap default/web (deploy/web.yaml:1)",
				"+ Secret default/db (deploy/db.yaml:1)",
				"2 added, 0 removed, 0 changed; HEAD is valid (2 objects)",
			},
		},
		{
			name: "invalid head",
			args: []string{"main", "typo"},
			code: 1,
			out: []string{
				"HEAD does not validate:",
				`  deploy/web.yaml:5: ConfigMap default/web: dataa: unknown field (did you mean "data"?)`,
			},
			errSub: "does not validate (1 error)",
		},
		{
			name:   "zero objects refused",
			args:   []string{"main", "empty"},
			code:   1,
			out:    []string{"HEAD does not validate:", "  commit renders zero objects: no manifests under the repository root; check --path (to apply an empty commit on purpose, which deletes everything, commit .tug.yaml with allowEmpty: true)"},
			errSub: "does not validate",
		},
		{
			name: "path",
			args: []string{"--path", "deploy", "main", "color"},
			out: []string{
				"~ ConfigMap default/web (deploy/web.yaml:1)",
				`    data.color: "blue" → "green"`,
				"0 added, 0 removed, 1 changed; HEAD is valid (2 objects)",
			},
		},
		{
			name:   "wrong path",
			args:   []string{"--path", "nope", "main", "color"},
			code:   1,
			out:    []string{"note: BASE does not validate (1 error); comparing with an empty BASE", "HEAD does not validate:", `  nope: directory "nope" does not exist at commit ` + "SHA" + "; check --path"},
			errSub: "does not validate",
		},
		{name: "unknown ref", args: []string{"main", "nosuch"}, code: 1, errSub: `HEAD "nosuch": reference not found`},
		{name: "remote refused", args: []string{"--repo", "https://user:pw@example.com/r.git", "main", "x"}, code: 1, errSub: "works offline"},
		{name: "one argument", args: []string{"main"}, code: 1, errSub: "expected 'diff BASE HEAD' (offline) or 'diff --server URL HEAD'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"diff", "--repo", repo.dir}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" }, time.Now)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if tt.errSub != "" && !strings.Contains(stderr.String(), tt.errSub) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.errSub)
			}
			if strings.Contains(stdout.String()+stderr.String(), secretValue) {
				t.Errorf("output shows the Secret value:\n%s", stdout.String())
			}
			if strings.Contains(stderr.String(), "pw@") {
				t.Errorf("stderr shows credentials: %q", stderr.String())
			}
			if tt.out == nil {
				return
			}
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if !strings.HasPrefix(lines[0], "diff ") {
				t.Fatalf("first line %q", lines[0])
			}
			got := lines[1:]
			for i := range got {
				if j := strings.Index(got[i], "at commit "); j >= 0 {
					got[i] = got[i][:j+len("at commit ")] + "SHA" + got[i][j+len("at commit ")+12:]
				}
			}
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}
