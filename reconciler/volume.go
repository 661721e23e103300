package reconciler

import (
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Storage defaults and the annotations the volume controller sets.
const (
	// DefaultStorageClassName is the built-in local-path class, created when
	// absent as k3s does (a class of that name committed to Git replaces it).
	DefaultStorageClassName = "local-path"
	// DefaultStorageDir is where local-path volumes live on a node with the
	// default data dir.
	DefaultStorageDir = "/var/lib/tug/storage"
	// AnnotationProvisionedBy marks a PersistentVolume a provisioner made.
	AnnotationProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnotationCreatedBy marks a claim a StatefulSet created
	// ("StatefulSet/<name>"): it is not Git's, so no commit prunes it.
	AnnotationCreatedBy = "tug.dev/created-by"
	// storageComponent reports the volume controller's events.
	storageComponent = "persistentvolume-controller"
)

// The volume controller (planVolumes) works as Kubernetes' PV controller
// and local-path-provisioner together, on each pass:
//
//   - Claims bind to volumes: a claim with spec.volumeName binds to that
//     volume; otherwise to the smallest Available volume of its class (the
//     default class when storageClassName is left out; "" means none) whose
//     capacity covers the request, whose access modes include the claim's,
//     whose labels match the claim's selector and whose claimRef, if any,
//     names the claim. Binding sets the volume's claimRef (with the claim's
//     UID) and phase Bound, and the claim's volumeName, phase Bound,
//     capacity and access modes.
//   - A class with volumeBindingMode WaitForFirstConsumer binds a claim only
//     once a pod using it is scheduled, to a volume that node can reach;
//     when none exists and the class's provisioner is local-path, a volume
//     pvc-<claim uid> is provisioned: a hostPath (DirectoryOrCreate) at
//     <StorageDir>/pvc-<uid>_<namespace>_<claim> with node affinity
//     kubernetes.io/hostname In [node] and the class's reclaim policy. The
//     node agent creates the directory (mode 0777) when the pod starts.
//   - Other unbound claims stay Pending; a claim whose volume is gone is
//     Lost.
//   - A volume whose claim is gone is Released. Retain keeps it so. Delete
//     and Recycle are carried out by the node agent, for volumes under
//     StorageDir only: Delete removes the directory and then the volume;
//     Recycle empties it and makes the volume Available again. A volume
//     outside StorageDir with Delete or Recycle is Failed, its data kept.
//   - StatefulSet claims created with persistentVolumeClaimRetentionPolicy
//     whenDeleted: Delete go with their StatefulSet, whenScaled: Delete
//     with their ordinal, each once no pod uses them.

// volumeIndex holds the claims, volumes and classes of one pass, with the
// versions this pass wrote.
type volumeIndex struct {
	classes  map[string]*storagev1.StorageClass
	pvs      map[string]*corev1.PersistentVolume
	claims   map[string]*corev1.PersistentVolumeClaim // namespace/name
	order    []string                                 // claim keys: the snapshot's order, then those created
	isNew    map[types.UID]bool                       // created this pass: edited in place
	dirty    map[string]manifest.Object               // copies of stored objects to put, by key
	free     []*corev1.PersistentVolume               // volumes a claim may bind to (see freeVolumes)
	taken    map[string]bool                          // volumes bound in this pass
	placedOn map[string]string                        // claim → node of a pod scheduled with it in this pass
	builtin  *storagev1.StorageClass                  // the built-in class, when no class of its name is stored
}

// volumes returns the pass's volume index, building it on first use.
func (ix *index) volumes() *volumeIndex {
	if ix.vol != nil {
		return ix.vol
	}
	v := &volumeIndex{
		classes: map[string]*storagev1.StorageClass{},
		pvs:     map[string]*corev1.PersistentVolume{},
		claims:  map[string]*corev1.PersistentVolumeClaim{},
		isNew:   map[types.UID]bool{},
		dirty:   map[string]manifest.Object{},
	}
	for _, sc := range ix.snap.StorageClasses {
		v.classes[sc.Name] = sc
	}
	if _, ok := v.classes[DefaultStorageClassName]; !ok {
		v.builtin = BuiltinStorageClass()
		v.classes[DefaultStorageClassName] = v.builtin
	}
	for _, pv := range ix.snap.PersistentVolumes {
		v.pvs[pv.Name] = pv
	}
	for _, c := range ix.snap.PersistentVolumeClaims {
		k := c.Namespace + "/" + c.Name
		v.claims[k] = c
		v.order = append(v.order, k)
	}
	ix.vol = v
	return v
}

// BuiltinStorageClass is the local-path class tug provides: the default
// class, WaitForFirstConsumer, reclaim Delete.
func BuiltinStorageClass() *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name: DefaultStorageClassName,
			Annotations: map[string]string{
				AnnotationBuiltin:                      "true",
				manifest.AnnotationDefaultStorageClass: "true",
			},
		},
		Provisioner:       manifest.ProvisionerLocalPath,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	manifest.SetTypeMeta(sc)
	return sc
}

