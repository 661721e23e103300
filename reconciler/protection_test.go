package reconciler

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podUsing(name, claimName string, phase corev1.PodPhase) *corev1.Pod {
	p := boundPod(name, "n1")
	p.Status.Phase = phase
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}}
	return p
}

func terminating(c *corev1.PersistentVolumeClaim) {
	c.DeletionTimestamp = &metav1.Time{Time: t0}
	c.Finalizers = []string{FinalizerPVCProtection}
}

// TestProtectClaims: a claim removed from Git while a pod that has not
// finished uses it becomes Terminating instead of going; others go.
func TestProtectClaims(t *testing.T) {
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		pods       []*corev1.Pod
		wantDelete bool
		wantTermAt *time.Time // the deletion timestamp put, nil: no put
	}{
		{"unused: deleted", claim("data", "local-path", "1Gi", nil), nil, true, nil},
		{"used by a running pod: Terminating", claim("data", "local-path", "1Gi", nil),
			[]*corev1.Pod{podUsing("db", "data", corev1.PodRunning)}, false, &now},
		{"used by a finished pod only: deleted", claim("data", "local-path", "1Gi", nil),
			[]*corev1.Pod{podUsing("job", "data", corev1.PodSucceeded)}, true, nil},
		{"another claim used: deleted", claim("data", "local-path", "1Gi", nil),
			[]*corev1.Pod{podUsing("db", "other", corev1.PodRunning)}, true, nil},
		{"Terminating already and used: nothing to write", claim("data", "local-path", "1Gi", terminating),
			[]*corev1.Pod{podUsing("db", "data", corev1.PodRunning)}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := configMap("x")
			p := RevisionPlan{Deletes: []manifest.Object{tc.claim, cm}, Removed: 2}
			protectStorage(&p, tc.pods, now)
			if !slices.Contains(p.Deletes, manifest.Object(cm)) {
				t.Error("the ConfigMap's delete was dropped")
			}
			if got := slices.Contains(p.Deletes, manifest.Object(tc.claim)); got != tc.wantDelete {
				t.Errorf("claim deleted: %v, want %v", got, tc.wantDelete)
			}
			switch {
			case tc.wantTermAt == nil && len(p.Puts) != 0:
				t.Errorf("puts %v, want none", p.Puts)
			case tc.wantTermAt != nil:
				if len(p.Puts) != 1 {
					t.Fatalf("%d puts, want the Terminating claim", len(p.Puts))
				}
				u := p.Puts[0].(*corev1.PersistentVolumeClaim)
				if u.DeletionTimestamp == nil || !u.DeletionTimestamp.Time.Equal(*tc.wantTermAt) ||
					!slices.Contains(u.Finalizers, FinalizerPVCProtection) || u.ResourceVersion != tc.claim.ResourceVersion {
					t.Errorf("put %+v, want deletionTimestamp %v, the finalizer and resourceVersion %s", u.ObjectMeta, *tc.wantTermAt, tc.claim.ResourceVersion)
				}
				if tc.claim.DeletionTimestamp != nil {
					t.Error("the stored claim was modified")
				}
			}
		})
	}
}

