package reconciler

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func statefulSet(replicas int32, mod func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "sts-db", ResourceVersion: "1", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:1"}}},
			},
		},
	}
	if mod != nil {
		mod(sts)
	}
	return sts
}

func newStsSim(t *testing.T, sts *appsv1.StatefulSet) *dsSim {
	m := &dsSim{t: t, now: t0, ids: &seqIDs{}}
	m.s.Nodes = []*corev1.Node{readyNode("n1", "4")}
	m.s.StatefulSets = []*appsv1.StatefulSet{sts}
	return m
}

// podsTrace renders the pods as "name=image" sorted by name.
func podsTrace(s Snapshot) string {
	var out []string
	for _, p := range s.Pods {
		out = append(out, p.Name+"="+p.Spec.Containers[0].Image)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// trace runs passes until nothing changes, recording the pods after each.
func (m *dsSim) trace(max int) []string {
	var out []string
	for range max {
		m.pass()
		tr := podsTrace(m.s)
		if len(out) > 0 && out[len(out)-1] == tr {
			break
		}
		out = append(out, tr)
	}
	return out
}

func TestStatefulSet(t *testing.T) {
	tests := []struct {
		name   string
		sts    *appsv1.StatefulSet
		change func(*appsv1.StatefulSet) // applied after the first rollout settles
		want   []string
	}{{
		name: "OrderedReady creates in ordinal order",
		sts:  statefulSet(3, nil),
		want: []string{"db-0=db:1", "db-0=db:1 db-1=db:1", "db-0=db:1 db-1=db:1 db-2=db:1"},
	}, {
		name: "Parallel creates at once",
		sts:  statefulSet(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }),
		want: []string{"db-0=db:1 db-1=db:1 db-2=db:1"},
	}, {
		name:   "OrderedReady scales down from the highest ordinal",
		sts:    statefulSet(3, nil),
		change: func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) },
		want:   []string{"db-0=db:1 db-1=db:1", "db-0=db:1"},
	}, {
		name: "Parallel scales down at once",
		sts:  statefulSet(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }),
		change: func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To[int32](1)
		},
		want: []string{"db-0=db:1"},
	}, {
		name:   "RollingUpdate in reverse ordinal order",
		sts:    statefulSet(3, nil),
		change: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" },
		want: []string{
			"db-0=db:1 db-1=db:1", "db-0=db:1 db-1=db:1 db-2=db:2",
			"db-0=db:1 db-2=db:2", "db-0=db:1 db-1=db:2 db-2=db:2",
			"db-1=db:2 db-2=db:2", "db-0=db:2 db-1=db:2 db-2=db:2",
		},
	}, {
		name: "partition keeps the lower ordinals",
		sts: statefulSet(3, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}
		}),
		change: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" },
		want:   []string{"db-0=db:1 db-1=db:1", "db-0=db:1 db-1=db:1 db-2=db:2"},
	}, {
		name: "OnDelete leaves pods alone",
		sts: statefulSet(2, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		}),
		change: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" },
		want:   []string{"db-0=db:1 db-1=db:1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStsSim(t, tt.sts)
			got := m.trace(20)
			if tt.change != nil {
				u := m.s.StatefulSets[0].DeepCopy()
				tt.change(u)
				u.Generation++
				m.s.StatefulSets[0] = u
				got = m.trace(20)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pods after each pass (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatefulSetPodIdentityAndStatus(t *testing.T) {
	m := newStsSim(t, statefulSet(2, nil))
	m.trace(10)
	p := m.s.Pods[0]
	rev := "db-" + TemplateHash(&m.s.StatefulSets[0].Spec.Template)
	if p.Name != "db-0" || p.Spec.Hostname != "db-0" || p.Spec.Subdomain != "db" {
		t.Errorf("pod %s hostname %q subdomain %q; want db-0, db-0, db", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	wantLabels := map[string]string{"app": "db", "controller-revision-hash": rev,
		LabelStatefulSetPodName: "db-0", LabelPodIndex: "0"}
	if diff := cmp.Diff(wantLabels, p.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	want := appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: rev, UpdateRevision: rev}
	if diff := cmp.Diff(want, m.s.StatefulSets[0].Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

// A pod evicted from an unreachable node stays Terminating until its node
// confirms it stopped; the StatefulSet must not start a second db-1 meanwhile.
func TestStatefulSetWaitsForTerminatingPod(t *testing.T) {
	m := newStsSim(t, statefulSet(2, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }))
	m.trace(10)
	for i, p := range m.s.Pods {
		if p.Name == "db-1" {
			u := p.DeepCopy()
			u.DeletionTimestamp = ptr.To(metav1.NewTime(m.now))
			m.s.Pods[i] = u
		}
	}
	w := Plan(m.s, m.now.Add(time.Minute), m.ids, FitScheduler{})
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok && p.Name == "db-1" && p.DeletionTimestamp == nil {
			t.Fatalf("a second db-1 was created while the first is terminating")
		}
	}
}