// builtinStorageClass returns the built-in class to store when no class of
// its name is stored.
func (r *Reconciler) builtinStorageClass() ([]manifest.Object, error) {
	existing, err := r.store.List(manifest.KindStorageClass, "")
	if err != nil {
		return nil, fmt.Errorf("list storage classes: %w", err)
	}
	for _, o := range existing {
		if o.GetName() == DefaultStorageClassName {
			return nil, nil
		}
	}
	return []manifest.Object{BuiltinStorageClass()}, nil
}

// defaultClass is the class claims without storageClassName get: a class
// annotated as the default, one from Git before the built-in one, then by
// name.
func (v *volumeIndex) defaultClass() string {
	var names []string
	for name, sc := range v.classes {
		if sc.Annotations[manifest.AnnotationDefaultStorageClass] == "true" {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		bi := v.classes[names[i]].Annotations[AnnotationBuiltin] == "true"
		bj := v.classes[names[j]].Annotations[AnnotationBuiltin] == "true"
		if bi != bj {
			return !bi
		}
		return names[i] < names[j]
	})
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// className is the class a claim asks for ("" for none).
func (v *volumeIndex) className(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return v.defaultClass()
}

// waitsForConsumer reports whether claims of the class bind only once a pod
// using them is scheduled.
func waitsForConsumer(sc *storagev1.StorageClass) bool {
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

func canProvision(sc *storagev1.StorageClass) bool {
	return sc != nil && manifest.IsLocalPathProvisioner(sc.Provisioner)
}

// editClaim returns the mutable version of a claim for this pass.
func (v *volumeIndex) editClaim(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	key := c.Namespace + "/" + c.Name
	if v.isNew[c.UID] {
		return c
	}
	if d, ok := v.dirty["PersistentVolumeClaim/"+key].(*corev1.PersistentVolumeClaim); ok {
		return d
	}
	d := c.DeepCopy()
	v.claims[key] = d
	v.dirty["PersistentVolumeClaim/"+key] = d
	return d
}

// editVolume returns the mutable version of a volume for this pass.
func (v *volumeIndex) editVolume(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
	if v.isNew[pv.UID] {
		return pv
	}
	if d, ok := v.dirty["PersistentVolume/"+pv.Name].(*corev1.PersistentVolume); ok {
		return d
	}
	d := pv.DeepCopy()
	v.pvs[pv.Name] = d
	v.dirty["PersistentVolume/"+pv.Name] = d
	return d
}

// addClaim records a claim created in this pass (already put).
func (v *volumeIndex) addClaim(c *corev1.PersistentVolumeClaim) {
	k := c.Namespace + "/" + c.Name
	v.claims[k] = c
	v.order = append(v.order, k)
	v.isNew[c.UID] = true
}

// planVolumes binds claims, provisions local-path volumes, sets phases and
// removes StatefulSet claims whose retention policy says so.
func planVolumes(w *Writes, ix *index, now time.Time, ids IDs, opts Options) {
	markBuiltinDefault(w, ix)
	if len(ix.snap.PersistentVolumeClaims) == 0 && len(ix.snap.PersistentVolumes) == 0 && (ix.vol == nil || len(ix.vol.isNew) == 0) {
		return
	}
	v := ix.volumes()
	if v.builtin != nil && v.builtin.UID == "" {
		v.builtin.UID = ids.UID()
		w.put(v.builtin)
	}
	var consumers map[string]string // built only when a claim waits to bind
	for _, c := range v.claims {
		if c.Spec.VolumeName == "" {
			consumers = claimConsumers(w, ix)
			break
		}
	}
	deleted := retireClaims(w, ix, v)

	for _, k := range v.order { // the store lists in key order: deterministic
		c := v.claims[k]
		if c.DeletionTimestamp != nil || deleted[c.UID] {
			continue
		}
		bindClaim(w, ix, v, c, consumers[k], now, opts)
	}

	for _, pv := range ix.snap.PersistentVolumes { // provisioned ones are Bound already
		volumePhase(w, v, v.pvs[pv.Name], deleted, now, opts)
	}

	dirty := make([]string, 0, len(v.dirty))
	for k := range v.dirty {
		dirty = append(dirty, k)
	}
	sort.Strings(dirty)
	for _, k := range dirty {
		w.replace(v.dirty[k])
	}
}

// markBuiltinDefault keeps the built-in class the default only while Git
// commits no default class of its own, so exactly one class shows as the
// default (kubectl's "(default)").
func markBuiltinDefault(w *Writes, ix *index) {
	var builtin *storagev1.StorageClass
	other := false
	for _, sc := range ix.snap.StorageClasses {
		switch {
		case sc.Annotations[AnnotationBuiltin] == "true":
			builtin = sc
		case sc.Annotations[manifest.AnnotationDefaultStorageClass] == "true":
			other = true
		}
	}
	if builtin == nil {
		return
	}
	want := "true"
	if other {
		want = "false"
	}
	if builtin.Annotations[manifest.AnnotationDefaultStorageClass] == want {
		return
	}
	u := builtin.DeepCopy()
	u.Annotations[manifest.AnnotationDefaultStorageClass] = want
	w.put(u)
	if ix.vol != nil {
		ix.vol.classes[u.Name] = u
	}
}

// claimConsumers maps each claim (namespace/name) to the node of the first
// scheduled pod (by name) using it.
func claimConsumers(w *Writes, ix *index) map[string]string {
	latest := map[types.UID]*corev1.Pod{}
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok {
			latest[p.UID] = p
		}
	}
	out := map[string]string{}
	first := map[string]string{} // claim → name of the pod its node came from
	add := func(p *corev1.Pod) {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return
		}
		for _, vol := range p.Spec.Volumes {
			if vol.PersistentVolumeClaim == nil {
				continue
			}
			k := p.Namespace + "/" + vol.PersistentVolumeClaim.ClaimName
			if prev, ok := first[k]; !ok || p.Name < prev {
				first[k], out[k] = p.Name, p.Spec.NodeName
			}
		}
	}
	for _, p := range ix.snap.Pods {
		if u := latest[p.UID]; u != nil {
			p = u
		}
		add(p)
	}
	for _, p := range ix.newPods {
		add(p)
	}
	return out
}

