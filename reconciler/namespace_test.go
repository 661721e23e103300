package reconciler

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestNamespaceRemoval: once Git removes a namespace, everything tug stores
// in it goes; bound pods gracefully, the rest at once; other namespaces
// are untouched.
func TestNamespaceRemoval(t *testing.T) {
	meta := func(ns, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)}
	}
	pod := func(ns, name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: meta(ns, name), Spec: corev1.PodSpec{NodeName: node}}
	}
	s := Snapshot{
		Namespaces:  []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, {ObjectMeta: metav1.ObjectMeta{Name: "kept"}}},
		Nodes:       []*corev1.Node{readyNode("n1", "4")},
		ReplicaSets: []*appsv1.ReplicaSet{{ObjectMeta: meta("shop", "web-abc")}},
		Endpoints:   []*corev1.Endpoints{{ObjectMeta: meta("shop", "web")}},
		Pods: []*corev1.Pod{
			pod("shop", "bound", "n1"), pod("shop", "pending", ""), pod("kept", "bound", "n1"), pod("default", "bound", "n1"),
		},
	}
	w := Plan(s, t0, &seqIDs{}, FitScheduler{})
	var deleted, terminating []string
	for _, o := range w.Deletes {
		deleted = append(deleted, manifest.KeyOf(o).String())
	}
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
			terminating = append(terminating, p.Namespace+"/"+p.Name)
		}
	}
	sort.Strings(deleted)
	want := []string{
		manifest.Key{Kind: manifest.KindEndpoints, Namespace: "shop", Name: "web"}.String(),
		manifest.Key{Kind: manifest.KindPod, Namespace: "shop", Name: "pending"}.String(),
		manifest.Key{Kind: manifest.KindReplicaSet, Namespace: "shop", Name: "web-abc"}.String(),
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, deleted); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shop/bound"}, terminating); diff != "" {
		t.Errorf("graceful deletions (-want +got):\n%s", diff)
	}

	// The next pass, with the bound pod terminating, deletes nothing twice.
	s2 := Snapshot{Namespaces: s.Namespaces, Nodes: s.Nodes}
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == "shop" {
			s2.Pods = append(s2.Pods, p)
		}
	}
	if w2 := Plan(s2, t0, &seqIDs{}, FitScheduler{}); len(w2.Deletes)+len(w2.Puts) != 0 {
		t.Errorf("second pass wrote deletes %v puts %v, want none", w2.Deletes, w2.Puts)
	}
}
