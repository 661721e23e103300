package gitsync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tug-dev/tug/manifest"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		symlinks map[string]string // name → target
		path     string
		want     []manifest.Key
		errs     []string
	}{{
		name:  "whole tree in path order",
		files: map[string]string{"b/web.yaml": webDeployment, "a.yml": webConfig, "c.json": "{}", ".pre-commit.yaml": "x: ["},
		want:  []manifest.Key{keyWebConfig, keyWebDeployment},
	}, {
		name:  "errors from several files, one list",
		files: map[string]string{"a.yaml": "kind: Widget\n", "b/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: shop\n"},
		errs: []string{
			`a.yaml:1: Widget: kind: unknown kind "Widget"; tug accepts ` + strings.Join(manifest.GitKinds(), ", "),
			`b/c.yaml:5: ConfigMap shop/x: metadata.namespace: namespace "shop" does not exist; add a Namespace manifest (apiVersion: v1, kind: Namespace, metadata.name: shop) to the repository`,
		},
	}, {
		name:  "duplicate across files",
		files: map[string]string{"a.yaml": webConfig, "b.yaml": webConfig},
		errs:  []string{"b.yaml:4: ConfigMap default/web: metadata.name: ConfigMap default/web is defined twice: here and at a.yaml:1; remove one"},
	}, {
		name:     "symlink refused",
		files:    map[string]string{"real/a.yaml": webConfig},
		symlinks: map[string]string{"link.yaml": "real/a.yaml"},
		errs:     []string{"link.yaml: symbolic links are not followed; commit the manifest itself"},
	}, {
		name:  "missing directory",
		files: map[string]string{"a.yaml": webConfig},
		path:  "deploy",
		errs:  []string{`deploy: directory "deploy" does not exist at commit `},
	}, {
		name:  "nothing to render",
		files: map[string]string{"README.md": "hi"},
		errs:  []string{"commit renders zero objects: no manifests under the repository root; check --path (to apply an empty commit on purpose, which deletes everything, commit .tug.yaml with allowEmpty: true)"},
	}, {
		name:  "empty commit allowed by .tug.yaml",
		files: map[string]string{"README.md": "hi", ".tug.yaml": "allowEmpty: true\n"},
		want:  []manifest.Key{},
	}, {
		name:  "allowEmpty false",
		files: map[string]string{"README.md": "hi", ".tug.yaml": "allowEmpty: false\n"},
		errs:  []string{"commit renders zero objects: no manifests under the repository root; check --path (to apply an empty commit on purpose, which deletes everything, commit .tug.yaml with allowEmpty: true)"},
	}, {
		name:  "bad .tug.yaml",
		files: map[string]string{"a.yaml": webConfig, ".tug.yaml": "allowEmtpy: true\n"},
		errs:  []string{`.tug.yaml: error unmarshaling JSON: while decoding JSON: json: unknown field "allowEmtpy" (the only option is allowEmpty: true|false)`},
	}, {
		name:  "file over the size cap",
		files: map[string]string{"a.yaml": webConfig, "big.yaml": "# " + strings.Repeat("x", MaxFileSize) + "\n"},
		errs:  []string{fmt.Sprintf("big.yaml: file is %d bytes, larger than the %d bytes tug accepts; split it", MaxFileSize+3, MaxFileSize)},
	}, {
		name:  "not UTF-8",
		files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \"\xff\xfe\"\n"},
		errs:  []string{"a.yaml:6: not valid UTF-8 text; save the file as UTF-8"},
	}, {
		name:  "alias bomb",
		files: map[string]string{"a.yaml": aliasBomb()},
		errs:  []string{"a.yaml:1: invalid YAML: document contains excessive aliasing"},
	}, {
		name:  "deep nesting",
		files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nextra: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"},
		errs:  []string{"a.yaml:5: invalid YAML: exceeded max depth of 10000"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newTestRepo(t, t.TempDir())
			for name, target := range tt.symlinks {
				if err := os.Symlink(target, filepath.Join(repo.dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			sha := repo.commit("test", tt.files)
			rev, err := Render(context.Background(), repo.repo.Storer, sha, tt.path)
			if tt.errs != nil {
				l, ok := manifest.AsErrorList(err)
				if !ok {
					t.Fatalf("Render = %v, %v; want an ErrorList", rev, err)
				}
				got := l.Strings()
				if tt.name == "missing directory" && len(got) == 1 && len(got[0]) > len(tt.errs[0]) {
					got[0] = got[0][:len(tt.errs[0])] // drop the SHA
				}
				if diff := cmp.Diff(tt.errs, got); diff != "" {
					t.Errorf("errors (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(tt.want, keys(rev.Objects), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if rev.SHA != sha.String() {
				t.Errorf("SHA = %s, want %s", rev.SHA, sha)
			}
		})
	}
}

func TestRenderCancelled(t *testing.T) {
	repo := newTestRepo(t, t.TempDir())
	sha := repo.commit("one", map[string]string{"a.yaml": webConfig})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Render(ctx, repo.repo.Storer, sha, "")
	if err == nil {
		t.Fatal("Render with a cancelled context succeeded")
	}
	if _, ok := manifest.AsErrorList(err); ok {
		t.Fatalf("a cancelled render must not look like a validation error: %v", err)
	}
}

// aliasBomb is the "billion laughs" in YAML: 9^10 strings from 1 KiB.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, n := range strings.Split("bcdefghij", "") {
		refs := strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ")
		fmt.Fprintf(&b, "%s: &%s [%s]\n", n, n, refs)
		prev = n
	}
	return b.String()
}

func TestRenderRevisionCap(t *testing.T) {
	repo := newTestRepo(t, t.TempDir())
	sha := repo.commit("big", map[string]string{"a.yaml": webConfig, "b.yaml": webDeployment, "c.yaml": webConfig})
	r := NewRenderer(false)
	r.maxTotal = int64(len(webConfig) + len(webDeployment) - 1)
	_, err := r.Render(context.Background(), repo.repo.Storer, sha, "")
	l, ok := manifest.AsErrorList(err)
	if !ok || len(l) != 1 || l[0].File != "b.yaml" || !strings.Contains(l[0].Msg, "exceed") {
		t.Fatalf("Render over the revision cap = %v; want one error at b.yaml", err)
	}
}

// A Renderer decodes only the files a commit changed, and its revision
// equals a fresh render's.
func TestRendererReusesUnchangedFiles(t *testing.T) {
	repo := newTestRepo(t, t.TempDir())
	files := map[string]string{"web/deploy.yaml": webDeployment}
	for i := range 20 {
		files[fmt.Sprintf("cfg/%02d/c.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i)
	}
	first := repo.commit("first", files)
	r := NewRenderer(false)
	ctx := context.Background()
	if _, err := r.Render(ctx, repo.repo.Storer, first, ""); err != nil {
		t.Fatal(err)
	}
	if r.decodedFiles != 21 || r.reusedFiles != 0 {
		t.Errorf("cold render decoded %d, reused %d; want 21, 0", r.decodedFiles, r.reusedFiles)
	}
	second := repo.commit("one change", map[string]string{"cfg/07/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c7\ndata: {a: b}\n"})
	rev, err := r.Render(ctx, repo.repo.Storer, second, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.decodedFiles != 1 || r.reusedFiles != 20 {
		t.Errorf("incremental render decoded %d, reused %d; want 1, 20", r.decodedFiles, r.reusedFiles)
	}
	fresh, err := Render(ctx, repo.repo.Storer, second, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys(fresh.Objects), keys(rev.Objects)); diff != "" {
		t.Errorf("incremental render differs from a fresh one (-fresh +incremental):\n%s", diff)
	}
	if d, err := DiffObjects(fresh.Objects, rev.Objects); err != nil || len(d) != 0 {
		t.Errorf("incremental objects differ: %+v %v", d, err)
	}
	// A broken commit is cached too; its fix decodes one file again.
	bad := repo.commit("typo", map[string]string{"cfg/03/c.yaml": "kind: Widget\n"})
	if _, err := r.Render(ctx, repo.repo.Storer, bad, ""); !isErrorList(err) {
		t.Fatalf("typo commit: %v", err)
	}
	if r.decodedFiles != 1 {
		t.Errorf("typo render decoded %d files, want 1", r.decodedFiles)
	}
}