// podClaims lists the claims a pod's volumes name.
func podClaims(p *corev1.Pod) []string {
	var out []string
	for _, vol := range p.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil {
			out = append(out, vol.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// claimInUse reports whether any pod that still exists names the claim.
func claimInUse(ix *index, namespace, name string) bool {
	return podsUseClaim(ix.snap.Pods, namespace, name) || podsUseClaim(ix.newPods, namespace, name)
}

// retireClaims deletes StatefulSet claims whose retention policy says so:
// whenDeleted: Delete (an owner reference to the set) once the set is gone,
// whenScaled: Delete once their ordinal is beyond the replicas; each only
// when no pod uses the claim any more.
func retireClaims(w *Writes, ix *index, v *volumeIndex) map[types.UID]bool {
	deleted := map[types.UID]bool{}
	sets := map[string]bool{}    // namespace/name of live sets
	live := map[types.UID]bool{} // UIDs of live sets
	scaled := map[string]int32{} // namespace/name → replicas, for whenScaled: Delete
	for _, sts := range ix.snap.StatefulSets {
		sets[sts.Namespace+"/"+sts.Name] = true
		live[sts.UID] = true
		if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenScaled == "Delete" {
			scaled[sts.Namespace+"/"+sts.Name] = ptr.Deref(sts.Spec.Replicas, 1)
		}
	}
	for _, k := range v.order {
		c := v.claims[k]
		set, ok := strings.CutPrefix(c.Annotations[AnnotationCreatedBy], manifest.KindStatefulSet+"/")
		if !ok || c.DeletionTimestamp != nil || v.isNew[c.UID] {
			continue
		}
		retire := false
		for _, ref := range c.OwnerReferences {
			if ref.Kind == manifest.KindStatefulSet && !live[ref.UID] {
				retire = true
			}
		}
		if replicas, ok := scaled[c.Namespace+"/"+set]; ok && sets[c.Namespace+"/"+set] {
			if i := strings.LastIndex(c.Name, "-"); i > 0 {
				if ord, ok := podOrdinal(set, set+c.Name[i:]); ok && int32(ord) >= replicas {
					retire = true
				}
			}
		}
		if retire && !claimInUse(ix, c.Namespace, c.Name) {
			w.Deletes = append(w.Deletes, c)
			deleted[c.UID] = true
		}
	}
	return deleted
}

// bindClaim binds, provisions for or sets the phase of one claim.
func bindClaim(w *Writes, ix *index, v *volumeIndex, c *corev1.PersistentVolumeClaim, node string, now time.Time, opts Options) {
	if name := c.Spec.VolumeName; name != "" {
		pv := v.pvs[name]
		switch {
		case pv != nil && c.Status.Phase == corev1.ClaimBound && pv.Status.Phase == corev1.VolumeBound && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == c.UID:
			// bound: the common case, nothing to do (a Terminating volume
			// stays bound until its claim goes: protection.go)
		case pv == nil || pv.DeletionTimestamp != nil:
			if c.Status.Phase == corev1.ClaimBound || c.Status.Phase == corev1.ClaimLost {
				claimPhase(w, v, c, corev1.ClaimLost, now, corev1.EventTypeWarning, "ClaimLost", fmt.Sprintf("Bound claim has lost reference to PersistentVolume %s. Data on the volume is lost!", name))
			} else {
				claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeWarning, "FailedBinding", fmt.Sprintf("volume %q not found", name))
			}
		case claimRefIs(pv, c):
			bind(v, pv, c)
		default:
			if c.Status.Phase == corev1.ClaimBound || c.Status.Phase == corev1.ClaimLost {
				claimPhase(w, v, c, corev1.ClaimLost, now, corev1.EventTypeWarning, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
			} else {
				claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeWarning, "FailedBinding", fmt.Sprintf("volume %q is already bound to a different claim", name))
			}
		}
		return
	}
	className := v.className(c)
	sc := v.classes[className]
	if waitsForConsumer(sc) && node == "" {
		claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeNormal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
		return
	}
	if !waitsForConsumer(sc) {
		node = ""
	}
	if pv := v.bestVolume(c, className, nodeFor(ix, node)); pv != nil {
		bind(v, pv, c)
		return
	}
	switch {
	case canProvision(sc) && node != "":
		pv := provisionVolume(c, sc, node, opts)
		pv.UID = claimVolumeUID(c)
		v.pvs[pv.Name] = pv
		v.isNew[pv.UID] = true
		w.put(pv)
		bind(v, pv, c)
		w.Events = append(w.Events, manifest.NewEvent(c, corev1.EventTypeNormal, "ProvisioningSucceeded",
			fmt.Sprintf("Successfully provisioned volume %s on node %s", pv.Name, node), storageComponent, "", now))
	case className == "":
		claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeNormal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
	case sc == nil:
		claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeWarning, "ProvisioningFailed", fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
	default:
		claimPhase(w, v, c, corev1.ClaimPending, now, corev1.EventTypeNormal, "FailedBinding", "no persistent volumes available for this claim")
	}
}

// claimVolumeUID is a provisioned volume's UID: derived from the claim's, so
// planning stays a pure function of the snapshot.
func claimVolumeUID(c *corev1.PersistentVolumeClaim) types.UID {
	return types.UID("pv-" + string(c.UID))
}

// nodeFor returns the node named name (a bare one with just the hostname
// label when it is not registered), or nil for "".
func nodeFor(ix *index, name string) *corev1.Node {
	if name == "" {
		return nil
	}
	for _, n := range ix.snap.Nodes {
		if n.Name == name {
			return n
		}
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// claimPhase sets a claim's phase, recording the event when the phase
// changes.
func claimPhase(w *Writes, v *volumeIndex, c *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, now time.Time, typ, reason, msg string) {
	if c.Status.Phase == phase {
		return
	}
	u := v.editClaim(c)
	u.Status.Phase = phase
	if phase != corev1.ClaimBound {
		u.Status.Capacity, u.Status.AccessModes = nil, nil
	}
	w.Events = append(w.Events, manifest.NewEvent(c, typ, reason, msg, storageComponent, "", now))
}

// claimRefIs reports whether pv is free for c or already reserved for it.
func claimRefIs(pv *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) bool {
	r := pv.Spec.ClaimRef
	if r == nil {
		return pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed
	}
	return r.Namespace == c.Namespace && r.Name == c.Name && (r.UID == "" || r.UID == c.UID)
}

// bind points pv and c at each other.
func bind(v *volumeIndex, pv *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) {
	if v.taken != nil {
		v.taken[pv.Name] = true
	}
	ref := &corev1.ObjectReference{Kind: manifest.KindPersistentVolumeClaim, APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
	if r := pv.Spec.ClaimRef; r == nil || r.UID != c.UID || r.Kind == "" || pv.Status.Phase != corev1.VolumeBound {
		u := v.editVolume(pv)
		u.Spec.ClaimRef = ref
		u.Status.Phase = corev1.VolumeBound
		u.Status.Message, u.Status.Reason = "", ""
		pv = u
	}
	if c.Spec.VolumeName == pv.Name && c.Status.Phase == corev1.ClaimBound && sameModes(c.Status.AccessModes, pv.Spec.AccessModes) &&
		c.Status.Capacity.Storage().Cmp(*pv.Spec.Capacity.Storage()) == 0 {
		return
	}
	u := v.editClaim(c)
	u.Spec.VolumeName = pv.Name
	u.Status.Phase = corev1.ClaimBound
	u.Status.AccessModes = append([]corev1.PersistentVolumeAccessMode(nil), pv.Spec.AccessModes...)
	u.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: pv.Spec.Capacity.Storage().DeepCopy()}
}

func sameModes(a, b []corev1.PersistentVolumeAccessMode) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// freeVolumes lists, once per pass, the volumes without a bound claim
// (no claimRef, or one a user set without a UID): the only ones a claim
// without volumeName may bind to. Provisioned and bound volumes, most of
// them, are never scanned.
func (v *volumeIndex) freeVolumes() []*corev1.PersistentVolume {
	if v.taken == nil {
		v.taken = map[string]bool{}
		for _, pv := range v.pvs {
			if r := pv.Spec.ClaimRef; r == nil || r.UID == "" {
				v.free = append(v.free, pv)
			}
		}
	}
	return v.free
}

// bestVolume is the smallest volume (then by name) c may bind to: class,
// volume mode, capacity, access modes, selector and, when node is set,
// node affinity. A volume reserved for c (claimRef) comes first.
func (v *volumeIndex) bestVolume(c *corev1.PersistentVolumeClaim, className string, node *corev1.Node) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	bestReserved := false
	for _, pv := range v.freeVolumes() {
		if v.taken[pv.Name] {
			continue
		}
		if cur := v.pvs[pv.Name]; cur != nil {
			pv = cur // this pass's version
		}
		if !volumeFits(pv, c, className, node) {
			continue
		}
		reserved := pv.Spec.ClaimRef != nil
		switch {
		case best == nil, reserved && !bestReserved:
		case reserved == bestReserved:
			cmp := pv.Spec.Capacity.Storage().Cmp(*best.Spec.Capacity.Storage())
			if cmp > 0 || cmp == 0 && pv.Name > best.Name {
				continue
			}
		default:
			continue
		}
		best, bestReserved = pv, reserved
	}
	return best
}

// volumeFits is Kubernetes' checkVolumeSatisfyClaim plus availability.
func volumeFits(pv *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim, className string, node *corev1.Node) bool {
	if pv.DeletionTimestamp != nil || !claimRefIs(pv, c) || pv.Spec.StorageClassName != className {
		return false
	}
	if pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
		return false
	}
	if ptr.Deref(pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem) != ptr.Deref(c.Spec.VolumeMode, corev1.PersistentVolumeFilesystem) {
		return false
	}
	want := c.Spec.Resources.Requests.Storage()
	if pv.Spec.Capacity.Storage().Cmp(*want) < 0 {
		return false
	}
	for _, m := range c.Spec.AccessModes {
		found := false
		for _, have := range pv.Spec.AccessModes {
			found = found || have == m
		}
		if !found {
			return false
		}
	}
	if c.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(c.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pv.Labels)) {
			return false
		}
	}
	return node == nil || volumeReachable(pv, node)
}

