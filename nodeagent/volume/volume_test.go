package volume

import (
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/nodeagent/podenv"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("2"),
			corev1.ResourceMemory:           resource.MustParse("8Gi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100G"),
		},
	}
	resFile := func(path, container, res, divisor string) corev1.DownwardAPIVolumeFile {
		ref := &corev1.ResourceFieldSelector{ContainerName: container, Resource: res}
		if divisor != "" {
			ref.Divisor = resource.MustParse(divisor)
		}
		return corev1.DownwardAPIVolumeFile{Path: path, ResourceFieldRef: ref}
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
			name: "downwardAPI fields, labels and annotations",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				DefaultMode: ptr[int32](0o440),
				Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
					{Path: "meta/name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr[int32](0o600)},
					{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
					{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
					{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
				},
			}}},
			want: Volume{Name: "d", Kind: DownwardAPI, Tmpfs: true, Files: []File{
				{"annotations", []byte(`note="say \"hi\""`), 0o440},
				{"app", []byte("web"), 0o440},
				{"labels", []byte("app=\"web\"\ntier=\"front\""), 0o440},
				{"meta/name", []byte("web-1"), 0o600},
				{"ns", []byte("shop"), 0o440},
				{"uid", []byte("u-1"), 0o440},
			}},
		},
		{
			name: "downwardAPI resourceFieldRef",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{
					resFile("cpu_limit", "web", "limits.cpu", "1m"),
					resFile("cpu_limit_cores", "web", "limits.cpu", ""),
					resFile("cpu_request", "web", "requests.cpu", "1m"),
					resFile("mem_limit", "web", "limits.memory", "1Mi"),
					resFile("mem_request", "web", "requests.memory", ""),
					resFile("side/mem_limit", "side", "limits.memory", "1Gi"),
					resFile("side/cpu_limit", "side", "limits.cpu", ""),
					resFile("side/storage_limit", "side", "limits.ephemeral-storage", "1G"),
					resFile("side/cpu_request", "side", "requests.cpu", ""),
					resFile("init/storage_request", "init", "requests.ephemeral-storage", "1Mi"),
				},
			}}},
			want: Volume{Name: "d", Kind: DownwardAPI, Tmpfs: true, Files: []File{
				{"cpu_limit", []byte("500"), 0o644},
				{"cpu_limit_cores", []byte("1"), 0o644}, // rounded up
				{"cpu_request", []byte("250"), 0o644},
				{"init/storage_request", []byte("512"), 0o644},
				{"mem_limit", []byte("128"), 0o644},
				{"mem_request", []byte("134217728"), 0o644}, // the limit: the API server's default request
				{"side/cpu_limit", []byte("2"), 0o644},      // no limit: node allocatable
				{"side/cpu_request", []byte("0"), 0o644},
				{"side/mem_limit", []byte("8"), 0o644},
				{"side/storage_limit", []byte("100"), 0o644},
			}},
		},
		{
			name: "downwardAPI resourceFieldRef needs containerName",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{resFile("cpu", "", "limits.cpu", "")},
			}}},
			wantErr: `volume "d": downwardAPI item "cpu": resourceFieldRef.containerName is required in volumes`,
		},
		{
			name: "downwardAPI resourceFieldRef unknown container",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{resFile("cpu", "nope", "limits.cpu", "")},
			}}},
			wantErr: `downwardAPI item "cpu": resourceFieldRef: no container named "nope"`,
		},
		{
			name: "downwardAPI resourceFieldRef unknown resource",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{resFile("gpu", "web", "limits.nvidia.com/gpu", "")},
			}}},
			wantErr: `resource "limits.nvidia.com/gpu" is not supported`,
		},
		{
			name: "downwardAPI item without a source",
			vol: corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "x"}},
			}}},
			wantErr: `downwardAPI item "x": fieldRef or resourceFieldRef is required`,
		},
		{
			name: "projected configMap, secret and downwardAPI",
			vol: corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr[int32](0o400),
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
						Items: []corev1.KeyToPath{{Key: "a.conf", Path: "conf/a", Mode: ptr[int32](0o644)}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"},
						Items: []corev1.KeyToPath{{Key: "tls.key", Path: "tls/key"}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
						{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
						resFile("mem", "side", "limits.memory", "1Mi")}}},
				},
			}}},
			want: Volume{Name: "p", Kind: Projected, Tmpfs: true, Files: []File{
				{"conf/a", []byte("A"), 0o644}, {"mem", []byte("8192"), 0o400}, {"name", []byte("web-1"), 0o400}, {"tls/key", []byte("KEY"), 0o400},
			}},
		},
		{
			name: "projected duplicate path",
			vol: corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
						Items: []corev1.KeyToPath{{Key: "a.conf", Path: "x"}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"},
						Items: []corev1.KeyToPath{{Key: "tls.key", Path: "x"}}}},
				},
			}}},
			wantErr: `volume "p": sources[1]: path "x" is also projected by sources[0]`,
		},
		{
			name: "projected missing secret",
			vol: corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			}}},
			wantErr: `volume "p": sources[0]: secret "nope" not found`,
		},
		{
			name:    "unsupported source",
			vol:     corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}},
			wantErr: `volume "h": volume source is not supported`,
		},
		{
			name: "hostPath",
			vol:  corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/", Type: ptr(corev1.HostPathDirectory)}}},
			want: Volume{Name: "h", Kind: HostPath, Host: "/var/log", HostType: corev1.HostPathDirectory},
		},
		{
			name:    "hostPath relative",
			vol:     corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "var"}}},
			wantErr: `volume "h": hostPath "var" must be absolute`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u-1",
					Labels: map[string]string{"tier": "front", "app": "web"}, Annotations: map[string]string{"note": `say "hi"`}},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{tt.vol},
					Containers: []corev1.Container{
						{Name: "web", Resources: corev1.ResourceRequirements{
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
						}},
						{Name: "side"},
					},
					InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("512Mi")}}}},
				},
			}
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
	if got := readTree(t, filepath.Join(Dir(podDir, "s"), DataLink)+"/"); got["key"] != "-r-------- K" {
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

// readVolume reads every file through the volume's user-visible names (the
// top-level links), as a container would.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if e.Type()&fs.ModeSymlink == 0 {
			t.Errorf("%s is %v, want a link into %s", e.Name(), e.Type(), DataLink)
			continue
		}
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p += "/"
		}
		for rel, v := range readTree(t, p) {
			if rel == "." {
				rel = e.Name()
			} else {
				rel = e.Name() + "/" + rel
			}
			out[rel] = v
		}
	}
	return out
}

