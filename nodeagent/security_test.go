package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

func ptrTo[T any](v T) *T { return &v }

func TestSecurityOf(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		RunAsUser: ptrTo[int64](1000), RunAsGroup: ptrTo[int64](1000), RunAsNonRoot: ptrTo(true),
		FSGroup: ptrTo[int64](2000), SupplementalGroups: []int64{3000},
	}}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		c    corev1.Container
		want security
	}{
		{"nothing set: seccomp RuntimeDefault", &corev1.Pod{}, corev1.Container{}, security{Seccomp: true}},
		{"pod level", pod, corev1.Container{}, security{RunAsUser: ptrTo[int64](1000), RunAsGroup: ptrTo[int64](1000), RunAsNonRoot: true,
			ExtraGroups: []int64{2000, 3000}, Seccomp: true}},
		{"container overrides", pod, corev1.Container{SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptrTo[int64](405), RunAsNonRoot: ptrTo(false), ReadOnlyRootFilesystem: ptrTo(true),
			AllowPrivilegeEscalation: ptrTo(false), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_TIME"}, Drop: []corev1.Capability{"CHOWN"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		}}, security{RunAsUser: ptrTo[int64](405), RunAsGroup: ptrTo[int64](1000), ExtraGroups: []int64{2000, 3000},
			ReadOnlyRoot: true, NoNewPrivs: true, Add: []corev1.Capability{"SYS_TIME"}, Drop: []corev1.Capability{"CHOWN"}}},
		{"privileged is unconfined", &corev1.Pod{}, corev1.Container{SecurityContext: &corev1.SecurityContext{Privileged: ptrTo(true)}},
			security{Privileged: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, securityOf(tt.pod, &tt.c)); diff != "" {
				t.Errorf("securityOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyNonRoot(t *testing.T) {
	tests := []struct {
		s         security
		imageUser string
		wantErr   string
	}{
		{security{}, "", ""},
		{security{RunAsNonRoot: true}, "", "image will run as root"},
		{security{RunAsNonRoot: true}, "0", "image will run as root"},
		{security{RunAsNonRoot: true}, "0:0", "image will run as root"},
		{security{RunAsNonRoot: true}, "nobody", "non-numeric user (nobody)"},
		{security{RunAsNonRoot: true}, "65534:65534", ""},
		{security{RunAsNonRoot: true, RunAsUser: ptrTo[int64](405)}, "0", ""},
		{security{RunAsNonRoot: true, RunAsUser: ptrTo[int64](0)}, "1000", "runAsUser breaks non-root policy"},
	}
	for _, tt := range tests {
		err := verifyNonRoot(tt.s, tt.imageUser, "p_ns(uid)", "app")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("verifyNonRoot(%+v, %q) = %v, want %q", tt.s, tt.imageUser, err, tt.wantErr)
		}
	}
}

func TestWithCapabilities(t *testing.T) {
	base := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	tests := []struct {
		name      string
		add, drop []corev1.Capability
		want      []string
	}{
		{"add and drop", []corev1.Capability{"SYS_TIME"}, []corev1.Capability{"CHOWN"}, []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"}},
		{"drop ALL, add one", []corev1.Capability{"NET_BIND_SERVICE"}, []corev1.Capability{"ALL"}, []string{"CAP_NET_BIND_SERVICE"}},
		{"CAP_ prefix accepted", []corev1.Capability{"CAP_NET_ADMIN"}, nil, []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: base, Effective: base, Permitted: base}}}
			if err := withCapabilities(tt.add, tt.drop)(context.Background(), nil, &containers.Container{}, s); err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			if diff := cmp.Diff(tt.want, c.Bounding); diff != "" {
				t.Errorf("bounding (-want +got):\n%s", diff)
			}
			if !cmp.Equal(c.Bounding, c.Effective) || !cmp.Equal(c.Bounding, c.Permitted) {
				t.Errorf("effective %v and permitted %v differ from bounding %v", c.Effective, c.Permitted, c.Bounding)
			}
		})
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("chown needs root")
		}
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "key"), []byte("v"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := setVolumeOwnership(dir, 2000, true); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"sub": os.ModeDir | os.ModeSetgid | 0o755, "sub/key": 0o440} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 2000 {
			t.Errorf("%s: group %d, want 2000", p, gid)
		}
	}
}