// volumeReachable reports whether the volume's node affinity admits node.
// A node without the kubernetes.io/hostname label is matched as if it had
// its name there, as the kubelet labels nodes.
func volumeReachable(pv *corev1.PersistentVolume, n *corev1.Node) bool {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return true
	}
	if _, ok := n.Labels[corev1.LabelHostname]; !ok {
		c := *n
		c.Labels = maps.Clone(n.Labels)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[corev1.LabelHostname] = n.Name
		n = &c
	}
	for _, term := range na.Required.NodeSelectorTerms {
		if (len(term.MatchExpressions) > 0 || len(term.MatchFields) > 0) && termMatches(term, n) {
			return true
		}
	}
	return false
}

// provisionVolume is the local-path provisioner: a directory on node.
func provisionVolume(c *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node string, opts Options) *corev1.PersistentVolume {
	name := "pvc-" + string(c.UID)
	reclaim := ptr.Deref(sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{AnnotationProvisionedBy: manifest.ProvisionerLocalPath},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests.Storage().DeepCopy()},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), c.Spec.AccessModes...),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(opts.StorageDir, name+"_"+c.Namespace+"_"+c.Name),
				Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
	}
	manifest.SetTypeMeta(pv)
	return pv
}

// VolumePath is the directory a hostPath or local volume has on its node.
func VolumePath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.HostPath != nil:
		return filepath.Clean(pv.Spec.HostPath.Path)
	case pv.Spec.Local != nil:
		return filepath.Clean(pv.Spec.Local.Path)
	}
	return ""
}

