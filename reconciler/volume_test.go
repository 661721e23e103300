package reconciler

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// applyStorage is applyWrites that also carries storage objects.
func applyStorage(s Snapshot, w Writes) Snapshot {
	out := applyWrites(s, w)
	del := map[types.UID]bool{}
	for _, d := range w.Deletes {
		del[d.GetUID()] = true
	}
	put := map[types.UID]manifest.Object{}
	for _, p := range w.Puts {
		put[p.GetUID()] = p
	}
	seen := map[types.UID]bool{}
	for _, pv := range s.PersistentVolumes {
		seen[pv.UID] = true
		if del[pv.UID] {
			continue
		}
		if o, ok := put[pv.UID]; ok {
			pv = o.(*corev1.PersistentVolume)
		}
		out.PersistentVolumes = append(out.PersistentVolumes, pv)
	}
	for _, c := range s.PersistentVolumeClaims {
		seen[c.UID] = true
		if del[c.UID] {
			continue
		}
		if o, ok := put[c.UID]; ok {
			c = o.(*corev1.PersistentVolumeClaim)
		}
		out.PersistentVolumeClaims = append(out.PersistentVolumeClaims, c)
	}
	out.StorageClasses = s.StorageClasses
	for _, o := range w.Puts {
		if seen[o.GetUID()] {
			continue
		}
		seen[o.GetUID()] = true
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.PersistentVolumes = append(out.PersistentVolumes, o)
		case *corev1.PersistentVolumeClaim:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.PersistentVolumeClaims = append(out.PersistentVolumeClaims, o)
		case *storagev1.StorageClass:
			out.StorageClasses = append(out.StorageClasses, o)
		}
	}
	return out
}

func gi(s string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s)}
}

func claim(name, class string, size string, mod func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pvc-uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: gi(size)},
		},
	}
	if class != "-" {
		c.Spec.StorageClassName = ptr.To(class)
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func hostVolume(name, class, size, path string, mod func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("pv-uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      gi(size),
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
		},
	}
	if mod != nil {
		mod(pv)
	}
	return pv
}

func onNode(node string) func(*corev1.PersistentVolume) {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}}}
	}
}

func claimPod(name, claimName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pod-uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "img"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}},
		},
	}
}

