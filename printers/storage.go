package printers

import (
	"fmt"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PersistentVolumes, claims and storage classes print as kubectl 1.30
// prints them.

func persistentVolumeColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Capacity", "string"), column("Access Modes", "string"),
		column("Reclaim Policy", "string"), column("Status", "string"), column("Claim", "string"), column("StorageClass", "string"),
		column("VolumeAttributesClass", "string"), column("Reason", "string"), column("Age", "string"), wide("VolumeMode")}
}

func persistentVolumeRow(obj manifest.Object, now time.Time) ([]any, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, fmt.Errorf("not a persistent volume: %T", obj)
	}
	claim := ""
	if r := pv.Spec.ClaimRef; r != nil {
		claim = r.Namespace + "/" + r.Name
	}
	capacity := ""
	if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
		capacity = q.String()
	}
	status := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		status = "Terminating" // as kubectl shows it
	}
	return []any{pv.Name, capacity, accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		status, claim, pv.Spec.StorageClassName, "<unset>", pv.Status.Reason, age(pv.CreationTimestamp, now),
		volumeMode(pv.Spec.VolumeMode)}, nil
}

func persistentVolumeClaimColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Status", "string"), column("Volume", "string"),
		column("Capacity", "string"), column("Access Modes", "string"), column("StorageClass", "string"),
		column("VolumeAttributesClass", "string"), column("Age", "string"), wide("VolumeMode")}
}

func persistentVolumeClaimRow(obj manifest.Object, now time.Time) ([]any, error) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("not a persistent volume claim: %T", obj)
	}
	capacity, modes := "", ""
	if c.Spec.VolumeName != "" { // kubectl shows them once the claim is bound
		if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
			capacity = q.String()
		}
		modes = accessModes(c.Status.AccessModes)
	}
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	status := string(c.Status.Phase)
	if c.DeletionTimestamp != nil {
		status = "Terminating" // as kubectl shows it
	}
	return []any{c.Name, status, c.Spec.VolumeName, capacity, modes, class, "<unset>",
		age(c.CreationTimestamp, now), volumeMode(c.Spec.VolumeMode)}, nil
}

func storageClassColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Provisioner", "string"), column("ReclaimPolicy", "string"),
		column("VolumeBindingMode", "string"), column("AllowVolumeExpansion", "string"), column("Age", "string")}
}

func storageClassRow(obj manifest.Object, now time.Time) ([]any, error) {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil, fmt.Errorf("not a storage class: %T", obj)
	}
	name := sc.Name
	if sc.Annotations[manifest.AnnotationDefaultStorageClass] == "true" {
		name += " (default)"
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	mode := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		mode = string(*sc.VolumeBindingMode)
	}
	expand := "false"
	if sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion {
		expand = "true"
	}
	return []any{name, sc.Provisioner, reclaim, mode, expand, age(sc.CreationTimestamp, now)}, nil
}

// accessModes abbreviates as kubectl does: RWO,ROX,RWX,RWOP.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX", corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP",
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod} {
		for _, have := range modes {
			if have == m && !seen[short[m]] {
				out = append(out, short[m])
				seen[short[m]] = true
			}
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return string(corev1.PersistentVolumeFilesystem)
	}
	return string(*m)
}
