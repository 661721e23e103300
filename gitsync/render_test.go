package gitsync

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

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
		files: map[string]string{"b/web.yaml": webDeployment, "a.yml": webConfig, "c.json": "{}", ".tug.yaml": "x: ["},
		want:  []manifest.Key{keyWebConfig, keyWebDeployment},
	}, {
		name:  "errors from several files, one list",
		files: map[string]string{"a.yaml": "kind: Widget\n", "b/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: shop\n"},
		errs: []string{
			`a.yaml:1: Widget: kind: unknown kind "Widget"; tug accepts ConfigMap, Deployment, Namespace, Secret, Service`,
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
		errs:  []string{"commit renders zero objects: no manifests under the repository root; check --path"},
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
			if diff := cmp.Diff(tt.want, keys(rev.Objects)); diff != "" {
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
