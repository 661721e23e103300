package manifest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decodeAll decodes files (name → YAML) in name order and fails the test on
// any decode error.
func decodeAll(t *testing.T, files map[string]string) []Decoded {
	t.Helper()
	var all []Decoded
	names := sortedKeys(files)
	for _, name := range names {
		objs, err := DecodeFile(name, []byte(files[name]))
		if err != nil {
			t.Fatalf("DecodeFile(%s): %v", name, err)
		}
		all = append(all, objs...)
	}
	return all
}

// deployment returns okDeployment with the pod spec lines after "spec:"
// (indented by 6) replaced by podSpec.
func deployment(podSpec string) string {
	head, _, _ := strings.Cut(okDeployment, "      containers:\n")
	return head + podSpec
}

func TestValidate(t *testing.T) {
	const (
		web = "Deployment default/web"
		ns  = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
		cm  = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: v\n"
		sec = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\nstringData:\n  token: hunter2\n"
	)
	envFrom := func(env string) string {
		return okDeployment + "        env:\n" + env
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name:  "valid",
		files: map[string]string{"a.yaml": okDeployment, "b.yaml": ns + "---\n" + cm + "---\n" + sec},
	}, {
		name:  "invalid name",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "name: web\nspec", "name: Web_1\nspec", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 4, Object: "Deployment default/Web_1", Field: "metadata.name", Msg: "RFC 1123"}},
	}, {
		name:  "missing name",
		files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n"},
		want:  []wantErr{{File: "a.yaml", Line: 3, Object: "ConfigMap", Field: "metadata.name", Msg: "name is required"}},
	}, {
		name:  "bad label",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "name: web\nspec", "name: web\n  labels:\n    a/b/c: x\nspec", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 6, Object: web, Field: "metadata.labels.a/b/c", Msg: "key:"}},
	}, {
		name:  "no containers",
		files: map[string]string{"a.yaml": deployment("      containers: []\n")},
		want:  []wantErr{{File: "a.yaml", Line: 12, Object: web, Field: "spec.template.spec.containers", Msg: "at least one container"}},
	}, {
		name:  "missing image and container name",
		files: map[string]string{"a.yaml": deployment("      containers:\n      - imagePullPolicy: Always\n")},
		want: []wantErr{
			{File: "a.yaml", Line: 13, Object: web, Field: "spec.template.spec.containers[0].image", Msg: "image is required"},
			{File: "a.yaml", Line: 13, Object: web, Field: "spec.template.spec.containers[0].name", Msg: "name is required"},
		},
	}, {
		name: "duplicate container names and bad port",
		files: map[string]string{"a.yaml": deployment("      containers:\n      - name: a\n        image: x\n        ports:\n        - containerPort: 70000\n" +
			"      - name: a\n        image: x2\n")},
		want: []wantErr{
			{File: "a.yaml", Line: 16, Object: web, Field: "spec.template.spec.containers[0].ports[0].containerPort", Msg: "between 1 and 65535"},
			{File: "a.yaml", Line: 17, Object: web, Field: "spec.template.spec.containers[1].name", Msg: "also used by containers[0]"},
		},
	}, {
		name: "duplicate object names both places",
		files: map[string]string{
			"a.yaml": cm,
			"b.yaml": "# again\n" + cm,
		},
		want: []wantErr{{File: "b.yaml", Line: 5, Object: "ConfigMap default/cfg", Field: "metadata.name", Msg: "defined twice: here and at a.yaml:1"}},
	}, {
		name:  "selector does not match template",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "labels: {app: web}", "labels: {app: api}", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 6, Object: web, Field: "spec.selector", Msg: `selector "app=web" does not match the template labels "app=api"`}},
	}, {
		name:  "missing selector",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "  selector:\n    matchLabels: {app: web}\n", "", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 5, Object: web, Field: "spec.selector", Msg: "selector is required"}},
	}, {
		name:  "negative replicas",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "spec:\n  selector", "spec:\n  replicas: -1\n  selector", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 6, Object: web, Field: "spec.replicas", Msg: "0 or more"}},
	}, {
		name: "missing namespace",
		files: map[string]string{
			"a.yaml": strings.Replace(cm, "name: cfg", "name: cfg\n  namespace: shop", 1),
		},
		want: []wantErr{{File: "a.yaml", Line: 5, Object: "ConfigMap shop/cfg", Field: "metadata.namespace", Msg: "add a Namespace manifest"}},
	}, {
		name: "committed namespace",
		files: map[string]string{
			"a.yaml":  strings.Replace(cm, "name: cfg", "name: cfg\n  namespace: shop", 1),
			"ns.yaml": ns,
		},
	}, {
		name: "env refs to missing ConfigMap, Secret and key",
		files: map[string]string{
			"a.yaml": envFrom("        - name: A\n          valueFrom:\n            configMapKeyRef: {name: nope, key: k}\n" +
				"        - name: B\n          valueFrom:\n            secretKeyRef: {name: sec, key: missing}\n" +
				"        - name: C\n          valueFrom:\n            configMapKeyRef: {name: nope, key: k, optional: true}\n" +
				"        - name: D\n          valueFrom:\n            secretKeyRef: {name: sec, key: token}\n"),
			"b.yaml": sec,
		},
		want: []wantErr{
			{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef", Msg: `ConfigMap "nope" does not exist in namespace "default"`},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef", Msg: `has no key "missing"`},
		},
	}, {
		name: "envFrom and volume refs",
		files: map[string]string{"a.yaml": okDeployment +
			"        envFrom:\n        - secretRef: {name: gone}\n" +
			"      volumes:\n      - name: v\n        configMap: {name: gone}\n      - name: w\n        secret: {secretName: gone, optional: true}\n"},
		want: []wantErr{
			{File: "a.yaml", Line: 16, Object: web, Field: "spec.template.spec.containers[0].envFrom[0].secretRef", Msg: `Secret "gone" does not exist`},
			{File: "a.yaml", Line: 19, Object: web, Field: "spec.template.spec.volumes[0].configMap", Msg: `ConfigMap "gone" does not exist`},
		},
	}, {
		name: "volume mounts and sources",
		files: map[string]string{"a.yaml": okDeployment +
			"        volumeMounts:\n        - {name: missing, mountPath: /data}\n        - {name: v, mountPath: data, subPath: ../x}\n" +
			"      volumes:\n      - name: v\n      - name: w\n        emptyDir: {}\n        configMap: {name: cfg}\n",
			"b.yaml": cm},
		want: []wantErr{
			{File: "a.yaml", Line: 16, Object: web, Field: "spec.template.spec.containers[0].volumeMounts[0].name", Msg: `no volume named "missing"`},
			{File: "a.yaml", Line: 17, Object: web, Field: "spec.template.spec.containers[0].volumeMounts[1].mountPath", Msg: "absolute path"},
			{File: "a.yaml", Line: 17, Object: web, Field: "spec.template.spec.containers[0].volumeMounts[1].subPath", Msg: "'..'"},
			{File: "a.yaml", Line: 19, Object: web, Field: "spec.template.spec.volumes[0]", Msg: "needs one of"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.volumes[1]", Msg: "only one of"},
		},
	}, {
		name: "hostPath volumes",
		files: map[string]string{"a.yaml": strings.Replace(okDeployment, "metadata:\n  name: web\n", "metadata:\n  name: web\n  namespace: ops\n", 1) +
			"      volumes:\n" +
			"      - name: a\n        hostPath: {path: relative}\n" +
			"      - name: b\n        hostPath: {path: /var/../etc, type: Pipe}\n" +
			"      - name: c\n        hostPath: {path: /run/x.sock, type: Socket}\n",
			"b.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n  labels: {pod-security.kubernetes.io/enforce: privileged}\n"},
		want: []wantErr{
			{File: "a.yaml", Line: 18, Object: "Deployment ops/web", Field: "spec.template.spec.volumes[0].hostPath.path", Msg: "absolute path"},
			{File: "a.yaml", Line: 20, Object: "Deployment ops/web", Field: "spec.template.spec.volumes[1].hostPath.path", Msg: "'..'"},
			{File: "a.yaml", Line: 20, Object: "Deployment ops/web", Field: "spec.template.spec.volumes[1].hostPath.type", Msg: "must be one of"},
		},
	}, {
		name: "downwardAPI and projected volumes",
		files: map[string]string{"a.yaml": okDeployment +
			"      volumes:\n" +
			"      - name: d\n        downwardAPI:\n          defaultMode: 0440\n          items:\n" +
			"          - {path: labels, fieldRef: {fieldPath: metadata.labels}}\n" +
			"          - {path: app, fieldRef: {fieldPath: \"metadata.labels['app']\"}}\n" +
			"          - {path: ip, fieldRef: {fieldPath: status.podIP}}\n" +
			"          - {path: ../up, fieldRef: {fieldPath: metadata.name}, mode: 01000}\n" +
			"      - name: p\n        projected:\n          sources:\n" +
			"          - configMap: {name: cfg, items: [{key: a, path: same}]}\n" +
			"          - secret: {name: s, items: [{key: b, path: same}]}\n" +
			"          - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}\n" +
			"          - {}\n",
			"b.yaml": cm},
		want: []wantErr{
			{File: "a.yaml", Line: 22, Object: web, Field: "spec.template.spec.volumes[0].downwardAPI.items[2].fieldRef.fieldPath", Msg: "must be one of"},
			{File: "a.yaml", Line: 23, Object: web, Field: "spec.template.spec.volumes[0].downwardAPI.items[3].mode", Msg: "file mode"},
			{File: "a.yaml", Line: 23, Object: web, Field: "spec.template.spec.volumes[0].downwardAPI.items[3].path", Msg: "'..'"},
			{File: "a.yaml", Line: 28, Object: web, Field: "spec.template.spec.volumes[1].projected.sources[1].secret.items[0].path", Msg: "also projected by"},
			{File: "a.yaml", Line: 30, Object: web, Field: "spec.template.spec.volumes[1].projected.sources[3]", Msg: "needs one of"},
		},
	}, {
		name: "env var rules",
		files: map[string]string{"a.yaml": envFrom("        - name: 1BAD\n          value: x\n" +
			"        - name: P\n          valueFrom:\n            fieldRef: {fieldPath: spec.serviceAccountName}\n" +
			"        - name: L\n          valueFrom:\n            fieldRef: {fieldPath: \"metadata.labels['app']\"}\n")},
		want: []wantErr{
			{File: "a.yaml", Line: 16, Object: web, Field: "spec.template.spec.containers[0].env[0].name", Msg: "environment variable name"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", Msg: "is not supported"},
		},
	}, {
		name: "restart policy, resources and strategy",
		files: map[string]string{"a.yaml": strings.Replace(deployment(
			"      restartPolicy: Never\n      containers:\n      - name: web\n        image: x\n        resources:\n          requests: {cpu: \"2\"}\n          limits: {cpu: \"1\"}\n"),
			"spec:\n  selector", "spec:\n  strategy:\n    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n  selector", 1)},
		want: []wantErr{
			{File: "a.yaml", Line: 8, Object: web, Field: "spec.strategy.rollingUpdate", Msg: "Recreate"},
			{File: "a.yaml", Line: 15, Object: web, Field: "spec.template.spec.restartPolicy", Msg: "must be Always"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].resources.requests.cpu", Msg: "more than the limit 1"},
		},
	}, {
		name: "service rules and node port clash",
		files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  type: NodePort\n  ports:\n  - {name: http, port: 80, nodePort: 30080}\n  - {name: http, port: 81, nodePort: 80}\n",
			"b.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  type: NodePort\n  ports:\n  - {port: 80, nodePort: 30080}\n",
			"c.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  type: LoadBalancer\n  clusterIP: 10.43.0.010\n",
		},
		want: []wantErr{
			{File: "a.yaml", Line: 9, Object: "Service default/a", Field: "spec.ports[1].name", Msg: "also used by spec.ports[0]"},
			{File: "a.yaml", Line: 9, Object: "Service default/a", Field: "spec.ports[1].nodePort", Msg: "between 30000 and 32767"},
			{File: "b.yaml", Line: 8, Object: "Service default/b", Field: "spec.ports[0].nodePort", Msg: "node port 30080/TCP is also used by Service default/a at a.yaml:1"},
			{File: "c.yaml", Line: 5, Object: "Service default/c", Field: "spec.ports", Msg: "at least one port"},
			{File: "c.yaml", Line: 6, Object: "Service default/c", Field: "spec.type", Msg: "LoadBalancer is not supported by tug yet"},
			{File: "c.yaml", Line: 7, Object: "Service default/c", Field: "spec.clusterIP", Msg: "canonical form"},
		},
	}, {
		name: "externalTrafficPolicy",
		files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  type: NodePort\n  externalTrafficPolicy: Locall\n  ports:\n  - {port: 80}\n",
			"b.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  externalTrafficPolicy: Local\n  ports:\n  - {port: 80}\n",
			"c.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  type: NodePort\n  externalTrafficPolicy: Local\n  ports:\n  - {port: 80}\n",
		},
		want: []wantErr{
			{File: "a.yaml", Line: 7, Object: "Service default/a", Field: "spec.externalTrafficPolicy", Msg: "must be Cluster or Local"},
			{File: "b.yaml", Line: 6, Object: "Service default/b", Field: "spec.externalTrafficPolicy", Msg: "applies only to NodePort services"},
		},
	}, {
		name: "cluster IPs outside the CIDR or reserved",
		files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  clusterIP: 10.44.0.5\n  ports:\n  - {port: 80}\n",
			"b.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  clusterIP: 10.43.0.10\n  ports:\n  - {port: 80}\n",
			"c.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  clusterIP: 10.43.0.1\n  ports:\n  - {port: 80}\n",
			"d.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: d\nspec:\n  clusterIP: 10.43.8.8\n  ports:\n  - {port: 80}\n",
		},
		want: []wantErr{
			{File: "a.yaml", Line: 6, Object: "Service default/a", Field: "spec.clusterIP", Msg: "outside the service CIDR 10.43.0.0/16"},
			{File: "b.yaml", Line: 6, Object: "Service default/b", Field: "spec.clusterIP", Msg: "reserved for the cluster DNS service"},
			{File: "c.yaml", Line: 6, Object: "Service default/c", Field: "spec.clusterIP", Msg: "is reserved"},
		},
	}, {
		name:  "secret type needs keys; key names shown",
		files: map[string]string{"a.yaml": strings.Replace(sec, "stringData:", "type: kubernetes.io/tls\nstringData:\n  bad key: x", 1)},
		want: []wantErr{
			{File: "a.yaml", Line: 5, Object: "Secret default/sec", Field: "type", Msg: `needs the key "tls.crt"`},
			{File: "a.yaml", Line: 5, Object: "Secret default/sec", Field: "type", Msg: `needs the key "tls.key"`},
			{File: "a.yaml", Line: 7, Object: "Secret default/sec", Field: "stringData.bad key", Msg: "valid config key"},
		},
	}, {
		name:  "node labels, taints and cordon",
		files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {zone: a}\nspec:\n  unschedulable: true\n  taints:\n  - {key: gpu, value: \"true\", effect: NoSchedule}\n"},
	}, {
		name: "node taints need a key and an effect, once each",
		files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  annotations: {tug.dev/git-node: x}\nspec:\n  taints:\n" +
			"  - {value: x, effect: NoSchedule}\n  - {key: gpu}\n  - {key: a, effect: NoSchedule}\n  - {key: a, effect: NoSchedule}\n"},
		want: []wantErr{
			{File: "a.yaml", Line: 5, Object: "Node n1", Field: "metadata.annotations.tug.dev/git-node", Msg: "written by tug"},
			{File: "a.yaml", Line: 8, Object: "Node n1", Field: "spec.taints[0].key", Msg: "key is required"},
			{File: "a.yaml", Line: 9, Object: "Node n1", Field: "spec.taints[1].effect", Msg: "effect is required"},
			{File: "a.yaml", Line: 11, Object: "Node n1", Field: "spec.taints[3]", Msg: "duplicates spec.taints[2]"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, Validate(decodeAll(t, tt.files)), tt.want)
		})
	}
}

