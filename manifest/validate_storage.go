package manifest

import (
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Storage provisioners a StorageClass may name. ProvisionerLocalPath is
// tug's own (a directory under <data-dir>/storage on the node of the first
// pod, as k3s' local-path-provisioner does); rancher.io/local-path is
// accepted as its alias so k3s manifests run unchanged.
// kubernetes.io/no-provisioner marks a class of static volumes only.
const (
	ProvisionerLocalPath      = "tug.dev/local-path"
	ProvisionerRancherLocal   = "rancher.io/local-path"
	ProvisionerNoProvisioning = "kubernetes.io/no-provisioner"
	// AnnotationDefaultStorageClass marks the class claims without
	// storageClassName get.
	AnnotationDefaultStorageClass = "storageclass.kubernetes.io/is-default-class"
)

// IsLocalPathProvisioner reports whether p is tug's local-path provisioner
// (or its k3s alias).
func IsLocalPathProvisioner(p string) bool {
	return p == ProvisionerLocalPath || p == ProvisionerRancherLocal
}

// persistentVolumeFields are the PersistentVolume fields tug implements:
// hostPath and local volumes, bound by class, capacity and access modes.
var persistentVolumeFields = []string{
	"spec.capacity.storage",
	"spec.accessModes",
	"spec.persistentVolumeReclaimPolicy",
	"spec.storageClassName",
	"spec.volumeMode",
	"spec.hostPath.path",
	"spec.hostPath.type",
	"spec.local.path",
	"spec.nodeAffinity.required",
	"spec.claimRef.name",
	"spec.claimRef.namespace",
}

// claimSpecFields are the PersistentVolumeClaim spec fields tug implements,
// relative to the spec (also used by StatefulSet volumeClaimTemplates).
var claimSpecFields = []string{
	"accessModes",
	"resources.requests.storage",
	"storageClassName",
	"volumeMode",
	"volumeName",
	"selector",
}

// storageClassFields are the StorageClass fields tug implements.
var storageClassFields = []string{
	"provisioner",
	"reclaimPolicy",
	"volumeBindingMode",
}

// statefulSetClaimFields are the StatefulSet fields for per-ordinal claims.
var statefulSetClaimFields = join([]string{
	"spec.volumeClaimTemplates[*].apiVersion",
	"spec.volumeClaimTemplates[*].kind",
	"spec.volumeClaimTemplates[*].metadata.name",
	"spec.volumeClaimTemplates[*].metadata.labels",
	"spec.volumeClaimTemplates[*].metadata.annotations",
	// kubectl get -o yaml prints each template's status (phase: Pending);
	// Kubernetes ignores it, and so does tug.
	"spec.volumeClaimTemplates[*].status",
	"spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
	"spec.persistentVolumeClaimRetentionPolicy.whenScaled",
}, prefixed("spec.volumeClaimTemplates[*].spec.", claimSpecFields))

func (c *checker) persistentVolume(pv *corev1.PersistentVolume) {
	spec := &pv.Spec
	if q, ok := spec.Capacity[corev1.ResourceStorage]; !ok {
		c.add("spec.capacity.storage", "capacity.storage is required (for example 10Gi)")
	} else if q.Sign() <= 0 {
		c.add("spec.capacity.storage", "must be more than 0")
	}
	c.accessModes("spec.accessModes", spec.AccessModes)
	switch spec.PersistentVolumeReclaimPolicy {
	case "", corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete:
	case corev1.PersistentVolumeReclaimRecycle:
		if spec.Local != nil {
			c.add("spec.persistentVolumeReclaimPolicy", "Recycle is supported for hostPath volumes only; use Retain or Delete")
		}
	default:
		c.add("spec.persistentVolumeReclaimPolicy", "must be Retain, Delete or Recycle")
	}
	if spec.StorageClassName != "" {
		c.addAll("spec.storageClassName", content.IsDNS1123Subdomain(spec.StorageClassName))
	}
	c.volumeMode("spec.volumeMode", spec.VolumeMode)
	var sources []string
	if h := spec.HostPath; h != nil {
		sources = append(sources, "hostPath")
		c.volumePath("spec.hostPath.path", h.Path)
		if h.Type != nil {
			switch *h.Type {
			case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory:
			default:
				c.add("spec.hostPath.type", "must be DirectoryOrCreate, Directory or empty for a PersistentVolume")
			}
		}
	}
	if l := spec.Local; l != nil {
		sources = append(sources, "local")
		c.volumePath("spec.local.path", l.Path)
		if spec.NodeAffinity == nil || spec.NodeAffinity.Required == nil {
			c.add("spec.nodeAffinity.required", "a local volume needs nodeAffinity.required naming the node that holds it (kubernetes.io/hostname In [node])")
		}
	}
	switch len(sources) {
	case 0:
		c.add("spec", "a PersistentVolume needs hostPath or local")
	case 1:
	default:
		c.add("spec", "a PersistentVolume may have only one of hostPath or local, not %s", strings.Join(sources, " and "))
	}
	if na := spec.NodeAffinity; na != nil && na.Required != nil {
		c.nodeSelector("spec.nodeAffinity.required", na.Required)
	}
	if r := spec.ClaimRef; r != nil {
		if r.Name == "" {
			c.add("spec.claimRef.name", "name of the claim this volume is reserved for is required")
		} else {
			c.addAll("spec.claimRef.name", content.IsDNS1123Subdomain(r.Name))
		}
		if r.Namespace == "" {
			c.add("spec.claimRef.namespace", "namespace of the claim is required")
		} else {
			c.addAll("spec.claimRef.namespace", content.IsDNS1123Label(r.Namespace))
		}
	}
}

// volumePath checks the node path of a PersistentVolume.
func (c *checker) volumePath(field, p string) {
	switch {
	case p == "":
		c.add(field, "path is required")
	case !path.IsAbs(p):
		c.add(field, "must be an absolute path")
	case slices.Contains(strings.Split(p, "/"), ".."):
		c.add(field, "must not contain '..'")
	case path.Clean(p) == "/":
		c.add(field, "must not be the root directory")
	}
}

func (c *checker) nodeSelector(f string, ns *corev1.NodeSelector) {
	if len(ns.NodeSelectorTerms) == 0 {
		c.add(f+".nodeSelectorTerms", "at least one term is required")
	}
	for i, term := range ns.NodeSelectorTerms {
		tf := f + ".nodeSelectorTerms[" + strconv.Itoa(i) + "]"
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			c.add(tf, "an empty term matches no node; give matchExpressions")
		}
		for j, e := range term.MatchExpressions {
			ef := tf + ".matchExpressions[" + strconv.Itoa(j) + "]"
			c.addAll(ef+".key", prefixMsgs("key", content.IsLabelKey(e.Key)))
			c.nodeSelectorRequirement(ef, e)
		}
		for j, e := range term.MatchFields {
			ef := tf + ".matchFields[" + strconv.Itoa(j) + "]"
			if e.Key != "metadata.name" {
				c.add(ef+".key", "only metadata.name is supported")
			}
			if e.Operator != corev1.NodeSelectorOpIn && e.Operator != corev1.NodeSelectorOpNotIn || len(e.Values) != 1 {
				c.add(ef+".operator", "must be In or NotIn with exactly one value")
			}
		}
	}
}