// storageTrace renders claims, volumes and pods after a pass.
func storageTrace(s Snapshot) []string {
	var out []string
	for _, c := range s.PersistentVolumeClaims {
		out = append(out, fmt.Sprintf("pvc %s %s volume=%s class=%s", c.Name, c.Status.Phase, c.Spec.VolumeName, ptr.Deref(c.Spec.StorageClassName, "<nil>")))
	}
	for _, pv := range s.PersistentVolumes {
		claim := ""
		if r := pv.Spec.ClaimRef; r != nil {
			claim = r.Namespace + "/" + r.Name
		}
		line := fmt.Sprintf("pv %s %s claim=%s path=%s", pv.Name, pv.Status.Phase, claim, VolumePath(pv))
		if na := pv.Spec.NodeAffinity; na != nil {
			line += " node=" + strings.Join(na.Required.NodeSelectorTerms[0].MatchExpressions[0].Values, ",")
		}
		if pv.Status.Message != "" {
			line += " msg=" + pv.Status.Message[:min(40, len(pv.Status.Message))]
		}
		out = append(out, line)
	}
	for _, p := range s.Pods {
		line := "pod " + p.Name + " node=" + p.Spec.NodeName
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				line += " unschedulable=" + c.Message
			}
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func eventReasons(w Writes) []string {
	var out []string
	for _, e := range w.Events {
		if e.Source.Component != storageComponent {
			continue
		}
		out = append(out, e.InvolvedObject.Name+":"+e.Reason)
	}
	sort.Strings(out)
	return out
}

func TestPlanVolumes(t *testing.T) {
	released := func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "gone", UID: "old-uid"}
		pv.Status.Phase = corev1.VolumeBound
	}
	tests := []struct {
		name       string
		s          Snapshot
		want       []string
		wantEvents []string
	}{{
		name: "static: smallest fitting volume of the class, by access mode and capacity",
		s: Snapshot{
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "manual", "1Gi", nil)},
			PersistentVolumes: []*corev1.PersistentVolume{
				hostVolume("big", "manual", "5Gi", "/srv/big", nil),
				hostVolume("fit", "manual", "2Gi", "/srv/fit", nil),
				hostVolume("small", "manual", "500Mi", "/srv/small", nil),
				hostVolume("other-class", "slow", "1Gi", "/srv/slow", nil),
				hostVolume("read-only", "manual", "1Gi", "/srv/ro", func(pv *corev1.PersistentVolume) {
					pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}
				}),
			},
		},
		want: []string{
			"pv big Available claim= path=/srv/big",
			"pv fit Bound claim=default/data path=/srv/fit",
			"pv other-class Available claim= path=/srv/slow",
			"pv read-only Available claim= path=/srv/ro",
			"pv small Available claim= path=/srv/small",
			"pvc data Bound volume=fit class=manual",
		},
	}, {
		name: "claimRef reserves a volume for one claim; volumeName picks one",
		s: Snapshot{
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{
				claim("a", "manual", "1Gi", nil),
				claim("b", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "named" }),
			},
			PersistentVolumes: []*corev1.PersistentVolume{
				hostVolume("free", "manual", "1Gi", "/srv/free", nil),
				hostVolume("named", "manual", "9Gi", "/srv/named", nil),
				hostVolume("reserved", "manual", "3Gi", "/srv/reserved", func(pv *corev1.PersistentVolume) {
					pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "a"}
				}),
			},
		},
		want: []string{
			"pv free Available claim= path=/srv/free",
			"pv named Bound claim=default/b path=/srv/named",
			"pv reserved Bound claim=default/a path=/srv/reserved",
			"pvc a Bound volume=reserved class=manual",
			"pvc b Bound volume=named class=manual",
		},
	}, {
		name: "Immediate without a volume: claim Pending, its pod unschedulable",
		s: Snapshot{
			Nodes:                  []*corev1.Node{readyNode("n1", "4")},
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "manual", "1Gi", nil)},
			Pods:                   []*corev1.Pod{claimPod("web", "data"), claimPod("lost", "nope")},
		},
		want: []string{
			`pod lost node= unschedulable=0/1 nodes are available: 1 persistentvolumeclaim "nope" not found.`,
			"pod web node= unschedulable=0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.",
			"pvc data Pending volume= class=manual",
		},
		wantEvents: []string{"data:ProvisioningFailed"},
	}, {
		name: "local-path waits for the first consumer",
		s: Snapshot{
			Nodes:                  []*corev1.Node{readyNode("n1", "4")},
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "-", "1Gi", nil)},
		},
		want:       []string{"pvc data Pending volume= class=<nil>"},
		wantEvents: []string{"data:WaitForFirstConsumer"},
	}, {
		name: "local-path provisions on the consumer's node in the pass that schedules it",
		s: Snapshot{
			Nodes:                  []*corev1.Node{readyNode("n1", "4"), readyNode("n2", "8")},
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "-", "1Gi", nil)},
			Pods:                   []*corev1.Pod{claimPod("web", "data")},
		},
		want: []string{
			"pod web node=n2",
			"pv pvc-pvc-uid-data Bound claim=default/data path=/var/lib/tug/storage/pvc-pvc-uid-data_default_data node=n2",
			"pvc data Bound volume=pvc-pvc-uid-data class=<nil>",
		},
		wantEvents: []string{"data:ProvisioningSucceeded"},
	}, {
		name: "two pods sharing a local-path claim land on the node of its volume",
		s: Snapshot{
			Nodes:                  []*corev1.Node{readyNode("n1", "4"), readyNode("n2", "4")},
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "-", "1Gi", nil)},
			Pods:                   []*corev1.Pod{claimPod("a", "data"), claimPod("b", "data")},
		},
		want: []string{
			"pod a node=n1",
			"pod b node=n1",
			"pv pvc-pvc-uid-data Bound claim=default/data path=/var/lib/tug/storage/pvc-pvc-uid-data_default_data node=n1",
			"pvc data Bound volume=pvc-pvc-uid-data class=<nil>",
		},
		wantEvents: []string{"data:ProvisioningSucceeded"},
	}, {
		name: "claim gone: Retain → Released; Delete under the storage dir → Released for the agent; elsewhere → Failed",
		s: Snapshot{
			PersistentVolumes: []*corev1.PersistentVolume{
				hostVolume("keep", "manual", "1Gi", "/srv/keep", released),
				hostVolume("ours", "local-path", "1Gi", "/var/lib/tug/storage/pvc-x", func(pv *corev1.PersistentVolume) {
					released(pv)
					pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
				}),
				hostVolume("theirs", "manual", "1Gi", "/srv/theirs", func(pv *corev1.PersistentVolume) {
					released(pv)
					pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
				}),
			},
		},
		want: []string{
			"pv keep Released claim=default/gone path=/srv/keep",
			"pv ours Released claim=default/gone path=/var/lib/tug/storage/pvc-x",
			"pv theirs Failed claim=default/gone path=/srv/theirs msg=tug carries out reclaim policy Recycle o",
		},
		wantEvents: []string{"theirs:VolumeFailedReclaim"},
	}, {
		name: "a Released volume is not bound again; a bound claim whose volume is gone is Lost",
		s: Snapshot{
			PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{
				claim("new", "manual", "1Gi", nil),
				claim("orphan", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) {
					c.Spec.VolumeName = "vanished"
					c.Status.Phase = corev1.ClaimBound
				}),
			},
			PersistentVolumes: []*corev1.PersistentVolume{hostVolume("keep", "manual", "1Gi", "/srv/keep", func(pv *corev1.PersistentVolume) {
				released(pv)
				pv.Status.Phase = corev1.VolumeReleased
			})},
		},
		want: []string{
			"pv keep Released claim=default/gone path=/srv/keep",
			"pvc new Pending volume= class=manual",
			"pvc orphan Lost volume=vanished class=manual",
		},
		wantEvents: []string{"new:ProvisioningFailed", "orphan:ClaimLost"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Plan(tt.s, t0, &seqIDs{}, FitScheduler{})
			got := applyStorage(tt.s, w)
			if diff := cmp.Diff(tt.want, storageTrace(got)); diff != "" {
				t.Errorf("after one pass (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEvents, eventReasons(w)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// A second pass over the result changes nothing and repeats no
			// event (the built-in class, now stored, aside).
			again := Plan(got, t0, &seqIDs{n: 100}, FitScheduler{})
			var puts []string
			for _, o := range again.Puts {
				if _, ok := o.(*storagev1.StorageClass); !ok {
					puts = append(puts, manifest.KeyOf(o).String())
				}
			}
			if len(puts) > 0 || len(again.Deletes) > 0 || len(eventReasons(again)) > 0 {
				t.Errorf("second pass not idle: puts %v, deletes %d, events %v", puts, len(again.Deletes), eventReasons(again))
			}
		})
	}
}