// TestClaimProtectionLifecycle: a Terminating claim stays while a pod uses
// it, refuses new pods, goes in the pass after the last one finished, and
// a commit that brings it back un-deletes it.
func TestClaimProtectionLifecycle(t *testing.T) {
	c := claim("data", "local-path", "1Gi", terminating)
	user := podUsing("db", "data", corev1.PodRunning)
	s := Snapshot{Nodes: []*corev1.Node{readyNode("n1", "4")}, PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{c},
		Pods: []*corev1.Pod{user}}
	pending := podUsing("new", "data", corev1.PodPending)
	pending.Spec.NodeName = ""
	s.Pods = append(s.Pods, pending)
	w := Plan(s, t0, &seqIDs{}, FitScheduler{})
	for _, d := range w.Deletes {
		if d.GetUID() == c.UID {
			t.Fatal("claim deleted while a pod uses it")
		}
	}
	if !slices.ContainsFunc(w.Events, func(e *corev1.Event) bool {
		return e.Reason == "FailedScheduling" && strings.Contains(e.Message, `persistentvolumeclaim "data" is being deleted`)
	}) {
		t.Errorf("a new pod using the Terminating claim was not refused: events %v", w.Events)
	}
	user = user.DeepCopy()
	user.Status.Phase = corev1.PodSucceeded
	s.Pods = []*corev1.Pod{user} // and the new pod gone with its owner
	w = Plan(s, t0, &seqIDs{}, FitScheduler{})
	if !slices.ContainsFunc(w.Deletes, func(o manifest.Object) bool { return o.GetUID() == c.UID }) {
		t.Errorf("claim not deleted once its last pod finished: deletes %v", w.Deletes)
	}

	// Back in Git while Terminating: written without the deletion.
	committed := claim("data", "local-path", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.UID, c.ResourceVersion = "", "" })
	p := PlanRevision("abc", []manifest.Object{committed}, []manifest.Object{c})
	if len(p.Puts) != 1 {
		t.Fatalf("puts %v, want the claim", p.Puts)
	}
	u := p.Puts[0].(*corev1.PersistentVolumeClaim)
	if u.DeletionTimestamp != nil || len(u.Finalizers) != 0 || u.UID != c.UID {
		t.Errorf("un-deleted claim %+v, want no deletion timestamp or finalizer and UID %s", u.ObjectMeta, c.UID)
	}
}

// TestVolumeProtection: a Bound volume removed from Git is Terminating, not
// deleted; its claim stays Bound (not Lost) and the volume is neither
// released nor reclaimed; once the claim is gone, the volume object is
// deleted. A volume bound to nothing is deleted at once.
func TestVolumeProtection(t *testing.T) {
	now := t0.Add(time.Minute)
	c := claim("shared", "manual", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "static"
		c.Status.Phase = corev1.ClaimBound
	})
	bound := hostVolume("static", "manual", "1Gi", "/srv/static", func(pv *corev1.PersistentVolume) {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "shared", UID: c.UID}
		pv.Status.Phase = corev1.VolumeBound
	})
	free := hostVolume("free", "manual", "1Gi", "/srv/free", func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumeAvailable })

	p := RevisionPlan{Deletes: []manifest.Object{bound, free}}
	protectStorage(&p, nil, now)
	if len(p.Deletes) != 1 || p.Deletes[0].GetName() != "free" {
		t.Errorf("deletes %v, want only the free volume", p.Deletes)
	}
	if len(p.Puts) != 1 {
		t.Fatalf("puts %v, want the Terminating volume", p.Puts)
	}
	term := p.Puts[0].(*corev1.PersistentVolume)
	if term.DeletionTimestamp == nil || !slices.Contains(term.Finalizers, FinalizerPVProtection) {
		t.Fatalf("volume %+v, want Terminating with %s", term.ObjectMeta, FinalizerPVProtection)
	}

	// A pass with the claim still there: nothing changes for either.
	s := Snapshot{Nodes: []*corev1.Node{readyNode("n1", "4")}, PersistentVolumes: []*corev1.PersistentVolume{term},
		PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{c}, Pods: []*corev1.Pod{podUsing("reader", "shared", corev1.PodRunning)}}
	w := Plan(s, now, &seqIDs{}, FitScheduler{})
	for _, o := range append(append([]manifest.Object{}, w.Puts...), w.Deletes...) {
		switch o.(type) {
		case *corev1.PersistentVolume, *corev1.PersistentVolumeClaim:
			t.Errorf("pass wrote %s %s while the volume is still bound", manifest.KindOf(o), o.GetName())
		}
	}
	// The claim is gone: the volume object goes too (no reclaim of its data).
	s.PersistentVolumeClaims, s.Pods = nil, nil
	w = Plan(s, now, &seqIDs{}, FitScheduler{})
	if !slices.ContainsFunc(w.Deletes, func(o manifest.Object) bool { return o.GetUID() == term.UID }) {
		t.Errorf("Terminating volume not deleted once its claim is gone: deletes %v", w.Deletes)
	}
	for _, o := range w.Puts {
		if pv, ok := o.(*corev1.PersistentVolume); ok && pv.Status.Phase == corev1.VolumeReleased {
			t.Errorf("Terminating volume released (its data would be reclaimed): %+v", pv.Status)
		}
	}
}