func TestSyncAtomic(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	// A directory in the old plain layout is converted.
	if _, err := Sync(dir, []File{{"old", []byte("x"), 0o644}, {"a", []byte("plain"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	files := []File{{"a", []byte("1"), 0o644}, {"sub/b", []byte("2"), 0o400}}
	changed, err := SyncAtomic(dir, files, t0)
	if err != nil || !changed {
		t.Fatalf("first sync: changed=%v err=%v", changed, err)
	}
	want := map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-r-------- 2"}
	if diff := cmp.Diff(want, readVolume(t, dir)); diff != "" {
		t.Errorf("after first sync (-want +got):\n%s", diff)
	}
	ts1, err := os.Readlink(filepath.Join(dir, DataLink))
	if err != nil || !strings.HasPrefix(ts1, "..2026_01_02_03_04_05.") {
		t.Fatalf("%s -> %q (%v), want a timestamped directory", DataLink, ts1, err)
	}
	for _, name := range []string{"a", "sub"} {
		if got, _ := os.Readlink(filepath.Join(dir, name)); got != filepath.Join(DataLink, name) {
			t.Errorf("%s -> %q, want %s", name, got, filepath.Join(DataLink, name))
		}
	}

	changed, err = SyncAtomic(dir, files, t0.Add(time.Second))
	if err != nil || changed {
		t.Fatalf("repeat sync: changed=%v err=%v", changed, err)
	}

	// A file held open before the update keeps the old content (the old
	// directory is unlinked, not rewritten); the new one swaps in whole.
	held, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	changed, err = SyncAtomic(dir, []File{{"a", []byte("new"), 0o600}, {"c", []byte("3"), 0o644}}, t0.Add(time.Minute))
	if err != nil || !changed {
		t.Fatalf("update sync: changed=%v err=%v", changed, err)
	}
	want = map[string]string{"a": "-rw------- new", "c": "-rw-r--r-- 3"}
	if diff := cmp.Diff(want, readVolume(t, dir)); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}
	oldData, _ := io.ReadAll(held)
	if string(oldData) != "1" {
		t.Errorf("file opened before the update reads %q, want the old %q", oldData, "1")
	}
	ts2, _ := os.Readlink(filepath.Join(dir, DataLink))
	if ts2 == ts1 || !strings.HasPrefix(ts2, "..2026_01_02_03_05_05.") {
		t.Errorf("%s -> %q after update, want a new directory (was %q)", DataLink, ts2, ts1)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{ts2, DataLink, "a", "c"}, names); diff != "" {
		t.Errorf("volume directory entries (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"..data", "../x", "/abs", "..x"} {
		if _, err := SyncAtomic(dir, []File{{bad, nil, 0o644}}, t0); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestSetupHostPath(t *testing.T) {
	root := t.TempDir()
	mk := func(name string) string { return filepath.Join(root, name) }
	if err := os.Mkdir(mk("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mk("file"), []byte("f"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", mk("sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
		want    string // what the path is afterwards: "dir", "file"
	}{
		{path: mk("nothing"), typ: corev1.HostPathUnset},
		{path: mk("made/deep"), typ: corev1.HostPathDirectoryOrCreate, want: "dir"},
		{path: mk("dir"), typ: corev1.HostPathDirectoryOrCreate, want: "dir"},
		{path: mk("file"), typ: corev1.HostPathDirectoryOrCreate, wantErr: "is not a directory"},
		{path: mk("dir"), typ: corev1.HostPathDirectory, want: "dir"},
		{path: mk("gone"), typ: corev1.HostPathDirectory, wantErr: "does not exist"},
		{path: mk("newfile"), typ: corev1.HostPathFileOrCreate, want: "file"},
		{path: mk("noparent/newfile"), typ: corev1.HostPathFileOrCreate, wantErr: "no such file or directory"},
		{path: mk("dir"), typ: corev1.HostPathFileOrCreate, wantErr: "is not a file"},
		{path: mk("file"), typ: corev1.HostPathFile, want: "file"},
		{path: mk("dir"), typ: corev1.HostPathFile, wantErr: "is not a file"},
		{path: mk("sock"), typ: corev1.HostPathSocket},
		{path: mk("file"), typ: corev1.HostPathSocket, wantErr: "is not a socket"},
		{path: "/dev/null", typ: corev1.HostPathCharDev},
		{path: mk("file"), typ: corev1.HostPathCharDev, wantErr: "is not a character device"},
		{path: "/dev/null", typ: corev1.HostPathBlockDev, wantErr: "is not a block device"},
		{path: mk("gone"), typ: corev1.HostPathBlockDev, wantErr: "does not exist"},
	}
	podDir := filepath.Join(root, "pod")
	for _, tt := range tests {
		t.Run(string(tt.typ)+" "+strings.TrimPrefix(tt.path, root), func(t *testing.T) {
			err := Setup(podDir, Volume{Name: "h", Kind: HostPath, Host: tt.path, HostType: tt.typ})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(tt.path)
			switch tt.want {
			case "dir":
				if err != nil || !st.IsDir() {
					t.Errorf("%s: not a directory afterwards (%v)", tt.path, err)
				}
			case "file":
				if err != nil || !st.Mode().IsRegular() {
					t.Errorf("%s: not a file afterwards (%v)", tt.path, err)
				}
			}
		})
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("hostPath setup created the pod directory: %v", err)
	}
}
