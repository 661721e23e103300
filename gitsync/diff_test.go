package gitsync

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func decodeAll(t *testing.T, files map[string]string) []manifest.Object {
	t.Helper()
	var objs []manifest.Object
	for _, name := range sortedNames(files) {
		ds, err := manifest.DecodeFile(name, []byte(files[name]))
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		for _, d := range ds {
			objs = append(objs, d.Object)
		}
	}
	return objs
}

func sortedNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

const secretV1 = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n  user: admin\n"

func TestDiffObjects(t *testing.T) {
	base := decodeAll(t, map[string]string{
		"web.yaml":    webDeployment,
		"config.yaml": webConfig,
		"old.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n",
		"secret.yaml": secretV1,
	})
	head := decodeAll(t, map[string]string{
		// moved down a line: the source annotation changes, nothing else
		"config.yaml": "\n" + webConfig,
		"web.yaml": strings.Replace(webDeployment, "spec:\n  selector", "spec:\n  replicas: 3\n  selector", 1) +
			"        env:\n        - {name: A, value: b}\n",
		"new.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n  labels: {\"app.kubernetes.io/name\": x}\n",
		"secret.yaml": strings.Replace(secretV1, "hunter2", "correct-horse", 1) + "  token: abc\n",
	})
	diffs, err := DiffObjects(base, head)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, d := range diffs {
		ops = append(ops, d.Op+" "+displayKey(d.Key))
	}
	// sorted by key string
	want := []string{"added ConfigMap default/new", "removed ConfigMap default/old", "changed Deployment default/web", "changed Secret default/db"}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}

	var buf bytes.Buffer
	if err := WriteDiff(&buf, diffs); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "correct-horse", "abc"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("diff shows Secret value %q:\n%s", secret, buf.String())
		}
	}
	golden(t, "diff.golden", buf.Bytes())
}

func TestDiffObjectsIdentical(t *testing.T) {
	objs := decodeAll(t, map[string]string{"a.yaml": webDeployment})
	diffs, err := DiffObjects(objs, decodeAll(t, map[string]string{"b/c.yaml": "# moved\n" + webDeployment}))
	if err != nil || len(diffs) != 0 {
		t.Errorf("DiffObjects of the same object moved = %+v, %v; want no diff", diffs, err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
