package nodeagent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPullRetryDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 7; n++ {
		got = append(got, Failure{Reason: "ErrImagePull", Attempts: n}.retryDelay())
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := (Failure{Reason: "ContainerCreating", Container: "app", Attempts: 5}).retryDelay(); d != time.Second {
		t.Errorf("waiting for an import: retry after %s, want 1s", d)
	}
}

func TestPullBackOff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Failure{Container: "app", Reason: "ErrImagePull", At: now,
		Message: `pod default/p: StartContainer: container "app": image "r:5000/a:v1" is not on this node and pulling it failed: 401 Unauthorized`}
	tests := []struct {
		name   string
		in     Failure
		now    time.Time
		want   Failure
		backed bool
	}{
		{"fresh failure stays ErrImagePull", f, now.Add(time.Second), f, false},
		{"later: ImagePullBackOff", f, now.Add(3 * time.Second), Failure{Container: "app", Reason: "ImagePullBackOff", At: now,
			Message: `Back-off pulling image "r:5000/a:v1": ErrImagePull: image "r:5000/a:v1" is not on this node and pulling it failed: 401 Unauthorized`}, true},
		{"other failures untouched", Failure{Reason: "RunContainerError", At: now}, now.Add(time.Minute), Failure{Reason: "RunContainerError", At: now}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, backed := pullBackOff(tt.in, "r:5000/a:v1", tt.now)
			if diff := cmp.Diff(tt.want, got); diff != "" || backed != tt.backed {
				t.Errorf("backed off %v, want %v (-want +got):\n%s", backed, tt.backed, diff)
			}
		})
	}
}

func TestSnapshotPodUID(t *testing.T) {
	tests := []struct {
		key, uid string
		ok       bool
	}{
		{"0b7c2a52-5a0e-4d5e-9d43-1f3e5b7c9a10-app", "0b7c2a52-5a0e-4d5e-9d43-1f3e5b7c9a10", true},
		{"0b7c2a52-5a0e-4d5e-9d43-1f3e5b7c9a10-", "", false},
		{"sha256:0b7c2a525a0e4d5e9d431f3e5b7c9a10aaaaaaaa", "", false},
		{"tug/12/0b7c2a52-5a0e-4d5e-9d43-1f3e5b7c9a10-app", "", false},
		{"0B7C2A52-5A0E-4D5E-9D43-1F3E5B7C9A10-app", "", false},
	}
	for _, tt := range tests {
		uid, ok := snapshotPodUID(tt.key)
		if ok != tt.ok || (ok && uid != tt.uid) {
			t.Errorf("snapshotPodUID(%q) = %q, %v; want %q, %v", tt.key, uid, ok, tt.uid, tt.ok)
		}
	}
}

func TestPullAuths(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "good"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"r.io":{"username":"u","password":"secret-pw"}}}`)}}
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"x": []byte("secret-pw")}}
	if _, err := st.Apply([]manifest.Object{good, opaque}, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{Store: st}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "missing"}, {Name: "opaque"}, {Name: "good"}}}}
	auths, err := a.pullAuths(pod, "r.io/team/app:v1")
	if len(auths) != 1 || auths[0].Username != "u" || auths[0].Source != "ns/good" {
		t.Errorf("auths %v, want u from ns/good", auths)
	}
	if err == nil || !strings.Contains(err.Error(), "ns/missing") || !strings.Contains(err.Error(), "ns/opaque") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error %v: want ns/missing and ns/opaque named, no secret value", err)
	}
	if auths, _ := a.pullAuths(pod, "other.io/app"); len(auths) != 0 {
		t.Errorf("credentials for another registry: %v", auths)
	}
}
