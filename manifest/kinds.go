package manifest

import (
	"fmt"
	"reflect"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is a typed Kubernetes object such as *corev1.ConfigMap or
// *appsv1.Deployment.
type Object interface {
	metav1.Object
	runtime.Object
}

// Kind names used across tug.
const (
	KindNamespace  = "Namespace"
	KindConfigMap  = "ConfigMap"
	KindSecret     = "Secret"
	KindService    = "Service"
	KindDeployment = "Deployment"
	KindReplicaSet = "ReplicaSet"
	KindPod        = "Pod"
	KindNode       = "Node"
	KindEndpoints  = "Endpoints"
)

// Workload kinds beyond Deployments.
const (
	KindJob         = "Job"
	KindCronJob     = "CronJob"
	KindDaemonSet   = "DaemonSet"
	KindStatefulSet = "StatefulSet"
)

// Storage, policy, networking and event kinds. A kind registered with
// fromGit false is stored and served but not yet accepted from a
// repository.
const (
	KindPersistentVolume      = "PersistentVolume"
	KindPersistentVolumeClaim = "PersistentVolumeClaim"
	KindStorageClass          = "StorageClass"
	KindEndpointSlice         = "EndpointSlice"
	KindNetworkPolicy         = "NetworkPolicy"
	KindResourceQuota         = "ResourceQuota"
	KindLimitRange            = "LimitRange"
	KindPodDisruptionBudget   = "PodDisruptionBudget"
	KindEvent                 = "Event"
	KindLease                 = "Lease"
)

type kindInfo struct {
	gvk        schema.GroupVersionKind
	typ        reflect.Type
	namespaced bool
	fromGit    bool // may be committed to the repository
	plural     string
}

var kinds = map[string]kindInfo{
	KindNamespace:  {corev1.SchemeGroupVersion.WithKind(KindNamespace), reflect.TypeFor[corev1.Namespace](), false, true, "namespaces"},
	KindConfigMap:  {corev1.SchemeGroupVersion.WithKind(KindConfigMap), reflect.TypeFor[corev1.ConfigMap](), true, true, "configmaps"},
	KindSecret:     {corev1.SchemeGroupVersion.WithKind(KindSecret), reflect.TypeFor[corev1.Secret](), true, true, "secrets"},
	KindService:    {corev1.SchemeGroupVersion.WithKind(KindService), reflect.TypeFor[corev1.Service](), true, true, "services"},
	KindDeployment: {appsv1.SchemeGroupVersion.WithKind(KindDeployment), reflect.TypeFor[appsv1.Deployment](), true, true, "deployments"},
	KindReplicaSet: {appsv1.SchemeGroupVersion.WithKind(KindReplicaSet), reflect.TypeFor[appsv1.ReplicaSet](), true, false, "replicasets"},
	KindPod:        {corev1.SchemeGroupVersion.WithKind(KindPod), reflect.TypeFor[corev1.Pod](), true, false, "pods"},
	// A committed Node sets labels, annotations, taints and
	// spec.unschedulable, merged by the reconciler into the Node the agent
	// registers (which owns its status).
	KindNode: {corev1.SchemeGroupVersion.WithKind(KindNode), reflect.TypeFor[corev1.Node](), false, true, "nodes"},
	// Endpoints are computed by the reconciler from ready pods; committed
	// ones (tug.dev/source set) serve Services without a selector.
	KindEndpoints: {corev1.SchemeGroupVersion.WithKind(KindEndpoints), reflect.TypeFor[corev1.Endpoints](), true, true, "endpoints"},

	// Workloads: the reconciler runs them as Kubernetes' controllers do.
	KindJob:         {batchv1.SchemeGroupVersion.WithKind(KindJob), reflect.TypeFor[batchv1.Job](), true, true, "jobs"},
	KindCronJob:     {batchv1.SchemeGroupVersion.WithKind(KindCronJob), reflect.TypeFor[batchv1.CronJob](), true, true, "cronjobs"},
	KindDaemonSet:   {appsv1.SchemeGroupVersion.WithKind(KindDaemonSet), reflect.TypeFor[appsv1.DaemonSet](), true, true, "daemonsets"},
	KindStatefulSet: {appsv1.SchemeGroupVersion.WithKind(KindStatefulSet), reflect.TypeFor[appsv1.StatefulSet](), true, true, "statefulsets"},

	KindPersistentVolume:      {corev1.SchemeGroupVersion.WithKind(KindPersistentVolume), reflect.TypeFor[corev1.PersistentVolume](), false, true, "persistentvolumes"},
	KindPersistentVolumeClaim: {corev1.SchemeGroupVersion.WithKind(KindPersistentVolumeClaim), reflect.TypeFor[corev1.PersistentVolumeClaim](), true, true, "persistentvolumeclaims"},
	KindStorageClass:          {storagev1.SchemeGroupVersion.WithKind(KindStorageClass), reflect.TypeFor[storagev1.StorageClass](), false, true, "storageclasses"},
	KindEndpointSlice:         {discoveryv1.SchemeGroupVersion.WithKind(KindEndpointSlice), reflect.TypeFor[discoveryv1.EndpointSlice](), true, false, "endpointslices"},
	KindNetworkPolicy:         {networkingv1.SchemeGroupVersion.WithKind(KindNetworkPolicy), reflect.TypeFor[networkingv1.NetworkPolicy](), true, true, "networkpolicies"},
	KindResourceQuota:         {corev1.SchemeGroupVersion.WithKind(KindResourceQuota), reflect.TypeFor[corev1.ResourceQuota](), true, true, "resourcequotas"},
	KindLimitRange:            {corev1.SchemeGroupVersion.WithKind(KindLimitRange), reflect.TypeFor[corev1.LimitRange](), true, true, "limitranges"},
	KindPodDisruptionBudget:   {policyv1.SchemeGroupVersion.WithKind(KindPodDisruptionBudget), reflect.TypeFor[policyv1.PodDisruptionBudget](), true, true, "poddisruptionbudgets"},
	// Events are written by the reconciler and the node agents
	// (NewEvent, state.Store.RecordEvent); never from Git.
	KindEvent: {corev1.SchemeGroupVersion.WithKind(KindEvent), reflect.TypeFor[corev1.Event](), true, false, "events"},
	// Leases in kube-node-lease are the node agents' heartbeats, renewed
	// every 2.5 s; never from Git.
	KindLease: {coordinationv1.SchemeGroupVersion.WithKind(KindLease), reflect.TypeFor[coordinationv1.Lease](), true, false, "leases"},
}

var kindByType = func() map[reflect.Type]string {
	m := make(map[reflect.Type]string, len(kinds))
	for k, info := range kinds {
		m[info.typ] = k
	}
	return m
}()

// Kinds returns every kind tug stores, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// GitKinds returns the kinds a repository may contain, sorted.
func GitKinds() []string {
	var out []string
	for k, info := range kinds {
		if info.fromGit {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// IsGitKind reports whether kind may be committed to the repository.
func IsGitKind(kind string) bool { return kinds[kind].fromGit }

// New returns a new empty object of kind with its TypeMeta set.
func New(kind string) (Object, error) {
	info, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("kind %q: %w", kind, ErrUnknownKind)
	}
	obj := reflect.New(info.typ).Interface().(Object)
	obj.GetObjectKind().SetGroupVersionKind(info.gvk)
	return obj, nil
}

// GVK returns the group, version and kind tug serves kind as.
func GVK(kind string) (schema.GroupVersionKind, bool) {
	info, ok := kinds[kind]
	return info.gvk, ok
}

// Namespaced reports whether objects of kind live in a namespace.
func Namespaced(kind string) bool { return kinds[kind].namespaced }

// Plural returns the lower-case plural resource name of kind ("pods").
func Plural(kind string) string { return kinds[kind].plural }

// KindForResource maps a resource name ("pods", "pod", "po", "Pod") to its kind.
func KindForResource(resource string) (string, bool) {
	for k, info := range kinds {
		if resource == info.plural || resource == k || equalFold(resource, k) || resource == shortNames[k] {
			return k, true
		}
	}
	return "", false
}

var shortNames = map[string]string{
	KindNamespace: "ns", KindConfigMap: "cm", KindService: "svc", KindDeployment: "deploy",
	KindReplicaSet: "rs", KindPod: "po", KindNode: "no", KindEndpoints: "ep",
	KindCronJob: "cj", KindDaemonSet: "ds", KindStatefulSet: "sts",
	KindPersistentVolume: "pv", KindPersistentVolumeClaim: "pvc", KindStorageClass: "sc",
	KindNetworkPolicy: "netpol", KindResourceQuota: "quota", KindLimitRange: "limits",
	KindPodDisruptionBudget: "pdb", KindEvent: "ev",
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// KindOf returns the kind of a typed object.
func KindOf(obj Object) string {
	t := reflect.TypeOf(obj)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return kindByType[t]
}

// Key identifies one object.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// KeyOf returns the key of obj.
func KeyOf(obj Object) Key {
	return Key{Kind: KindOf(obj), Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// String renders the key as Kind/namespace/name (Kind/name when cluster-scoped).
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

// SetTypeMeta fills in obj's apiVersion and kind from its Go type.
func SetTypeMeta(obj Object) {
	if info, ok := kinds[KindOf(obj)]; ok {
		obj.GetObjectKind().SetGroupVersionKind(info.gvk)
	}
}

// DeepCopy returns an independent copy of obj.
func DeepCopy(obj Object) Object {
	return obj.DeepCopyObject().(Object)
}
