package reconciler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func daemonSet(image string, mod func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default", UID: "ds-agent", ResourceVersion: "1", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: image}}},
			},
		},
	}
	if mod != nil {
		mod(ds)
	}
	return ds
}

func labeledNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	n := readyNode(name, "4")
	n.Labels = labels
	n.Spec.Taints = taints
	return n
}

type dsSim struct {
	t   testing.TB
	s   Snapshot
	now time.Time
	ids *seqIDs
}

// pass plans once and applies the writes; then the agent makes bound pods
// ready and finishes deletions.
func (m *dsSim) pass() {
	w := Plan(m.s, m.now, m.ids, FitScheduler{})
	m.s = applyWrites(m.s, w)
	var kept []*corev1.Pod
	for _, p := range m.s.Pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName != "" && !podReady(p) {
			p = p.DeepCopy()
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady,
				Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(m.now)})
		}
		kept = append(kept, p)
	}
	m.s.Pods = kept
	m.now = m.now.Add(time.Second)
}

// placement maps node → image of its daemon pods ("" when unbound).
func (m *dsSim) placement() map[string][]string {
	out := map[string][]string{}
	for _, p := range m.s.Pods {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Spec.Containers[0].Image)
	}
	return out
}

func TestDaemonSetPlacement(t *testing.T) {
	edge := map[string]string{"role": "edge"}
	noisy := corev1.Taint{Key: "noisy", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	cordoned := labeledNode("n4", edge)
	cordoned.Spec.Unschedulable = true
	tests := []struct {
		name  string
		ds    *appsv1.DaemonSet
		nodes []*corev1.Node
		want  map[string][]string
	}{{
		name:  "every node",
		ds:    daemonSet("a:1", nil),
		nodes: []*corev1.Node{labeledNode("n1", nil), labeledNode("n2", nil)},
		want:  map[string][]string{"n1": {"a:1"}, "n2": {"a:1"}},
	}, {
		name:  "not a Node committed to Git whose node never registered",
		ds:    daemonSet("a:1", nil),
		nodes: []*corev1.Node{labeledNode("n1", nil), {ObjectMeta: metav1.ObjectMeta{Name: "later"}}},
		want:  map[string][]string{"n1": {"a:1"}},
	}, {
		name:  "nodeSelector, untolerated taint, cordoned node",
		ds:    daemonSet("a:1", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = edge }),
		nodes: []*corev1.Node{labeledNode("n1", edge), labeledNode("n2", nil), labeledNode("n3", edge, noisy), cordoned},
		want:  map[string][]string{"n1": {"a:1"}, "n4": {"a:1"}},
	}, {
		name: "toleration and required node affinity",
		ds: daemonSet("a:1", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "noisy", Operator: corev1.TolerationOpExists}}
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "role", Operator: corev1.NodeSelectorOpIn, Values: []string{"edge"}}},
				}}}}}
		}),
		nodes: []*corev1.Node{labeledNode("n1", edge), labeledNode("n2", nil), labeledNode("n3", edge, noisy)},
		want:  map[string][]string{"n1": {"a:1"}, "n3": {"a:1"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
			m.s.Nodes = tt.nodes
			m.s.DaemonSets = []*appsv1.DaemonSet{tt.ds}
			for range 3 {
				m.pass()
			}
			if diff := cmp.Diff(tt.want, m.placement()); diff != "" {
				t.Errorf("placement (-want +got):\n%s", diff)
			}
			st := m.s.DaemonSets[0].Status
			n := int32(len(tt.want))
			want := appsv1.DaemonSetStatus{DesiredNumberScheduled: n, CurrentNumberScheduled: n, NumberReady: n,
				UpdatedNumberScheduled: n, NumberAvailable: n, ObservedGeneration: 1}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDaemonSetNodeLeavesSelection(t *testing.T) {
	edge := map[string]string{"role": "edge"}
	m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
	m.s.Nodes = []*corev1.Node{labeledNode("n1", edge), labeledNode("n2", edge)}
	m.s.DaemonSets = []*appsv1.DaemonSet{daemonSet("a:1", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = edge })}
	m.pass()
	m.pass()
	m.s.Nodes[1] = labeledNode("n2", nil)
	m.pass()
	m.pass()
	if diff := cmp.Diff(map[string][]string{"n1": {"a:1"}}, m.placement()); diff != "" {
		t.Errorf("placement (-want +got):\n%s", diff)
	}
	m.s.Nodes = append(m.s.Nodes, labeledNode("n3", edge))
	m.pass()
	m.pass()
	if diff := cmp.Diff(map[string][]string{"n1": {"a:1"}, "n3": {"a:1"}}, m.placement()); diff != "" {
		t.Errorf("after a new node (-want +got):\n%s", diff)
	}
}

func TestDaemonSetRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxUnavailable *intstr.IntOrString
		budget         int
	}{
		{"default 1", nil, 1},
		{"2", ptr.To(intstr.FromInt32(2)), 2},
		{"50% of 5 rounds up to 3", ptr.To(intstr.FromString("50%")), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
			for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
				m.s.Nodes = append(m.s.Nodes, labeledNode(n, nil))
			}
			m.s.DaemonSets = []*appsv1.DaemonSet{daemonSet("a:1", func(ds *appsv1.DaemonSet) {
				ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: tc.maxUnavailable}}
			})}
			m.pass()
			m.pass()
			ds := m.s.DaemonSets[0].DeepCopy()
			ds.Spec.Template.Spec.Containers[0].Image = "a:2"
			ds.Generation = 2
			m.s.DaemonSets[0] = ds
			maxDown := 0
			for i := 0; i < 30; i++ {
				w := Plan(m.s, m.now, m.ids, FitScheduler{})
				m.s = applyWrites(m.s, w)
				down := 0
				for _, node := range m.s.Nodes {
					ok := false
					for _, p := range m.s.Pods {
						if p.Spec.NodeName == node.Name && p.DeletionTimestamp == nil && podReady(p) {
							ok = true
						}
					}
					if !ok {
						down++
					}
				}
				maxDown = max(maxDown, down)
				m.pass()
			}
			want := map[string][]string{"n1": {"a:2"}, "n2": {"a:2"}, "n3": {"a:2"}, "n4": {"a:2"}, "n5": {"a:2"}}
			if diff := cmp.Diff(want, m.placement()); diff != "" {
				t.Errorf("after the rollout (-want +got):\n%s", diff)
			}
			if maxDown != tc.budget {
				t.Errorf("at most %d nodes were without an available pod, want exactly the budget %d", maxDown, tc.budget)
			}
			if st := m.s.DaemonSets[0].Status; st.UpdatedNumberScheduled != 5 || st.NumberAvailable != 5 || st.ObservedGeneration != 2 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestDaemonSetOnDelete(t *testing.T) {
	m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
	m.s.Nodes = []*corev1.Node{labeledNode("n1", nil), labeledNode("n2", nil)}
	m.s.DaemonSets = []*appsv1.DaemonSet{daemonSet("a:1", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
	})}
	m.pass()
	m.pass()
	m.s.DaemonSets[0].Spec.Template.Spec.Containers[0].Image = "a:2"
	m.pass()
	m.pass()
	if diff := cmp.Diff(map[string][]string{"n1": {"a:1"}, "n2": {"a:1"}}, m.placement()); diff != "" {
		t.Errorf("OnDelete replaced pods (-want +got):\n%s", diff)
	}
	m.s.Pods = m.s.Pods[1:] // someone deletes one pod
	m.pass()
	m.pass()
	got := m.placement()
	if len(got["n1"])+len(got["n2"]) != 2 || !(cmp.Equal(got["n1"], []string{"a:2"}) || cmp.Equal(got["n2"], []string{"a:2"})) {
		t.Errorf("the deleted pod was not replaced from the new template: %v", got)
	}
}

func TestDaemonSetRollsOnConfigChange(t *testing.T) {
	m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
	m.s.Nodes = []*corev1.Node{labeledNode("n1", nil)}
	m.s.ConfigMaps = []*corev1.ConfigMap{configMap("hello")}
	m.s.DaemonSets = []*appsv1.DaemonSet{daemonSet("a:1", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	})}
	m.pass()
	m.pass()
	before := m.s.Pods[0]
	if before.Annotations[AnnotationConfigHash] == "" {
		t.Fatalf("daemon pod has no config hash")
	}
	m.s.ConfigMaps = []*corev1.ConfigMap{configMap("bonjour")}
	for range 4 {
		m.pass()
	}
	if len(m.s.Pods) != 1 || m.s.Pods[0].UID == before.UID || m.s.Pods[0].Annotations[AnnotationConfigHash] == before.Annotations[AnnotationConfigHash] {
		t.Errorf("the ConfigMap change did not roll the daemon pod")
	}
}
