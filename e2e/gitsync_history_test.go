package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// TestGitKustomizeHistoryAndServerDiff runs tugd on a repository whose
// manifests come from a kustomize overlay: the overlay is applied, a
// force-push is applied and shown as a history rewrite, and tug diff
// --server compares a branch with what the cluster holds.
func TestGitKustomizeHistoryAndServerDiff(t *testing.T) {
	repo := newRepo(t)
	repo.write("base/kustomization.yaml", "resources: [config.yaml]\n")
	repo.write("base/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: base\n")
	repo.write("prod/kustomization.yaml", "resources: [../base]\nnamePrefix: prod-\n"+
		"configMapGenerator:\n- name: env\n  literals: [LEVEL=info]\n  options: {disableNameSuffixHash: true}\n")
	first := repo.commit("kustomize")
	c := newCluster(t, repo)
	c.start()
	if rec := c.syncRecord(first); rec.Outcome != manifest.OutcomeApplied || rec.Objects != 2 {
		t.Fatalf("first sync: outcome %s, %d objects, errors %v; want Applied with 2 objects", rec.Outcome, rec.Objects, rec.Errors)
	}
	ctx := context.Background()
	obj, err := c.client.Get(ctx, manifest.KindConfigMap, "default", "prod-app")
	if err != nil {
		t.Fatalf("the overlay's ConfigMap: %v", err)
	}
	if src := obj.GetAnnotations()[manifest.SourceAnnotation]; src != "prod/kustomization.yaml:1" {
		t.Errorf("source %q, want prod/kustomization.yaml:1", src)
	}

	// A force-push: the amended commit does not descend from the applied one.
	repo.write("prod/kustomization.yaml", strings.Replace(repo.read("prod/kustomization.yaml"), "LEVEL=info", "LEVEL=debug", 1))
	repo.git("add", "-A")
	repo.git("commit", "-q", "--amend", "-m", "kustomize, amended")
	amended := repo.git("rev-parse", "HEAD")
	rec := c.syncRecord(amended)
	if rec.Outcome != manifest.OutcomeApplied || !rec.Rewrite || rec.Previous != first {
		t.Errorf("force-push: outcome %s rewrite %v previous %q; want Applied, a rewrite of %s", rec.Outcome, rec.Rewrite, rec.Previous, first[:7])
	}
	out, err := c.tug("history")
	if err != nil || !strings.Contains(out, "Applied (rewrite of "+first[:7]+")") {
		t.Errorf("tug history: %v\n%s", err, out)
	}
	obj, err = c.client.Get(ctx, manifest.KindConfigMap, "default", "prod-env")
	if err != nil || obj.(*corev1.ConfigMap).Data["LEVEL"] != "debug" {
		t.Errorf("generated ConfigMap after the force-push: %v %v", obj, err)
	}

	// tug diff --server: the applied head shows no change, a branch shows its change.
	out, err = c.tug("diff", "--repo", repo.dir, "HEAD")
	if err != nil || !strings.Contains(out, "0 added, 0 removed, 0 changed; HEAD is valid (2 objects)") {
		t.Errorf("tug diff --server HEAD: %v\n%s", err, out)
	}
	repo.git("checkout", "-q", "-b", "feature")
	repo.write("base/config.yaml", strings.Replace(repo.read("base/config.yaml"), "mode: base", "mode: feature", 1))
	repo.commit("feature")
	repo.git("checkout", "-q", "main")
	out, err = c.tug("diff", "--repo", repo.dir, "feature")
	if err != nil || !strings.Contains(out, `    data.mode: "base" → "feature"`) {
		t.Errorf("tug diff --server feature: %v\n%s", err, out)
	}
}
