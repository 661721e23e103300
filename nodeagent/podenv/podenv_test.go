package podenv

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": "", "NESTED": "$(A)"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(A)$(B)", "ab"},
		{"$(MISSING)", "$(MISSING)"},
		{"$(EMPTY)x", "x"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$(NESTED)", "$(A)"}, // values are not expanded again
		{"100$", "100$"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, lookup); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestEnv(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
	src := Sources{
		ConfigMaps: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"MESSAGE": "hi", "COLOR": "blue"}}},
		Secrets: map[string]*corev1.Secret{
			"db": {Data: map[string][]byte{"password": []byte("s3cret")}, StringData: map[string]string{"user": "admin"}},
		},
	}
	rt := Runtime{PodIP: "10.42.0.5", HostIP: "127.0.0.1"}
	cmRef := func(name, key string, opt bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(opt)}}
	}
	secRef := func(name, key string, opt bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(opt)}}
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []Var
		wantErr string
	}{
		{
			name: "plain values and expansion of earlier vars",
			c: corev1.Container{Name: "c", Env: []corev1.EnvVar{
				{Name: "A", Value: "1"}, {Name: "B", Value: "$(A)-$(C)"}, {Name: "C", Value: "3"}, {Name: "A", Value: "override"},
			}},
			want: []Var{{"A", "override"}, {"B", "1-$(C)"}, {"C", "3"}},
		},
		{
			name: "envFrom with prefix, sorted, then env",
			c: corev1.Container{Name: "c",
				EnvFrom: []corev1.EnvFromSource{
					{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				},
				Env: []corev1.EnvVar{{Name: "URL", Value: "$(user):$(password)@db/$(CFG_COLOR)"}},
			},
			want: []Var{{"CFG_COLOR", "blue"}, {"CFG_MESSAGE", "hi"}, {"password", "s3cret"}, {"user", "admin"}, {"URL", "admin:s3cret@db/blue"}},
		},
		{
			name: "valueFrom refs and fields",
			c: corev1.Container{Name: "c", Env: []corev1.EnvVar{
				{Name: "MESSAGE", ValueFrom: cmRef("cfg", "MESSAGE", false)},
				{Name: "PASS", ValueFrom: secRef("db", "password", false)},
				{Name: "OPT1", ValueFrom: cmRef("cfg", "missing", true)},
				{Name: "OPT2", ValueFrom: secRef("gone", "x", true)},
				{Name: "POD", ValueFrom: field("metadata.name")},
				{Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "IP", ValueFrom: field("status.podIP")},
				{Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "ADDR", Value: "http://$(IP):8080"},
			}},
			want: []Var{{"MESSAGE", "hi"}, {"PASS", "s3cret"}, {"POD", "web-1"}, {"NS", "shop"}, {"UID", "u-1"}, {"NODE", "n1"}, {"IP", "10.42.0.5"}, {"APP", "web"}, {"ADDR", "http://10.42.0.5:8080"}},
		},
		{
			name:    "missing configmap",
			c:       corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmRef("nope", "k", false)}}},
			wantErr: `container "c": env X: configmap "nope" not found`,
		},
		{
			name:    "missing secret key names no value",
			c:       corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: secRef("db", "token", false)}}},
			wantErr: `container "c": env X: key "token" not found in secret "db"`,
		},
		{
			name:    "missing envFrom secret",
			c:       corev1.Container{Name: "c", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}},
			wantErr: `container "c": envFrom: secret "x" not found`,
		},
		{
			name:    "unsupported field",
			c:       corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.schedulerName")}}},
			wantErr: `fieldRef "spec.schedulerName" is not supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Env(pod, &tt.c, src, rt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandAll(t *testing.T) {
	lookup := Lookup([]Var{{"PORT", "8080"}, {"HOST", "h"}})
	got := ExpandAll([]string{"serve", "--addr=$(HOST):$(PORT)", "$$(PORT)", "$(NOPE)"}, lookup)
	want := []string{"serve", "--addr=h:8080", "$(PORT)", "$(NOPE)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ExpandAll(nil, lookup) != nil {
		t.Error("ExpandAll(nil) != nil")
	}
}