// InStorageDir reports whether p lies strictly below dir.
func InStorageDir(dir, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// volumePhase sets a volume's phase from its claim.
func volumePhase(w *Writes, v *volumeIndex, pv *corev1.PersistentVolume, deleted map[types.UID]bool, now time.Time, opts Options) {
	if pv.DeletionTimestamp != nil {
		return
	}
	phase, msg := corev1.VolumeAvailable, ""
	r := pv.Spec.ClaimRef
	switch {
	case r == nil && pv.Status.Phase == corev1.VolumeFailed:
		return // stays failed until Git replaces it
	case r == nil, r.UID == "":
	default:
		c := v.claims[r.Namespace+"/"+r.Name]
		switch {
		case c != nil && c.UID == r.UID && !deleted[c.UID] && (c.Spec.VolumeName == pv.Name || c.Spec.VolumeName == ""):
			phase = corev1.VolumeBound
		case pv.Status.Phase == corev1.VolumeFailed:
			return
		default:
			phase = corev1.VolumeReleased
			policy := pv.Spec.PersistentVolumeReclaimPolicy
			if (policy == corev1.PersistentVolumeReclaimDelete || policy == corev1.PersistentVolumeReclaimRecycle) && !InStorageDir(opts.StorageDir, VolumePath(pv)) {
				phase = corev1.VolumeFailed
				msg = fmt.Sprintf("tug carries out reclaim policy %s only for volumes under %s; %s is kept: remove its data and the PersistentVolume yourself, or use Retain",
					policy, opts.StorageDir, VolumePath(pv))
			}
		}
	}
	if pv.Status.Phase == phase && pv.Status.Message == msg {
		return
	}
	u := v.editVolume(pv)
	u.Status.Phase, u.Status.Message = phase, msg
	if phase == corev1.VolumeFailed {
		u.Status.Reason = "VolumeFailedReclaim"
		w.Events = append(w.Events, manifest.NewEvent(pv, corev1.EventTypeWarning, "VolumeFailedReclaim", msg, storageComponent, "", now))
	} else {
		u.Status.Reason = ""
	}
}

// gitStorage drops, from the stored objects a revision is diffed against,
// the storage objects tug made itself (the built-in class, provisioned
// volumes, StatefulSet claims): no commit prunes them.
func gitStorage(stored []manifest.Object) []manifest.Object {
	out := stored[:0:0]
	for _, o := range stored {
		switch o.(type) {
		case *storagev1.StorageClass, *corev1.PersistentVolume, *corev1.PersistentVolumeClaim:
			a := o.GetAnnotations()
			if a[AnnotationBuiltin] == "true" || a[AnnotationProvisionedBy] != "" || a[AnnotationCreatedBy] != "" {
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// keepBindings carries the bindings the volume controller made (a
// volume's claimRef, a claim's volumeName) over to the committed objects
// that leave them out, so a new commit neither rewrites nor unbinds them.
func keepBindings(desired []manifest.Object, cur map[manifest.Key]manifest.Object) {
	for _, d := range desired {
		switch obj := d.(type) {
		case *corev1.PersistentVolume:
			old, ok := cur[manifest.KeyOf(d)].(*corev1.PersistentVolume)
			if !ok || old.Spec.ClaimRef == nil {
				continue
			}
			if r := obj.Spec.ClaimRef; r == nil || r.Namespace == old.Spec.ClaimRef.Namespace && r.Name == old.Spec.ClaimRef.Name && r.UID == "" {
				obj.Spec.ClaimRef = old.Spec.ClaimRef.DeepCopy()
			}
		case *corev1.PersistentVolumeClaim:
			old, ok := cur[manifest.KeyOf(d)].(*corev1.PersistentVolumeClaim)
			if ok && obj.Spec.VolumeName == "" {
				obj.Spec.VolumeName = old.Spec.VolumeName
			}
		}
	}
}
