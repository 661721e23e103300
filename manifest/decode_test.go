package manifest

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// wantErr is an expected FieldError; Msg is a substring of the message.
type wantErr struct {
	File   string
	Line   int
	Object string
	Field  string
	Msg    string
}

// checkErrors compares err (an ErrorList or nil) with want.
func checkErrors(t *testing.T, err error, want []wantErr) {
	t.Helper()
	var got ErrorList
	if err != nil {
		var ok bool
		if got, ok = AsErrorList(err); !ok {
			t.Fatalf("error is %T, want ErrorList: %v", err, err)
		}
	}
	type loc struct {
		File   string
		Line   int
		Object string
		Field  string
	}
	var gotLocs, wantLocs []loc
	for _, e := range got {
		gotLocs = append(gotLocs, loc{e.File, e.Line, e.Object, e.Field})
	}
	for _, w := range want {
		wantLocs = append(wantLocs, loc{w.File, w.Line, w.Object, w.Field})
	}
	if diff := cmp.Diff(wantLocs, gotLocs); diff != "" {
		t.Fatalf("errors (-want +got):\n%s\nall errors:\n%v", diff, err)
	}
	for i, w := range want {
		if !strings.Contains(got[i].Msg, w.Msg) {
			t.Errorf("error %d = %q, want it to contain %q", i, got[i].Msg, w.Msg)
		}
	}
}

