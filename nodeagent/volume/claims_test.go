package volume

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func claimsFixture() Claims {
	bound := func(name, pv string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "claim-" + types.UID(name)},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: pv},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
		}
	}
	vol := func(name, claim string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src,
				ClaimRef: &corev1.ObjectReference{Name: claim, UID: "uid-claim-" + types.UID(claim)}},
		}
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	onN1 := func(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}}
		return pv
	}
	return Claims{
		Claims: map[string]*corev1.PersistentVolumeClaim{
			"data":    bound("data", "pv-data"),
			"disk":    bound("disk", "pv-disk"),
			"pending": {ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			"racing":  bound("racing", "pv-other"),
		},
		Volumes: map[string]*corev1.PersistentVolume{
			"pv-data":  onN1(vol("pv-data", "data", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/tug/storage/pvc-1/", Type: &dirOrCreate}})),
			"pv-disk":  vol("pv-disk", "disk", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disk"}}),
			"pv-other": vol("pv-other", "someone-else", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/x"}}),
		},
	}
}

func TestResolveClaims(t *testing.T) {
	pod := func(claims ...string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{
			Volumes:    []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/tmp"}}}},
		}}
		for i, c := range claims {
			name := "v" + string(rune('0'+i))
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c, ReadOnly: c == "disk"}}})
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/" + name})
		}
		return p
	}
	type mount struct {
		Name, Path, Type string
		ReadOnly         bool
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		node    string
		want    []mount
		wantErr string
	}{{
		name: "no claims: unchanged",
		pod:  pod(),
		want: []mount{{Name: "scratch"}},
	}, {
		name: "hostPath and local volumes; readOnly claims mount read-only",
		pod:  pod("data", "disk"),
		want: []mount{{Name: "scratch"}, {Name: "v0", Path: "/var/lib/tug/storage/pvc-1", Type: "DirectoryOrCreate"}, {Name: "v1", Path: "/mnt/disk", Type: "Directory", ReadOnly: true}},
	}, {
		name:    "a volume of another node is not mounted",
		pod:     pod("data"),
		node:    "n2",
		wantErr: `is bound to persistentvolume "pv-data", which is on another node`,
	}, {
		name:    "pending claim holds the pod",
		pod:     pod("data", "pending"),
		wantErr: `volume "v1": persistentvolumeclaim "pending" is not bound yet`,
	}, {
		name:    "missing claim",
		pod:     pod("nope"),
		wantErr: `persistentvolumeclaim "nope" not found`,
	}, {
		name:    "volume bound to another claim",
		pod:     pod("racing"),
		wantErr: `is not yet bound by persistentvolume "pv-other"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claimsFixture()
			c.Node = "n1"
			if tt.node != "" {
				c.Node = tt.node
			}
			got, err := ResolveClaims(tt.pod, c)
			if tt.wantErr != "" {
				var nb *NotBoundError
				if !errors.As(err, &nb) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a NotBoundError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var mounts []mount
			ro := map[string]bool{}
			for _, m := range got.Spec.Containers[0].VolumeMounts {
				ro[m.Name] = m.ReadOnly
			}
			for _, v := range got.Spec.Volumes {
				m := mount{Name: v.Name, ReadOnly: ro[v.Name]}
				if v.HostPath != nil {
					m.Path = v.HostPath.Path
					if v.HostPath.Type != nil {
						m.Type = string(*v.HostPath.Type)
					}
				}
				mounts = append(mounts, m)
			}
			if diff := cmp.Diff(tt.want, mounts); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
			if tt.pod.Spec.Volumes[len(tt.pod.Spec.Volumes)-1].HostPath != nil {
				t.Errorf("the input pod was modified")
			}
		})
	}
}

func TestReclaimFor(t *testing.T) {
	pv := func(phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy, path, node string) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}},
			Status: corev1.PersistentVolumeStatus{Phase: phase}}
		if node != "" {
			v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}
		}
		return v
	}
	const dir = "/data/storage"
	tests := []struct {
		name string
		pv   *corev1.PersistentVolume
		want Reclaim
	}{
		{"released, Delete, ours", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete, dir+"/pvc-1", "n1"), ReclaimDelete},
		{"released, Recycle, no affinity", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimRecycle, dir+"/static", ""), ReclaimRecycle},
		{"released, Retain", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, dir+"/pvc-1", "n1"), ReclaimNone},
		{"bound", pv(corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete, dir+"/pvc-1", "n1"), ReclaimNone},
		{"another node's", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete, dir+"/pvc-1", "n2"), ReclaimNone},
		{"outside the storage dir", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete, "/data/other", "n1"), ReclaimNone},
		{"the storage dir itself", pv(corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete, dir, "n1"), ReclaimNone},
	}
	for _, tt := range tests {
		if got := ReclaimFor(tt.pv, "n1", dir); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestStorageDirs(t *testing.T) {
	root := t.TempDir()
	storage := filepath.Join(root, "storage")
	vol := filepath.Join(storage, "pvc-1_default_data")
	if err := EnsureStorageDir(storage, vol); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(vol)
	if err != nil || st.Mode().Perm() != 0o777 {
		t.Fatalf("volume dir: %v, mode %v; want 0777", err, st.Mode().Perm())
	}
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := EmptyStorageDir(storage, vol); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(vol); err != nil || len(ents) != 0 {
		t.Fatalf("after recycle: %v entries, err %v; want an empty directory", len(ents), err)
	}

	// A link inside the storage directory must not lead outside it.
	outside := filepath.Join(root, "precious")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(storage, "evil")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := EmptyStorageDir(storage, link); err == nil {
		t.Errorf("recycling a link was allowed")
	}
	if err := RemoveStorageDir(storage, filepath.Join(link, "x")); err == nil {
		t.Errorf("removing through a link was allowed")
	}
	if err := RemoveStorageDir(storage, outside); err == nil {
		t.Errorf("removing outside the storage dir was allowed")
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("data outside the storage dir was touched: %v", err)
	}

	if err := RemoveStorageDir(storage, vol); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Errorf("volume dir still there after delete: %v", err)
	}
	if err := RemoveStorageDir(storage, vol); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
}
