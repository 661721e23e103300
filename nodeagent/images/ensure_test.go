package images

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "nginx", want: "docker.io/library/nginx:latest"},
		{in: "nginx:1.27", want: "docker.io/library/nginx:1.27"},
		{in: "user/app", want: "docker.io/user/app:latest"},
		{in: "tug.local/hello:v1", want: "tug.local/hello:v1"},
		{in: "127.0.0.1:5000/hello", want: "127.0.0.1:5000/hello:latest"},
		{in: "localhost/x:y", want: "localhost/x:y"},
		{in: "nginx@sha256:" + strings.Repeat("a", 64), want: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)},
		{in: "nginx:1.27@sha256:" + strings.Repeat("a", 64), want: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)},
		{in: "library/UPPER", wantErr: `image "library/UPPER": invalid reference`},
		{in: "a b", wantErr: `image "a b": invalid reference`},
		{in: "", wantErr: `image "": invalid reference`},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Normalize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestEffectivePolicy(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("b", 64)
	tests := []struct {
		ref     string
		policy  corev1.PullPolicy
		want    corev1.PullPolicy
		wantErr string
	}{
		{ref: "nginx", want: corev1.PullAlways},
		{ref: "nginx:latest", want: corev1.PullAlways},
		{ref: "nginx:1.27", want: corev1.PullIfNotPresent},
		{ref: "tug.local/hello:v1", want: corev1.PullIfNotPresent},
		{ref: "nginx" + digest, want: corev1.PullIfNotPresent},
		{ref: "nginx:latest" + digest, want: corev1.PullIfNotPresent},
		{ref: "nginx", policy: corev1.PullNever, want: corev1.PullNever},
		{ref: "nginx:1.27", policy: corev1.PullAlways, want: corev1.PullAlways},
		{ref: "nginx:1.27", policy: corev1.PullIfNotPresent, want: corev1.PullIfNotPresent},
		{ref: "nginx", policy: "Sometimes", wantErr: `unknown imagePullPolicy "Sometimes"`},
		{ref: "Bad Ref", wantErr: "invalid reference"},
	}
	for _, tt := range tests {
		got, err := EffectivePolicy(tt.ref, tt.policy)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("EffectivePolicy(%q, %q) error = %v, want %q", tt.ref, tt.policy, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EffectivePolicy(%q, %q) = %q, %v; want %q", tt.ref, tt.policy, got, err, tt.want)
		}
	}
}

func TestIsArchive(t *testing.T) {
	for name, want := range map[string]bool{
		"hello-v1.tar":      true,
		".hello.tar":        false,
		".x.tar.tmp":        false,
		"hello.tar.gz":      false,
		"notes.txt":         false,
		"hello.tar.partial": false,
	} {
		if got := isArchive(name); got != want {
			t.Errorf("isArchive(%q) = %v, want %v", name, got, want)
		}
	}
}
