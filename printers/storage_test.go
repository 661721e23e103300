package printers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPrintStorage(t *testing.T) {
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	storage := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
	}
	pvs := []manifest.Object{
		&corev1.PersistentVolume{ObjectMeta: objMeta("", "pvc-3f2a", time.Hour), Spec: corev1.PersistentVolumeSpec{
			Capacity: storage("1Gi"), AccessModes: rwo, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName: "local-path", ClaimRef: &corev1.ObjectReference{Namespace: "db", Name: "data-pg-0"}},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
		&corev1.PersistentVolume{ObjectMeta: objMeta("", "static", 3*24*time.Hour), Spec: corev1.PersistentVolumeSpec{
			Capacity: storage("10Gi"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRecycle, VolumeMode: ptr(corev1.PersistentVolumeFilesystem)},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeFailed, Reason: "VolumeFailedReclaim"}},
	}
	claims := []manifest.Object{
		&corev1.PersistentVolumeClaim{ObjectMeta: objMeta("db", "data-pg-0", time.Hour), Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr("local-path"), VolumeName: "pvc-3f2a"},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: storage("1Gi"), AccessModes: rwo}},
		&corev1.PersistentVolumeClaim{ObjectMeta: objMeta("db", "waiting", 10*time.Second),
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
	}
	builtin := objMeta("", "local-path", 2*time.Hour)
	builtin.Annotations = map[string]string{manifest.AnnotationDefaultStorageClass: "true"}
	classes := []manifest.Object{
		&storagev1.StorageClass{ObjectMeta: builtin, Provisioner: manifest.ProvisionerLocalPath,
			ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer)},
		&storagev1.StorageClass{ObjectMeta: objMeta("", "disks", time.Minute), Provisioner: manifest.ProvisionerNoProvisioning},
	}
	print := func(kind, output string, objs []manifest.Object) string {
		tbl, err := Table(kind, objs, now)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := PrintTable(&buf, tbl, Options{Now: now, Output: output}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	got := print(manifest.KindPersistentVolume, "", pvs) + "\n" +
		print(manifest.KindPersistentVolumeClaim, OutputWide, claims) + "\n" +
		print(manifest.KindStorageClass, "", classes)
	path := filepath.Join("testdata", "storage.golden")
	if os.Getenv("TUG_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (TUG_UPDATE_GOLDEN=1 creates it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