func (c *checker) accessModes(f string, modes []corev1.PersistentVolumeAccessMode) {
	if len(modes) == 0 {
		c.add(f, "at least one access mode is required (ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod)")
		return
	}
	seen := map[corev1.PersistentVolumeAccessMode]bool{}
	for i, m := range modes {
		mf := f + "[" + strconv.Itoa(i) + "]"
		switch m {
		case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod:
		default:
			c.add(mf, "unknown access mode %q; use ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod", m)
		}
		if seen[m] {
			c.add(mf, "access mode %s is listed twice", m)
		}
		seen[m] = true
	}
	if seen[corev1.ReadWriteOncePod] && len(modes) > 1 {
		c.add(f, "ReadWriteOncePod may not be combined with other access modes")
	}
}

func (c *checker) volumeMode(f string, m *corev1.PersistentVolumeMode) {
	if m == nil {
		return
	}
	switch *m {
	case corev1.PersistentVolumeFilesystem:
	case corev1.PersistentVolumeBlock:
		c.add(f, "volumeMode Block is not supported by tug; use Filesystem (or leave it out)")
	default:
		c.add(f, "must be Filesystem")
	}
}

func (c *checker) persistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	c.claimSpec("spec", &pvc.Spec)
}

// claimSpec checks the spec of a claim or a claim template.
func (c *checker) claimSpec(f string, spec *corev1.PersistentVolumeClaimSpec) {
	c.accessModes(f+".accessModes", spec.AccessModes)
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		c.add(f+".resources.requests.storage", "resources.requests.storage is required (for example 1Gi)")
	} else if q.Sign() <= 0 {
		c.add(f+".resources.requests.storage", "must be more than 0")
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		c.addAll(f+".storageClassName", content.IsDNS1123Subdomain(*sc))
	}
	c.volumeMode(f+".volumeMode", spec.VolumeMode)
	if spec.VolumeName != "" {
		c.addAll(f+".volumeName", content.IsDNS1123Subdomain(spec.VolumeName))
	}
	if sel := spec.Selector; sel != nil {
		c.labels(f+".selector.matchLabels", sel.MatchLabels)
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			c.add(f+".selector", "invalid selector: %v", err)
		}
	}
}