// TestValidateByHand checks objects not built by DecodeFile: errors fall
// back to the object's source line.
func TestValidateByHand(t *testing.T) {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}},
		},
	}
	err := Validate([]Decoded{{Object: dep, Source: Source{"x.yaml", 3}}, {Source: Source{"y.yaml", 1}}})
	checkErrors(t, err, []wantErr{
		{File: "x.yaml", Line: 3, Object: "Deployment default/web", Field: "spec.template.spec.containers", Msg: "at least one container"},
		{File: "y.yaml", Line: 1, Msg: "no object"},
	})
}

// TestSupportedFieldsExist guards the allow-list against typos: every path
// must name a field of the kind's Go type.
func TestSupportedFieldsExist(t *testing.T) {
	for _, kind := range GitKinds() {
		paths := SupportedFields(kind)
		if len(paths) == 0 {
			t.Errorf("kind %s has no allow-list in supported.go", kind)
		}
		obj, err := New(kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if err := checkFieldPath(obj, p); err != "" {
				t.Errorf("%s: %s: %s", kind, p, err)
			}
		}
	}
	if !slices.Equal(sortedKeys(supportedFields), GitKinds()) {
		t.Errorf("supportedFields has kinds %v, want the Git kinds %v", sortedKeys(supportedFields), GitKinds())
	}
}

// checkFieldPath returns "" when path (allow-list syntax) names a field of
// obj's type, or what is wrong.
func checkFieldPath(obj Object, path string) string {
	t := reflect.TypeOf(obj).Elem()
	for _, seg := range splitAllowPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case seg == "[*]":
			if t.Kind() != reflect.Slice {
				return "[*] on a non-list " + t.String()
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			ft, ok := structField(t, seg)
			if !ok {
				return "no field " + seg + " in " + t.String()
			}
			t = ft
		default:
			return "cannot descend into " + t.String() + " with " + seg
		}
	}
	return ""
}
