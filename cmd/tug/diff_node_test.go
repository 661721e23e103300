package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGitNodeView: a stored Node compares with its manifest on the fields
// Git set only, not on what the agent and the node-failure controller add.
func TestGitNodeView(t *testing.T) {
	stored := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1",
			Labels: map[string]string{"disk": "ssd", "kubernetes.io/hostname": "n1"},
			Annotations: map[string]string{
				manifest.SourceAnnotation:  "nodes.yaml:1",
				manifest.AnnotationGitNode: `{"labels":{"disk":"ssd"},"taints":[{"key":"gpu","effect":"NoSchedule"}]}`,
			}},
		Spec: corev1.NodeSpec{PodCIDR: "10.42.0.0/24", Taints: []corev1.Taint{
			{Key: "gpu", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute},
		}},
		Status: corev1.NodeStatus{Phase: corev1.NodeRunning},
	}
	got, err := gitNodeView(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"disk": "ssd"},
			Annotations: map[string]string{manifest.SourceAnnotation: "nodes.yaml:1"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
	}
	manifest.SetTypeMeta(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gitNodeView (-want +got):\n%s", diff)
	}
}
