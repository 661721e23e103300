package reconciler

import (
	"maps"
	"strconv"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statefulClaimName is the claim of template tmpl for one ordinal.
func statefulClaimName(tmpl string, sts *appsv1.StatefulSet, ord int) string {
	return tmpl + "-" + sts.Name + "-" + strconv.Itoa(ord)
}

// ensureStatefulClaims creates the claims of ordinal ord that do not exist,
// as Kubernetes' StatefulSet controller does before creating the pod: the
// template's spec and labels plus the set's selector labels, the default
// class when the template names none, and, with whenDeleted: Delete, an
// owner reference to the set. An existing claim of that name is used as
// it is.
func ensureStatefulClaims(w *Writes, sts *appsv1.StatefulSet, ord int, ix *index, ids IDs) {
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		return
	}
	v := ix.volumes()
	for i := range sts.Spec.VolumeClaimTemplates {
		t := &sts.Spec.VolumeClaimTemplates[i]
		name := statefulClaimName(t.Name, sts, ord)
		if _, ok := v.claims[sts.Namespace+"/"+name]; ok {
			continue
		}
		lbls := maps.Clone(t.Labels)
		if sel := sts.Spec.Selector; sel != nil && len(sel.MatchLabels) > 0 {
			if lbls == nil {
				lbls = map[string]string{}
			}
			maps.Copy(lbls, sel.MatchLabels)
		}
		ann := maps.Clone(t.Annotations)
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationCreatedBy] = manifest.KindStatefulSet + "/" + sts.Name
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sts.Namespace, UID: ids.UID(), Labels: lbls, Annotations: ann},
			Spec:       *t.Spec.DeepCopy(),
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}
		if c.Spec.StorageClassName == nil {
			if def := v.defaultClass(); def != "" {
				c.Spec.StorageClassName = &def
			}
		}
		if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			ref := metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind(manifest.KindStatefulSet))
			ref.Controller = nil // an owner, not the controller: the claim outlives pods
			c.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		manifest.SetTypeMeta(c)
		w.put(c)
		v.addClaim(c)
	}
}

// statefulClaimVolumes returns the pod volumes of ordinal ord: the
// template's, with one persistentVolumeClaim volume per claim template
// (replacing a template volume of the same name, as Kubernetes does).
func statefulClaimVolumes(sts *appsv1.StatefulSet, ord int, vols []corev1.Volume) []corev1.Volume {
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		return vols
	}
	claims := map[string]bool{}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		claims[t.Name] = true
	}
	out := make([]corev1.Volume, 0, len(vols)+len(claims))
	for _, vol := range vols {
		if !claims[vol.Name] {
			out = append(out, vol)
		}
	}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		out = append(out, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: statefulClaimName(t.Name, sts, ord)},
		}})
	}
	return out
}
