package gitsync

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

const kustBaseDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - configMapRef: {name: web-env}
`

const kustBase = `resources:
- deployment.yaml
configMapGenerator:
- name: web-env
  literals: [MODE=base]
`

const kustOverlay = `resources:
- ../../base
namePrefix: prod-
labels:
- pairs: {env: prod}
configMapGenerator:
- name: web-env
  behavior: merge
  envs: [prod.env]
  files: [config/app.conf]
patches:
- path: replicas.yaml
`

const kustReplicas = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
`

func kustRepoFiles() map[string]string {
	return map[string]string{
		"base/kustomization.yaml":           kustBase,
		"base/deployment.yaml":              kustBaseDeployment,
		"overlays/prod/kustomization.yaml":  kustOverlay,
		"overlays/prod/prod.env":            "MODE=prod\nLEVEL=info\n",
		"overlays/prod/config/app.conf":     "listen 8080\n",
		"overlays/prod/replicas.yaml":       kustReplicas,
		"overlays/prod/not-a-manifest.yaml": "this: is not decoded on its own\n",
		"plain/config.yaml":                 webConfig,
	}
}

func TestRenderKustomize(t *testing.T) {
	r := newTestRepo(t, t.TempDir())
	sha := r.commit("kustomize", kustRepoFiles())
	rev, err := Render(context.Background(), r.repo.Storer, sha, "")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var got []string
	var dep *appsv1.Deployment
	var cm *corev1.ConfigMap
	for _, o := range rev.Objects {
		got = append(got, manifest.KeyOf(o).String()+" @ "+o.GetAnnotations()[manifest.SourceAnnotation])
		switch o := o.(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.ConfigMap:
			if strings.HasPrefix(o.Name, "prod-web-env") {
				cm = o
			}
		}
	}
	if dep == nil || cm == nil {
		t.Fatalf("objects %v: want the overlay's Deployment and ConfigMap", got)
	}
	// The base is rendered through the overlay only; the overlay's other
	// YAML files are not decoded on their own.
	want := []string{
		"Deployment/default/prod-web @ overlays/prod/kustomization.yaml:1",
		"ConfigMap/default/" + cm.Name + " @ overlays/prod/kustomization.yaml:1",
		keyWebConfig.String() + " @ plain/config.yaml:1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if *dep.Spec.Replicas != 3 || dep.Labels["env"] != "prod" {
		t.Errorf("overlay not applied: replicas %d labels %v", *dep.Spec.Replicas, dep.Labels)
	}
	wantData := map[string]string{"MODE": "prod", "LEVEL": "info", "app.conf": "listen 8080\n"}
	if diff := cmp.Diff(wantData, cm.Data); diff != "" {
		t.Errorf("generated ConfigMap (-want +got):\n%s", diff)
	}
	if ref := dep.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name; ref != cm.Name {
		t.Errorf("envFrom refers to %q, want the generated %q", ref, cm.Name)
	}

	// --path at the base renders the base alone.
	rev, err = Render(context.Background(), r.repo.Storer, sha, "base")
	if err != nil {
		t.Fatalf("Render base: %v", err)
	}
	if len(rev.Objects) != 2 {
		t.Errorf("base renders %v, want a ConfigMap and a Deployment", keys(rev.Objects))
	}
}

func TestRenderKustomizeRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(webConfig))
	}))
	defer srv.Close()
	tests := []struct {
		name  string
		files map[string]string
		path  string
		want  string
	}{{
		name:  "remote http resource",
		files: map[string]string{"app/kustomization.yaml": "resources:\n- " + srv.URL + "/web.yaml\n"},
		want:  `app/kustomization.yaml:1: resources: "` + srv.URL + `/web.yaml": remote bases and resources are not fetched by tug; vendor them into the repository`,
	}, {
		name:  "remote git base in a base",
		files: map[string]string{"app/kustomization.yaml": "resources: [../base]\n", "base/kustomization.yaml": "resources:\n- github.com/example/repo//deploy?ref=v1\n"},
		path:  "app",
		want:  `base/kustomization.yaml:1: resources: "github.com/example/repo//deploy?ref=v1": remote bases and resources are not fetched by tug`,
	}, {
		name:  "escaping the repository",
		files: map[string]string{"app/kustomization.yaml": "resources:\n- ../../../../etc\n"},
		want:  "app/kustomization.yaml:1: kustomize build: accumulating resources: accumulation err='accumulating resources from '../../../../etc': '/etc' doesn't exist'",
	}, {
		name:  "file outside the kustomization root",
		files: map[string]string{"app/kustomization.yaml": "configMapGenerator:\n- name: x\n  files: [../secret.txt]\n", "secret.txt": "s"},
		want:  "app/kustomization.yaml:1: kustomize build: loading KV pairs: file sources: [../secret.txt]: security; file 'secret.txt' is not in or below 'app'",
	}, {
		name:  "exec plugin",
		files: map[string]string{"app/kustomization.yaml": "generators: [gen.yaml]\n", "app/gen.yaml": "apiVersion: example.com/v1\nkind: Exec\nmetadata:\n  name: x\n"},
		want:  "app/kustomization.yaml:1: kustomize build: loading generator plugins: failed to load generator: external plugins disabled",
	}, {
		name:  "helm",
		files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: web\n  repo: https://charts.example.com\n"},
		want:  "app/kustomization.yaml:1: helmCharts: Helm charts are not rendered by tug; commit the rendered manifests",
	}, {
		name:  "invalid object",
		files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"},
		want:  "app/kustomization.yaml:1: ConfigMap default/Bad_Name: metadata.name: ",
	}, {
		name:  "not UTF-8",
		files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \xff\n"},
		want:  "app/cm.yaml:6: not valid UTF-8 text",
	}, {
		name:  "absolute path",
		files: map[string]string{"app/kustomization.yaml": "resources: [/etc/passwd]\n"},
		want:  `app/kustomization.yaml:1: resources: "/etc/passwd": absolute paths are refused`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, t.TempDir())
			// An unrelated kustomization outside --path does not matter.
			tt.files["elsewhere/kustomization.yaml"] = "resources: [https://example.com/x.yaml]\n"
			if tt.path == "" {
				tt.path = "app"
			}
			sha := r.commit(tt.name, tt.files)
			_, err := Render(context.Background(), r.repo.Storer, sha, tt.path)
			l, ok := manifest.AsErrorList(err)
			if !ok {
				t.Fatalf("Render: %v, want an ErrorList", err)
			}
			if !strings.HasPrefix(l.Strings()[0], tt.want) {
				t.Errorf("errors %q, want the first to start with %q", l.Strings(), tt.want)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the remote resource was fetched %d times", n)
	}
}

func TestRendererKustomizeCache(t *testing.T) {
	r := newTestRepo(t, t.TempDir())
	first := r.commit("one", kustRepoFiles())
	rd := NewRenderer(false)
	if _, err := rd.Render(context.Background(), r.repo.Storer, first, ""); err != nil {
		t.Fatal(err)
	}
	again, err := rd.Render(context.Background(), r.repo.Storer, first, "")
	if err != nil {
		t.Fatal(err)
	}
	second := r.commit("two", map[string]string{"overlays/prod/prod.env": "MODE=prod\nLEVEL=debug\n"})
	rev, err := rd.Render(context.Background(), r.repo.Storer, second, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Objects) != 3 || len(rev.Objects) != 3 {
		t.Fatalf("objects %v then %v", keys(again.Objects), keys(rev.Objects))
	}
	for _, o := range rev.Objects {
		if cm, ok := o.(*corev1.ConfigMap); ok && strings.HasPrefix(cm.Name, "prod-web-env") && cm.Data["LEVEL"] != "debug" {
			t.Errorf("a change to a generator's file is not rendered: %v", cm.Data)
		}
	}
}
