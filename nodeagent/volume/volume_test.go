package volume

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/nodeagent/podenv"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func ptr[T any](v T) *T { return &v }

func TestRender(t *testing.T) {
	src := podenv.Sources{
		ConfigMaps: map[string]*corev1.ConfigMap{
			"cfg": {Data: map[string]string{"b.conf": "B", "a.conf": "A"}, BinaryData: map[string][]byte{"bin": {0, 1}}},
		},
		Secrets: map[string]*corev1.Secret{
			"tls": {Data: map[string][]byte{"tls.key": []byte("KEY"), "tls.crt": []byte("CRT")}, StringData: map[string]string{"extra": "E"}},
		},
	}
	sizeLimit := resource.MustParse("64Mi")
	tests := []struct {
		name    string
		vol     corev1.Volume
		want    Volume
		wantErr string
	}{
		{
			name: "emptyDir",
			vol:  corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			want: Volume{Name: "scratch", Kind: EmptyDir},
		},
		{
			name: "memory emptyDir",
			vol:  corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &sizeLimit}}},
			want: Volume{Name: "mem", Kind: EmptyDir, Tmpfs: true, Size: 64 << 20},
		},
		{
			name: "whole configmap",
			vol:  corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			want: Volume{Name: "c", Kind: ConfigMap, Files: []File{
				{"a.conf", []byte("A"), 0o644}, {"b.conf", []byte("B"), 0o644}, {"bin", []byte{0, 1}, 0o644},
			}},
		},
		{
			name: "configmap items and modes",
			vol: corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr[int32](0o600),
				Items: []corev1.KeyToPath{{Key: "b.conf", Path: "sub/b"}, {Key: "a.conf", Path: "a", Mode: ptr[int32](0o755)}},
			}}},
			want: Volume{Name: "c", Kind: ConfigMap, Files: []File{{"a", []byte("A"), 0o755}, {"sub/b", []byte("B"), 0o600}}},
		},
		{
			name: "secret defaults to 0644 on tmpfs",
			vol:  corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
			want: Volume{Name: "s", Kind: Secret, Tmpfs: true, Files: []File{
				{"extra", []byte("E"), 0o644}, {"tls.crt", []byte("CRT"), 0o644}, {"tls.key", []byte("KEY"), 0o644},
			}},
		},
		{
			name: "secret defaultMode and items",
			vol: corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "tls", DefaultMode: ptr[int32](0o440), Items: []corev1.KeyToPath{{Key: "tls.key", Path: "key.pem"}},
			}}},
			want: Volume{Name: "s", Kind: Secret, Tmpfs: true, Files: []File{{"key.pem", []byte("KEY"), 0o440}}},
		},
		{
			name: "optional missing secret is empty",
			vol:  corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope", Optional: ptr(true)}}},
			want: Volume{Name: "s", Kind: Secret, Tmpfs: true},
		},
		{
			name:    "missing configmap",
			vol:     corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			wantErr: `volume "c": configmap "nope" not found`,
		},
		{
			name: "missing item key",
			vol: corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "tls", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca"}},
			}}},
			wantErr: `volume "s": key "ca.crt" not found in secret "tls"`,
		},
		{
			name: "escaping path",
			vol: corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a.conf", Path: "../../etc/passwd"}},
			}}},
			wantErr: "must be relative and stay inside the volume",
		},
		{
			name:    "unsupported source",
			vol:     corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
			wantErr: `volume "h": volume source is not supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{tt.vol}}}
			got, err := Render(pod, src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Volume{tt.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = st.Mode().Perm().String() + " " + string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSync(t *testing.T) {
	dir := t.TempDir()
	changed, err := Sync(dir, []File{{"a", []byte("1"), 0o644}, {"sub/b", []byte("2"), 0o400}})
	if err != nil || !changed {
		t.Fatalf("first sync: changed=%v err=%v", changed, err)
	}
	want := map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-r-------- 2"}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("after first sync (-want +got):\n%s", diff)
	}
	changed, err = Sync(dir, []File{{"a", []byte("1"), 0o644}, {"sub/b", []byte("2"), 0o400}})
	if err != nil || changed {
		t.Fatalf("repeat sync: changed=%v err=%v", changed, err)
	}
	changed, err = Sync(dir, []File{{"a", []byte("new"), 0o600}})
	if err != nil || !changed {
		t.Fatalf("update sync: changed=%v err=%v", changed, err)
	}
	want = map[string]string{"a": "-rw------- new"}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("empty sub directory left behind: %v", err)
	}
}

func TestSetupTeardownTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount tmpfs")
		}
		t.Skip("needs root to mount tmpfs")
	}
	podDir := filepath.Join(t.TempDir(), "pod")
	v := Volume{Name: "s", Kind: Secret, Tmpfs: true, Files: []File{{"key", []byte("K"), 0o400}}}
	if err := Setup(podDir, v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(Dir(podDir, "s"), unix.MNT_DETACH) })
	if err := Setup(podDir, v); err != nil { // idempotent: no second mount
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(Dir(podDir, "s"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Errorf("secret volume fs type %#x, want tmpfs", st.Type)
	}
	if got := readTree(t, Dir(podDir, "s")); got["key"] != "-r-------- K" {
		t.Errorf("secret file = %q", got["key"])
	}
	if err := Teardown(podDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), podDir) {
		t.Errorf("mount left behind under %s", podDir)
	}
}