func TestDecodeFileValid(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeFile("apps/shop.yaml", data)
	if err != nil {
		t.Fatalf("DecodeFile: %v", err)
	}
	type summary struct {
		Key    Key
		Source Source
		Anno   string
	}
	var got []summary
	for _, d := range objs {
		got = append(got, summary{KeyOf(d.Object), d.Source, d.Object.GetAnnotations()[SourceAnnotation]})
	}
	want := []summary{
		{Key{KindNamespace, "", "shop"}, Source{"apps/shop.yaml", 2}, "apps/shop.yaml:2"},
		{Key{KindConfigMap, "shop", "web-config"}, Source{"apps/shop.yaml", 7}, "apps/shop.yaml:7"},
		{Key{KindSecret, "shop", "web-secret"}, Source{"apps/shop.yaml", 17}, "apps/shop.yaml:17"},
		{Key{KindService, "shop", "web"}, Source{"apps/shop.yaml", 28}, "apps/shop.yaml:28"},
		{Key{KindDeployment, "shop", "web"}, Source{"apps/shop.yaml", 44}, "apps/shop.yaml:44"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("objects (-want +got):\n%s", diff)
	}
	if err := Validate(objs); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	secret := objs[2].Object.(*corev1.Secret)
	wantData := map[string][]byte{"token": []byte("secret-token"), "password": []byte("correct-horse")}
	if diff := cmp.Diff(wantData, secret.Data); diff != "" || secret.StringData != nil {
		t.Errorf("secret data (-want +got):\n%s\nstringData: %v", diff, secret.StringData)
	}
	dep := objs[4].Object.(*appsv1.Deployment)
	if dep.APIVersion != "apps/v1" || dep.Kind != "Deployment" {
		t.Errorf("type meta = %v", dep.TypeMeta)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "busybox:1.36" || c.Resources.Limits.Memory().String() != "64Mi" || c.Env[1].ValueFrom.SecretKeyRef.Key != "token" {
		t.Errorf("container decoded wrongly: %+v", c)
	}
	if m := *dep.Spec.Template.Spec.Volumes[2].Secret.DefaultMode; m != 0o400 {
		t.Errorf("defaultMode = %o, want 400", m)
	}
	if got := objs[4].FieldLine("spec.template.spec.containers[0].image"); got != 71 {
		t.Errorf("FieldLine(image) = %d, want 71", got)
	}
	if got := objs[4].FieldLine("spec.template.spec.containers[0].nope.deeper"); got != 70 {
		t.Errorf("FieldLine of a missing field = %d, want its container's line 70", got)
	}

	objs, err = DecodeFile("gen.yaml", mustRead(t, "testdata/kubectl-generated.yaml"))
	if err == nil {
		err = Validate(objs)
	}
	if err != nil || len(objs) != 1 {
		t.Fatalf("kubectl-generated manifest: %d objects, err %v", len(objs), err)
	}

	objs, err = DecodeFile("plain.yaml", mustRead(t, "testdata/default-ns.yaml"))
	if err != nil || len(objs) != 1 || objs[0].Object.GetNamespace() != DefaultNamespace {
		t.Fatalf("default namespace: objs=%v err=%v", objs, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const okDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
`

func TestDecodeFileErrors(t *testing.T) {
	const web = "Deployment default/web"
	tests := []struct {
		name    string
		yaml    string
		objects int // objects still returned
		want    []wantErr
	}{{
		name: "invalid YAML",
		yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
		want: []wantErr{{Line: 5, Msg: "invalid YAML"}},
	}, {
		name: "invalid YAML in a later document keeps file lines",
		yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\n\tkind: x\n",
		// the first document still decodes
		objects: 1,
		want:    []wantErr{{Line: 6, Msg: "invalid YAML"}},
	}, {
		name: "bad indentation points at the line",
		yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: y\n",
		want: []wantErr{{Line: 5, Msg: "did not find expected key"}},
	}, {
		name: "unterminated quote points at its start",
		yaml: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"open\n  b: c\n",
		want: []wantErr{{Line: 4, Msg: "found unexpected end of stream"}},
	}, {
		name: "explicit tag that does not fit, value not shown",
		yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: !!int abc\n",
		want: []wantErr{{Line: 6, Msg: "cannot decode !!str value as a !!int"}},
	}, {
		name: "non-string map key",
		yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  ? [a]\n  : b\n",
		want: []wantErr{{Line: 6, Msg: "keys must be plain strings"}},
	}, {
		name: "unknown kind",
		yaml: "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n",
		want: []wantErr{{Line: 2, Object: "Widget w", Field: "kind", Msg: `unknown kind "Widget"`}},
	}, {
		name: "kind made by tug",
		yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
		want: []wantErr{{Line: 2, Object: "Pod default/p", Field: "kind", Msg: "cannot be committed"}},
	}, {
		name: "List refused",
		yaml: "apiVersion: v1\nkind: List\nitems: []\n",
		want: []wantErr{{Line: 2, Object: "List", Field: "kind", Msg: "own YAML document"}},
	}, {
		name: "missing kind",
		yaml: "apiVersion: v1\nmetadata:\n  name: x\n",
		want: []wantErr{{Line: 1, Field: "kind", Msg: "kind is required"}},
	}, {
		name: "wrong apiVersion",
		yaml: strings.Replace(okDeployment, "apps/v1", "extensions/v1beta1", 1),
		want: []wantErr{{Line: 1, Object: web, Field: "apiVersion", Msg: `use "apps/v1"`}},
	}, {
		name: "missing apiVersion",
		yaml: "kind: ConfigMap\nmetadata:\n  name: c\n",
		want: []wantErr{{Line: 1, Object: "ConfigMap default/c", Field: "apiVersion", Msg: `use "v1"`}},
	}, {
		name:    "unknown field",
		yaml:    okDeployment + "        imagePullPolicyy: Always\n",
		objects: 1,
		want: []wantErr{{Line: 15, Object: web, Field: "spec.template.spec.containers[0].imagePullPolicyy",
			Msg: `unknown field (did you mean "imagePullPolicy"?)`}},
	}, {
		name:    "unsupported field",
		yaml:    okDeployment + "        securityContext:\n          procMount: Unmasked\n      shareProcessNamespace: true\n",
		objects: 1,
		want: []wantErr{
			{Line: 16, Object: web, Field: "spec.template.spec.containers[0].securityContext.procMount", Msg: "not supported by tug yet"},
			{Line: 17, Object: web, Field: "spec.template.spec.shareProcessNamespace", Msg: "not supported by tug yet"},
		},
	}, {
		name:    "unsupported resource and metadata field",
		yaml:    strings.Replace(okDeployment, "  name: web\n", "  name: web\n  finalizers: [x]\n", 1) + "        resources:\n          limits: {nvidia.com/gpu: 1}\n",
		objects: 1,
		want: []wantErr{
			{Line: 5, Object: web, Field: "metadata.finalizers", Msg: "not supported by tug yet"},
			{Line: 17, Object: web, Field: "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu", Msg: "not supported by tug yet"},
		},
	}, {
		name:    "status refused",
		yaml:    okDeployment + "status:\n  replicas: 2\n",
		objects: 1,
		want:    []wantErr{{Line: 15, Object: web, Field: "status", Msg: "status is reported by tug"}},
	}, {
		name:    "empty status and null fields allowed",
		yaml:    strings.Replace(okDeployment, "  name: web\n", "  name: web\n  creationTimestamp: null\n", 1) + "status: {}\n",
		objects: 1,
	}, {
		name:    "duplicate YAML key",
		yaml:    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\n  a: z\n",
		objects: 1,
		want:    []wantErr{{Line: 7, Object: "ConfigMap default/c", Field: "data.a", Msg: "already set at line 6"}},
	}, {
		name: "wrong type and bad quantity both reported",
		yaml: strings.Replace(okDeployment, "spec:\n  selector", "spec:\n  replicas: three\n  selector", 1) +
			"        resources:\n          limits: {cpu: lots}\n",
		want: []wantErr{
			{Line: 6, Object: web, Field: "spec.replicas", Msg: "must be an integer, not a string"},
			{Line: 17, Object: web, Field: "spec.template.spec.containers[0].resources.limits.cpu", Msg: "must be a quantity"},
		},
	}, {
		name: "integer out of range",
		yaml: strings.Replace(okDeployment, "spec:\n  selector", "spec:\n  replicas: 3000000000\n  selector", 1),
		want: []wantErr{{Line: 6, Object: web, Field: "spec.replicas", Msg: "out of range"}},
	}, {
		name: "content after separator",
		yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n--- {a: 1}\n",
		// the first document is fine; the rest of the separator line is refused
		objects: 1,
		want:    []wantErr{{Line: 4, Msg: "content after ---"}},
	}, {
		name: "not a mapping",
		yaml: "- a\n- b\n",
		want: []wantErr{{Line: 1, Msg: "must be a YAML mapping"}},
	}, {
		name:    "cluster-scoped with namespace",
		yaml:    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  namespace: b\n",
		objects: 1,
		want:    []wantErr{{Line: 5, Object: "Namespace a", Field: "metadata.namespace", Msg: "cluster-scoped"}},
	}, {
		name:    "source annotation set by hand",
		yaml:    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    tug.dev/source: x:1\n",
		objects: 1,
		want:    []wantErr{{Line: 6, Object: "Namespace a", Field: "metadata.annotations.tug.dev/source", Msg: "set by tug"}},
	}, {
		name:    "empty documents and comments skipped",
		yaml:    "---\n# nothing\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n",
		objects: 1,
	}, {
		name:    "CRLF and BOM",
		yaml:    "\ufeffapiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: a}\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: b}\r\n",
		objects: 2,
	}, {
		name: "errors in several documents",
		yaml: "apiVersion: v1\nkind: Widget\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: 1\n  b: [x]\n",
		want: []wantErr{
			{Line: 2, Field: "kind", Object: "Widget", Msg: "unknown kind"},
			{Line: 11, Object: "ConfigMap default/c", Field: "data.a", Msg: "must be a string, not an integer; quote the value"},
			{Line: 12, Object: "ConfigMap default/c", Field: "data.b", Msg: "must be a string, not a list"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeFile("deploy/web.yaml", []byte(tt.yaml))
			for i := range tt.want {
				tt.want[i].File = "deploy/web.yaml"
			}
			checkErrors(t, err, tt.want)
			if len(objs) != tt.objects {
				t.Errorf("got %d objects, want %d", len(objs), tt.objects)
			}
		})
	}
}

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{File: "deploy/web.yaml", Line: 14, Object: "Deployment default/web", Field: "spec.replicas", Msg: "must be 0 or more"},
			"deploy/web.yaml:14: Deployment default/web: spec.replicas: must be 0 or more"},
		{FieldError{File: "a.yaml", Msg: "file is too large"}, "a.yaml: file is too large"},
		{FieldError{Msg: "renders zero objects"}, "renders zero objects"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	l := ErrorList{&tests[0].err, &tests[1].err}
	if got, want := l.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "a: 1\n---\nb: 2\n--- # comment\n\nc: 3\n----\n---x\n"
	docs, errs := splitDocuments([]byte(in))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	type doc struct {
		Text   string
		Offset int
	}
	var got []doc
	for _, d := range docs {
		got = append(got, doc{string(d.text), d.offset})
	}
	want := []doc{{"a: 1\n", 0}, {"b: 2\n", 2}, {"\nc: 3\n----\n---x\n", 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

func TestDecodeFileTooLarge(t *testing.T) {
	_, err := DecodeFile("big.yaml", make([]byte, MaxFileSize+1))
	checkErrors(t, err, []wantErr{{File: "big.yaml", Msg: "larger than"}})
}

// TestSecretValuesNeverInErrors feeds broken Secrets whose values are
// distinctive and checks that no error message repeats them.
func TestSecretValuesNeverInErrors(t *testing.T) {
	const value = "Zm9vYmFyc2VjcmV0dmFsdWU" // not valid base64 (bad length)
	docs := []string{
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: " + value + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: 123456789\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: [" + value + "]\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: {" + value + ": " + value + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: " + value + "\n  bad key!: " + value + "\ntype: kubernetes.io/tls\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: " + value + "\n  k: " + value + "\nextra: " + value + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: {[" + value + "]: x}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: !!int " + value + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: !!timestamp " + value + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: *" + value + "\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: &" + value + " x\n  j: &" + value + " y\n  l: *" + value + "\n",
	}
	for i, doc := range docs {
		objs, err := DecodeFile("s.yaml", []byte(doc))
		if err == nil {
			err = Validate(objs)
		}
		if err == nil {
			t.Errorf("document %d: no error", i)
			continue
		}
		for _, s := range []string{value, "123456789"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("document %d: error shows the secret value:\n%v", i, err)
			}
		}
	}
}
