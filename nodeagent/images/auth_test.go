package images

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func dockerJSON(name, cfg string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestKeyringLookup(t *testing.T) {
	secrets := []*corev1.Secret{
		dockerJSON("hub", `{"auths":{"https://index.docker.io/v1/":{"auth":"`+b64("hubuser:hubpass")+`"}}}`),
		dockerJSON("quay", `{"auths":{"quay.io":{"username":"q","password":"qp"},"quay.io/coreos":{"username":"core","password":"cp"}}}`),
		dockerJSON("glob", `{"auths":{"*.example.com":{"username":"g","password":"gp"},"registry:5000":{"username":"r","password":"rp"}}}`),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "old"}, Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"http://old.example.org/v2/":{"username":"o","password":"op"}}`)}},
	}
	k, err := KeyringFromSecrets(secrets)
	if err != nil {
		t.Fatal(err)
	}
	users := func(as []Auth) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Username+"@"+a.Source)
		}
		return out
	}
	tests := []struct {
		image string
		want  []string
	}{
		{"docker.io/library/nginx:latest", []string{"hubuser@ns/hub"}},
		{"docker.io/me/app", []string{"hubuser@ns/hub"}},
		{"quay.io/coreos/etcd:v3", []string{"core@ns/quay", "q@ns/quay"}},
		{"quay.io/other/x", []string{"q@ns/quay"}},
		{"reg.example.com/a/b:1", []string{"g@ns/glob"}},
		{"a.b.example.com/a", nil}, // a glob matches one part only
		{"registry:5000/app@sha256:" + strings.Repeat("a", 64), []string{"r@ns/glob"}},
		{"registry:5001/app", nil},
		{"old.example.org/app:v1", []string{"o@ns/old"}},
		{"ghcr.io/x/y", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, users(k.Lookup(tt.image))); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.image, diff)
		}
	}
	hub := k.Lookup("docker.io/library/nginx")
	if len(hub) != 1 || hub[0].Password != "hubpass" {
		t.Errorf("auth field not decoded: %+v", hub)
	}
}

func TestKeyringErrorsHideSecretData(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []*corev1.Secret{
		dockerJSON("bad", `{"auths": `+secret),
		dockerJSON("badauth", `{"auths":{"r.io":{"auth":"`+secret+`!"}}}`),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"x": []byte(secret)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nokey"}, Type: corev1.SecretTypeDockerConfigJson},
	}
	for _, s := range tests {
		_, err := KeyringFromSecrets([]*corev1.Secret{s})
		if err == nil {
			t.Errorf("secret %s: no error", s.Name)
			continue
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "ns/"+s.Name) {
			t.Errorf("secret %s: error %q shows the data or does not name the secret", s.Name, err)
		}
	}
	a := Auth{Username: "u", Password: secret, Source: "ns/x"}
	if strings.Contains(a.String(), secret) {
		t.Errorf("Auth.String shows the password: %s", a)
	}
}

func TestHumanBytes(t *testing.T) {
	got := []string{HumanBytes(999), HumanBytes(1000), HumanBytes(12_345_678), HumanBytes(3_000_000_000)}
	want := []string{"999B", "1.0kB", "12.3MB", "3.0GB"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
