package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPlanRevision(t *testing.T) {
	stored := func(o manifest.Object) manifest.Object {
		o = manifest.DeepCopy(o)
		o.SetUID("stored-uid")
		o.SetResourceVersion("7")
		o.SetGeneration(3)
		return o
	}
	withStatus := func(d *appsv1.Deployment) *appsv1.Deployment {
		d = d.DeepCopy()
		d.Status.ReadyReplicas = 2
		return d
	}
	cm := configMap("one")
	dep := deployment("web", 2, "img:1")
	dep.UID = ""
	scaled := dep.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](5)
	builtinNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Annotations: map[string]string{AnnotationBuiltin: "true"}}}

	tests := []struct {
		name                   string
		desired, stored        []manifest.Object
		added, changed, remove int
		check                  func(t *testing.T, p RevisionPlan)
	}{
		{name: "first commit adds everything", desired: []manifest.Object{cm, dep}, added: 2},
		{name: "unchanged commit writes nothing", desired: []manifest.Object{cm, dep}, stored: []manifest.Object{stored(cm), stored(dep)}},
		{name: "spec change keeps identity and status, bumps generation",
			desired: []manifest.Object{scaled}, stored: []manifest.Object{stored(withStatus(dep))}, changed: 1,
			check: func(t *testing.T, p RevisionPlan) {
				got := p.Puts[0].(*appsv1.Deployment)
				if got.UID != "stored-uid" || got.ResourceVersion != "7" || got.Generation != 4 || got.Status.ReadyReplicas != 2 {
					t.Errorf("got uid %q rv %q generation %d status %+v", got.UID, got.ResourceVersion, got.Generation, got.Status)
				}
			}},
		{name: "removed from git is pruned, builtin namespace kept",
			desired: []manifest.Object{cm}, stored: []manifest.Object{stored(cm), stored(dep), builtinNS}, remove: 1,
			check: func(t *testing.T, p RevisionPlan) {
				if diff := cmp.Diff("web", p.Deletes[0].GetName()); diff != "" {
					t.Error(diff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanRevision("", tt.desired, tt.stored)
			if got := [3]int{p.Added, p.Changed, p.Removed}; got != [3]int{tt.added, tt.changed, tt.remove} {
				t.Fatalf("added/changed/removed = %v, want %v", got, [3]int{tt.added, tt.changed, tt.remove})
			}
			if len(p.Puts) != tt.added+tt.changed || len(p.Deletes) != tt.remove {
				t.Fatalf("%d puts %d deletes", len(p.Puts), len(p.Deletes))
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// TestPlanRevisionStampsTemplateCommit checks that a Deployment carries the
// commit that last changed its effective template (template or the
// ConfigMaps it uses), and that other commits neither restamp nor rewrite it.
func TestPlanRevisionStampsTemplateCommit(t *testing.T) {
	dep := deployment("web", 2, "img:1")
	dep.UID = ""
	rev := func(sha string, prev []manifest.Object, objs ...manifest.Object) []manifest.Object {
		t.Helper()
		return storedAs(t, PlanRevision(sha, objs, prev), prev)
	}
	stamp := func(objs []manifest.Object) string {
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok {
				return d.Annotations[AnnotationRevision]
			}
		}
		return ""
	}
	st := rev("c1", nil, configMap("one"), dep)
	if got := stamp(st); got != "c1" {
		t.Fatalf("first commit stamped %q", got)
	}
	if p := PlanRevision("c2", []manifest.Object{configMap("one"), dep}, st); len(p.Puts) != 0 {
		t.Fatalf("an unrelated commit rewrote %d objects", len(p.Puts))
	}
	scaled := dep.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](5)
	st = rev("c3", st, configMap("one"), scaled)
	if got := stamp(st); got != "c1" {
		t.Errorf("scaling restamped to %q; the template is still c1's", got)
	}
	st = rev("c4", st, configMap("two"), scaled)
	if got := stamp(st); got != "c4" {
		t.Errorf("a ConfigMap change the template uses stamped %q, want c4", got)
	}
	img2 := scaled.DeepCopy()
	img2.Spec.Template.Spec.Containers[0].Image = "img:2"
	st = rev("c5", st, configMap("two"), img2)
	if got := stamp(st); got != "c5" {
		t.Errorf("an image change stamped %q, want c5", got)
	}
}