func TestScheduleVolumeNodeAffinity(t *testing.T) {
	bound := claim("data", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "disk"
		c.Status.Phase = corev1.ClaimBound
	})
	disk := hostVolume("disk", "manual", "1Gi", "/mnt/disk", func(pv *corev1.PersistentVolume) {
		onNode("n2")(pv)
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data", UID: bound.UID}
		pv.Status.Phase = corev1.VolumeBound
	})
	notReady := readyNode("n2", "4")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	labelled := readyNode("n3", "4")
	labelled.Labels = map[string]string{corev1.LabelHostname: "n2"} // matched by label, not name
	wffc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", UID: "sc-local"}, Provisioner: manifest.ProvisionerNoProvisioning,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	tests := []struct {
		name   string
		nodes  []*corev1.Node
		claims []*corev1.PersistentVolumeClaim
		pvs    []*corev1.PersistentVolume
		want   string
	}{{
		name:   "only the volume's node fits",
		nodes:  []*corev1.Node{readyNode("n1", "8"), readyNode("n2", "4"), readyNode("n4", "8")},
		claims: []*corev1.PersistentVolumeClaim{bound}, pvs: []*corev1.PersistentVolume{disk},
		want: "n2",
	}, {
		name:   "the hostname label decides",
		nodes:  []*corev1.Node{readyNode("n1", "8"), labelled},
		claims: []*corev1.PersistentVolumeClaim{bound}, pvs: []*corev1.PersistentVolume{disk},
		want: "n3",
	}, {
		name:   "reasons of both filters",
		nodes:  []*corev1.Node{readyNode("n1", "8"), notReady, readyNode("n4", "8")},
		claims: []*corev1.PersistentVolumeClaim{bound}, pvs: []*corev1.PersistentVolume{disk},
		want: "0/3 nodes are available: 1 node(s) were not ready, 2 node(s) had volume node affinity conflict.",
	}, {
		name:   "WaitForFirstConsumer static class: nodes with a fitting volume",
		nodes:  []*corev1.Node{readyNode("n1", "8"), readyNode("n2", "4")},
		claims: []*corev1.PersistentVolumeClaim{claim("data", "local", "1Gi", nil)},
		pvs:    []*corev1.PersistentVolume{hostVolume("disk", "local", "1Gi", "/mnt/disk", onNode("n2"))},
		want:   "n2",
	}, {
		name:   "WaitForFirstConsumer static class: no fitting volume anywhere",
		nodes:  []*corev1.Node{readyNode("n1", "8")},
		claims: []*corev1.PersistentVolumeClaim{claim("data", "local", "1Gi", nil)},
		pvs:    []*corev1.PersistentVolume{hostVolume("disk", "local", "1Gi", "/mnt/disk", onNode("n2"))},
		want:   "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind.",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Nodes: tt.nodes, PersistentVolumeClaims: tt.claims, PersistentVolumes: tt.pvs,
				StorageClasses: []*storagev1.StorageClass{wffc}, Pods: []*corev1.Pod{claimPod("web", "data")}}
			got := applyStorage(s, Plan(s, t0, &seqIDs{}, FitScheduler{}))
			p := got.Pods[0]
			res := p.Spec.NodeName
			if res == "" {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled {
						res = c.Message
					}
				}
			}
			if res != tt.want {
				t.Errorf("got %q, want %q", res, tt.want)
			}
		})
	}
}

