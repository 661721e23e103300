package nodeagent

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReclaimVolumes runs reclaimVolumes against a real store and
// directories: Delete removes the directory, then the volume; Recycle
// empties it and makes the volume Available; a volume whose claim a pod
// on the node still names waits; one outside the storage dir is left.
func TestReclaimVolumes(t *testing.T) {
	dataDir := t.TempDir()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &Agent{cfg: Config{DataDir: dataDir, NodeName: "n1", Store: st}, log: slog.New(slog.DiscardHandler)}
	storage := a.storageDir()
	released := func(name, path string, policy corev1.PersistentVolumeReclaimPolicy, claim string) *corev1.PersistentVolume {
		if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "sub", "data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy,
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
				ClaimRef:               &corev1.ObjectReference{Namespace: "default", Name: claim, UID: "gone"}},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased}}
		if _, err := st.Apply([]manifest.Object{pv}, nil, nil); err != nil {
			t.Fatal(err)
		}
		return pv
	}
	outside := filepath.Join(t.TempDir(), "elsewhere")
	released("del", filepath.Join(storage, "pvc-del"), corev1.PersistentVolumeReclaimDelete, "a")
	released("rec", filepath.Join(storage, "pvc-rec"), corev1.PersistentVolumeReclaimRecycle, "b")
	released("busy", filepath.Join(storage, "pvc-busy"), corev1.PersistentVolumeReclaimDelete, "c")
	released("out", outside, corev1.PersistentVolumeReclaimDelete, "d")
	pvs, err := a.persistentVolumes()
	if err != nil {
		t.Fatal(err)
	}
	stopping := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v",
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}}}
	if err := a.reclaimVolumes(pvs, []*corev1.Pod{stopping}, nil); err != nil {
		t.Fatal(err)
	}

	get := func(name string) *corev1.PersistentVolume {
		o, err := st.Get(manifest.Key{Kind: manifest.KindPersistentVolume, Name: name})
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return o.(*corev1.PersistentVolume)
	}
	if get("del") != nil {
		t.Errorf("volume del still stored")
	}
	if _, err := os.Stat(filepath.Join(storage, "pvc-del")); !os.IsNotExist(err) {
		t.Errorf("directory of del: %v, want it removed", err)
	}
	if pv := get("rec"); pv == nil || pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef != nil {
		t.Errorf("volume rec after recycling: %+v", pv)
	}
	if ents, err := os.ReadDir(filepath.Join(storage, "pvc-rec")); err != nil || len(ents) != 0 {
		t.Errorf("directory of rec: %d entries, %v; want it empty", len(ents), err)
	}
	if pv := get("busy"); pv == nil || pv.Status.Phase != corev1.VolumeReleased {
		t.Errorf("volume busy: %+v, want it kept while a pod names its claim", pv)
	}
	if _, err := os.Stat(filepath.Join(storage, "pvc-busy", "sub", "data")); err != nil {
		t.Errorf("data of busy: %v", err)
	}
	if get("out") == nil {
		t.Errorf("volume out (outside the storage dir) was deleted")
	}
	if _, err := os.Stat(filepath.Join(outside, "sub", "data")); err != nil {
		t.Errorf("data outside the storage dir: %v", err)
	}
}