func (c *checker) storageClass(sc *storagev1.StorageClass) {
	local := IsLocalPathProvisioner(sc.Provisioner)
	switch {
	case sc.Provisioner == "":
		c.add("provisioner", "provisioner is required: %s (a directory on the pod's node) or %s (static volumes only)", ProvisionerLocalPath, ProvisionerNoProvisioning)
	case !local && sc.Provisioner != ProvisionerNoProvisioning:
		c.add("provisioner", "provisioner %q is not available in tug; use %s or %s", sc.Provisioner, ProvisionerLocalPath, ProvisionerNoProvisioning)
	}
	if p := sc.ReclaimPolicy; p != nil {
		switch *p {
		case corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete:
		default:
			c.add("reclaimPolicy", "must be Retain or Delete")
		}
	}
	if m := sc.VolumeBindingMode; m != nil {
		switch *m {
		case storagev1.VolumeBindingWaitForFirstConsumer:
		case storagev1.VolumeBindingImmediate:
			if local {
				c.add("volumeBindingMode", "%s provisions on the node of the claim's first pod; use WaitForFirstConsumer", sc.Provisioner)
			}
		default:
			c.add("volumeBindingMode", "must be Immediate or WaitForFirstConsumer")
		}
	}
	if v, ok := sc.Annotations[AnnotationDefaultStorageClass]; ok && v != "true" && v != "false" {
		c.add(joinPath("metadata.annotations", AnnotationDefaultStorageClass), "must be \"true\" or \"false\"")
	}
}

// claimTemplates checks a StatefulSet's volumeClaimTemplates and retention
// policy, and returns the template names (volumes its pods get).
func (c *checker) claimTemplates(sts *appsv1.StatefulSet) map[string]int {
	names := map[string]int{}
	for i := range sts.Spec.VolumeClaimTemplates {
		t := &sts.Spec.VolumeClaimTemplates[i]
		tf := "spec.volumeClaimTemplates[" + strconv.Itoa(i) + "]"
		if t.Name == "" {
			c.add(tf+".metadata.name", "name is required (it is the volume name the pod template mounts)")
		} else {
			c.addAll(tf+".metadata.name", content.IsDNS1123Label(t.Name))
			if j, dup := names[t.Name]; dup {
				c.add(tf+".metadata.name", "template %q is also defined at volumeClaimTemplates[%d]", t.Name, j)
			}
			names[t.Name] = i
			// Claim names are <template>-<set>-<ordinal>.
			if n := len(t.Name) + len(sts.Name) + 2 + 5; n > 253 {
				c.add(tf+".metadata.name", "claim names %s-%s-<ordinal> would be longer than 253 characters", t.Name, sts.Name)
			}
		}
		c.labels(tf+".metadata.labels", t.Labels)
		c.annotations(tf+".metadata.annotations", t.Annotations)
		c.claimSpec(tf+".spec", &t.Spec)
	}
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		for _, r := range []struct {
			f string
			v appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			switch r.v {
			case "", appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
			default:
				c.add("spec.persistentVolumeClaimRetentionPolicy."+r.f, "must be Retain or Delete")
			}
		}
	}
	return names
}

// claimVolume checks a pod volume of type persistentVolumeClaim.
func (c *checker) claimVolume(vf string, src *corev1.PersistentVolumeClaimVolumeSource) {
	if src.ClaimName == "" {
		c.add(vf+".persistentVolumeClaim.claimName", "claimName is required")
		return
	}
	c.addAll(vf+".persistentVolumeClaim.claimName", content.IsDNS1123Subdomain(src.ClaimName))
}