func TestStatefulSetClaims(t *testing.T) {
	tmpl := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: gi("1Gi")}},
	}
	for _, tc := range []struct {
		name       string
		policy     *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy
		afterScale []string // claims after scaling 2 → 1
		afterGone  []string // claims after the set is removed
	}{{
		name:       "default Retain keeps every claim",
		afterScale: []string{"data-db-0 Bound", "data-db-1 Bound"},
		afterGone:  []string{"data-db-0 Bound", "data-db-1 Bound"},
	}, {
		name:       "whenScaled and whenDeleted Delete",
		policy:     &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
		afterScale: []string{"data-db-0 Bound"},
		afterGone:  []string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sts := statefulSet(2, func(s *appsv1.StatefulSet) {
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{tmpl}
				s.Spec.PersistentVolumeClaimRetentionPolicy = tc.policy
			})
			m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
			m.s.Nodes = []*corev1.Node{readyNode("n1", "4")}
			m.s.StatefulSets = []*appsv1.StatefulSet{sts}
			run := func(n int) {
				for range n {
					w := Plan(m.s, m.now, m.ids, FitScheduler{})
					m.s = applyStorage(m.s, w)
					var kept []*corev1.Pod
					for _, p := range m.s.Pods {
						if p.DeletionTimestamp == nil {
							kept = append(kept, p)
						}
					}
					m.s.Pods = kept
				}
			}
			claims := func() []string {
				out := []string{}
				for _, c := range m.s.PersistentVolumeClaims {
					out = append(out, c.Name+" "+string(c.Status.Phase))
				}
				sort.Strings(out)
				return out
			}
			run(3)
			if diff := cmp.Diff([]string{"data-db-0 Bound", "data-db-1 Bound"}, claims()); diff != "" {
				t.Fatalf("claims (-want +got):\n%s", diff)
			}
			for _, p := range m.s.Pods {
				want := "data-" + p.Name
				if vs := p.Spec.Volumes; len(vs) != 1 || vs[0].Name != "data" || vs[0].PersistentVolumeClaim == nil || vs[0].PersistentVolumeClaim.ClaimName != want {
					t.Errorf("pod %s volumes = %+v, want data → %s", p.Name, vs, want)
				}
			}
			for _, c := range m.s.PersistentVolumeClaims {
				if c.Labels["app"] != "db" || c.Labels["tier"] != "db" || c.Annotations[AnnotationCreatedBy] != "StatefulSet/db" {
					t.Errorf("claim %s labels %v annotations %v", c.Name, c.Labels, c.Annotations)
				}
			}
			m.s.StatefulSets[0] = m.s.StatefulSets[0].DeepCopy()
			m.s.StatefulSets[0].Spec.Replicas = ptr.To[int32](1)
			run(3)
			if diff := cmp.Diff(tc.afterScale, claims()); diff != "" {
				t.Errorf("after scale-down (-want +got):\n%s", diff)
			}
			m.s.StatefulSets = nil
			run(3)
			if diff := cmp.Diff(tc.afterGone, claims()); diff != "" {
				t.Errorf("after removal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevisionKeepsStorageOfTug(t *testing.T) {
	gitPV := hostVolume("static", "manual", "1Gi", "/srv/static", nil)
	gitPV.ResourceVersion = ""
	stored := gitPV.DeepCopy()
	stored.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data", UID: "pvc-uid-data"}
	stored.Status.Phase = corev1.VolumeBound
	gitClaim := claim("data", "manual", "1Gi", nil)
	gitClaim.UID, gitClaim.ResourceVersion = "", ""
	storedClaim := claim("data", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "static" })
	provisioned := provisionVolume(claim("x", "local-path", "1Gi", nil), BuiltinStorageClass(), "n1", Options{}.withDefaults())
	stsClaim := claim("data-db-0", "local-path", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{AnnotationCreatedBy: "StatefulSet/db"}
	})
	builtin := BuiltinStorageClass()
	p := PlanRevision("sha", []manifest.Object{gitPV, gitClaim}, []manifest.Object{stored, storedClaim, provisioned, stsClaim, builtin})
	if len(p.Puts) != 0 || len(p.Deletes) != 0 {
		var got []string
		for _, o := range p.Puts {
			got = append(got, "put "+manifest.KeyOf(o).String())
		}
		for _, o := range p.Deletes {
			got = append(got, "delete "+manifest.KeyOf(o).String())
		}
		t.Errorf("an unchanged commit must keep bindings and tug's own storage: %v", got)
	}
}

func TestScheduleReadWriteOncePod(t *testing.T) {
	c := claim("data", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
		c.Spec.VolumeName = "disk"
		c.Status.Phase = corev1.ClaimBound
	})
	disk := hostVolume("disk", "manual", "1Gi", "/mnt/disk", func(pv *corev1.PersistentVolume) {
		pv.Spec.AccessModes = c.Spec.AccessModes
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data", UID: c.UID}
		pv.Status.Phase = corev1.VolumeBound
	})
	running := claimPod("old", "data")
	running.Spec.NodeName = "n1"
	running.Status.Phase = corev1.PodRunning
	s := Snapshot{Nodes: []*corev1.Node{readyNode("n1", "4"), readyNode("n2", "4")}, PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{c},
		PersistentVolumes: []*corev1.PersistentVolume{disk}, Pods: []*corev1.Pod{running, claimPod("web", "data")}}
	got := storageTrace(applyStorage(s, Plan(s, t0, &seqIDs{}, FitScheduler{})))
	want := "pod web node= unschedulable=0/2 nodes are available: 2 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode."
	if !slices.Contains(got, want) {
		t.Errorf("got %q, want a line %q", got, want)
	}
}

func TestBuiltinClassYieldsDefault(t *testing.T) {
	builtin := BuiltinStorageClass()
	builtin.UID, builtin.ResourceVersion = "sc-builtin", "1"
	fast := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast", UID: "sc-fast", ResourceVersion: "1",
		Annotations: map[string]string{manifest.AnnotationDefaultStorageClass: "true"}},
		Provisioner: manifest.ProvisionerLocalPath, VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	s := Snapshot{StorageClasses: []*storagev1.StorageClass{builtin, fast},
		PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("data", "-", "1Gi", nil)},
		Nodes:                  []*corev1.Node{readyNode("n1", "4")}, Pods: []*corev1.Pod{claimPod("web", "data")}}
	w := Plan(s, t0, &seqIDs{}, FitScheduler{})
	var got []string
	for _, o := range w.Puts {
		switch o := o.(type) {
		case *storagev1.StorageClass:
			got = append(got, o.Name+" default="+o.Annotations[manifest.AnnotationDefaultStorageClass])
		case *corev1.PersistentVolume:
			got = append(got, "pv class="+o.Spec.StorageClassName)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"local-path default=false", "pv class=fast"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
