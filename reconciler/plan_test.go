package reconciler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

type seqIDs struct{ n int }

func (s *seqIDs) UID() types.UID { s.n++; return types.UID(fmt.Sprintf("uid-%d", s.n)) }
func (s *seqIDs) Suffix() string { s.n++; return fmt.Sprintf("s%04d", s.n) }

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("d-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Env: []corev1.EnvVar{{Name: "MESSAGE", ValueFrom: &corev1.EnvVarSource{
						ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "message"},
					}}},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				}}},
			},
		},
	}
}

func readyNode(name, cpu string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("4Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func configMap(msg string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"message": msg}}
}

// converge applies plans to an in-memory snapshot until nothing changes,
// marking bound pods ready and finishing deletions as a node agent would.
func converge(t testing.TB, s Snapshot, ids IDs) Snapshot {
	t.Helper()
	for i := 0; i < 20; i++ {
		w := Plan(s, t0, ids, FitScheduler{})
		agentActs := false
		for j, p := range s.Pods {
			if p.Spec.NodeName != "" && p.DeletionTimestamp == nil && !podReady(p) {
				u := p.DeepCopy()
				u.Status.Phase = corev1.PodRunning
				u.Status.PodIP = fmt.Sprintf("10.42.0.%d", j+2)
				u.Status.Conditions = append(u.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
				s.Pods[j] = u
				agentActs = true
			}
		}
		if w.Empty() && !agentActs {
			// The agent finishes graceful deletions.
			var kept []*corev1.Pod
			for _, p := range s.Pods {
				if p.DeletionTimestamp == nil {
					kept = append(kept, p)
				}
			}
			if len(kept) == len(s.Pods) {
				return s
			}
			s.Pods = kept
			continue
		}
		s = applyWrites(s, w)
	}
	t.Fatalf("no convergence after 20 passes")
	return s
}

func applyWrites(s Snapshot, w Writes) Snapshot {
	del := map[types.UID]bool{}
	for _, d := range w.Deletes {
		del[d.GetUID()] = true
	}
	put := map[types.UID]manifest.Object{}
	var order []types.UID
	for _, p := range w.Puts {
		if _, ok := put[p.GetUID()]; !ok {
			order = append(order, p.GetUID())
		}
		put[p.GetUID()] = p
	}
	var out Snapshot
	seen := map[types.UID]bool{}
	out.Nodes, out.ConfigMaps, out.Secrets, out.Namespaces, out.Services = s.Nodes, s.ConfigMaps, s.Secrets, s.Namespaces, s.Services
	for _, ep := range s.Endpoints {
		if del[ep.UID] {
			continue
		}
		if o, ok := put[ep.UID]; ok {
			ep = o.(*corev1.Endpoints)
		}
		seen[ep.UID] = true
		out.Endpoints = append(out.Endpoints, ep)
	}
	out.LimitRanges = s.LimitRanges
	for _, q := range s.ResourceQuotas {
		if o, ok := put[q.UID]; ok {
			q = o.(*corev1.ResourceQuota)
		}
		seen[q.UID] = true
		out.ResourceQuotas = append(out.ResourceQuotas, q)
	}
	for _, es := range s.EndpointSlices {
		if del[es.UID] {
			continue
		}
		if o, ok := put[es.UID]; ok {
			es = o.(*discoveryv1.EndpointSlice)
		}
		seen[es.UID] = true
		out.EndpointSlices = append(out.EndpointSlices, es)
	}
	for _, d := range s.Deployments {
		if o, ok := put[d.UID]; ok {
			d = o.(*appsv1.Deployment)
		}
		seen[d.UID] = true
		out.Deployments = append(out.Deployments, d)
	}
	for _, rs := range s.ReplicaSets {
		if del[rs.UID] {
			continue
		}
		if o, ok := put[rs.UID]; ok {
			rs = o.(*appsv1.ReplicaSet)
		}
		seen[rs.UID] = true
		out.ReplicaSets = append(out.ReplicaSets, rs)
	}
	for _, p := range s.Pods {
		if del[p.UID] {
			continue
		}
		if o, ok := put[p.UID]; ok {
			p = o.(*corev1.Pod)
		}
		seen[p.UID] = true
		out.Pods = append(out.Pods, p)
	}
	for _, j := range s.Jobs {
		if del[j.UID] {
			continue
		}
		if o, ok := put[j.UID]; ok {
			j = o.(*batchv1.Job)
		}
		seen[j.UID] = true
		out.Jobs = append(out.Jobs, j)
	}
	for _, ds := range s.DaemonSets {
		if o, ok := put[ds.UID]; ok {
			ds = o.(*appsv1.DaemonSet)
		}
		seen[ds.UID] = true
		out.DaemonSets = append(out.DaemonSets, ds)
	}
	for _, sts := range s.StatefulSets {
		if o, ok := put[sts.UID]; ok {
			sts = o.(*appsv1.StatefulSet)
		}
		seen[sts.UID] = true
		out.StatefulSets = append(out.StatefulSets, sts)
	}
	for _, cj := range s.CronJobs {
		if o, ok := put[cj.UID]; ok {
			cj = o.(*batchv1.CronJob)
		}
		seen[cj.UID] = true
		out.CronJobs = append(out.CronJobs, cj)
	}
	for _, uid := range order {
		if seen[uid] {
			continue
		}
		switch o := put[uid].(type) {
		case *batchv1.Job:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.Jobs = append(out.Jobs, o)
		case *appsv1.ReplicaSet:
			o = o.DeepCopy()
			if o.CreationTimestamp.IsZero() {
				o.CreationTimestamp = metav1.NewTime(t0)
			}
			o.ResourceVersion = "1"
			out.ReplicaSets = append(out.ReplicaSets, o)
		case *corev1.Pod:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.Pods = append(out.Pods, o)
		case *corev1.Endpoints:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.Endpoints = append(out.Endpoints, o)
		case *discoveryv1.EndpointSlice:
			o = o.DeepCopy()
			o.ResourceVersion = "1"
			out.EndpointSlices = append(out.EndpointSlices, o)
		}
	}
	return out
}

func podNames(s Snapshot) []string {
	var out []string
	for _, p := range s.Pods {
		out = append(out, p.Name+"@"+p.Spec.NodeName)
	}
	return out
}

func TestPlanDeploymentLifecycle(t *testing.T) {
	ids := &seqIDs{}
	s := Snapshot{
		Deployments: []*appsv1.Deployment{deployment("web", 2, "tug.local/hello:v1")},
		ConfigMaps:  []*corev1.ConfigMap{configMap("one")},
		Nodes:       []*corev1.Node{readyNode("n1", "2")},
	}
	s = converge(t, s, ids)
	if len(s.ReplicaSets) != 1 || len(s.Pods) != 2 {
		t.Fatalf("after create: %d replicasets, pods %v; want 1 and 2", len(s.ReplicaSets), podNames(s))
	}
	rs1 := s.ReplicaSets[0]
	if want := "web-" + rs1.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; rs1.Name != want {
		t.Errorf("replicaset name %q, want %q", rs1.Name, want)
	}
	for _, p := range s.Pods {
		if !strings.HasPrefix(p.Name, rs1.Name+"-") || p.Spec.NodeName != "n1" {
			t.Errorf("pod %s on %q: want prefix %s- and node n1", p.Name, p.Spec.NodeName, rs1.Name)
		}
	}
	if got := s.Deployments[0].Status; got.ReadyReplicas != 2 || got.UpdatedReplicas != 2 {
		t.Errorf("deployment status %+v: want 2 ready, 2 updated", got)
	}

	// A ConfigMap change rolls the pods: new ReplicaSet, old one scaled to 0.
	s.ConfigMaps = []*corev1.ConfigMap{configMap("two")}
	s = converge(t, s, ids)
	var active []string
	for _, rs := range s.ReplicaSets {
		if ptr.Deref(rs.Spec.Replicas, 0) > 0 {
			active = append(active, rs.Name)
		}
	}
	if len(active) != 1 || active[0] == rs1.Name {
		t.Fatalf("after config change active replicasets %v; want one new one (old %s)", active, rs1.Name)
	}
	if len(s.Pods) != 2 {
		t.Fatalf("after config change pods %v, want 2", podNames(s))
	}
	for _, p := range s.Pods {
		if !strings.HasPrefix(p.Name, active[0]) {
			t.Errorf("pod %s not owned by new replicaset %s", p.Name, active[0])
		}
	}

	// Scale down to 1, then remove the deployment: everything goes.
	d := s.Deployments[0].DeepCopy()
	d.Spec.Replicas = ptr.To[int32](1)
	s.Deployments = []*appsv1.Deployment{d}
	s = converge(t, s, ids)
	if len(s.Pods) != 1 {
		t.Fatalf("after scale to 1: pods %v", podNames(s))
	}
	s.Deployments = nil
	s = converge(t, s, ids)
	if len(s.ReplicaSets) != 0 || len(s.Pods) != 0 {
		t.Fatalf("after delete: %d replicasets, pods %v; want none", len(s.ReplicaSets), podNames(s))
	}
}

func TestPlanKeepsOldPodsUntilNewAvailable(t *testing.T) {
	ids := &seqIDs{}
	s := converge(t, Snapshot{
		Deployments: []*appsv1.Deployment{deployment("web", 2, "tug.local/hello:v1")},
		ConfigMaps:  []*corev1.ConfigMap{configMap("one")},
		Nodes:       []*corev1.Node{readyNode("n1", "2")},
	}, ids)
	d := s.Deployments[0].DeepCopy()
	d.Spec.Template.Spec.Containers[0].Image = "tug.local/hello:v2"
	s.Deployments = []*appsv1.Deployment{d}
	// One pass, no agent: the new pods are not ready yet.
	w := Plan(s, t0, ids, FitScheduler{})
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
			t.Errorf("old pod %s deleted before the new ones are ready", p.Name)
		}
		if rs, ok := o.(*appsv1.ReplicaSet); ok && rs.Name != "" && ptr.Deref(rs.Spec.Replicas, 0) == 0 {
			t.Errorf("old replicaset %s scaled down before the new one is available", rs.Name)
		}
	}
}

func TestScheduler(t *testing.T) {
	pod := func(cpu string, sel map[string]string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: sel, Containers: []corev1.Container{{
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}}}
	}
	bound := func(node, cpu string) *corev1.Pod { // a pod already on node
		p := pod(cpu, nil)
		p.Spec.NodeName = node
		return p
	}
	notReady := readyNode("down", "8")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	cordoned := readyNode("cordoned", "8")
	cordoned.Spec.Unschedulable = true
	labelled := readyNode("ssd", "1")
	labelled.Labels = map[string]string{"disk": "ssd"}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		nodes   []*corev1.Node
		pods    []*corev1.Pod
		want    string
		wantErr string
	}{
		{"fits", pod("500m", nil), []*corev1.Node{readyNode("n1", "1")}, nil, "n1", ""},
		{"least allocated wins", pod("100m", nil), []*corev1.Node{readyNode("a", "2"), readyNode("b", "2")}, []*corev1.Pod{bound("a", "1")}, "b", ""},
		{"insufficient cpu", pod("600m", nil), []*corev1.Node{readyNode("n1", "1")}, []*corev1.Pod{bound("n1", "500m")}, "",
			"0/1 nodes are available: 1 Insufficient cpu."},
		{"not ready and cordoned", pod("1", nil), []*corev1.Node{notReady, cordoned}, nil, "",
			"0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable."},
		{"node selector", pod("100m", map[string]string{"disk": "ssd"}), []*corev1.Node{readyNode("n1", "4"), labelled}, nil, "ssd", ""},
		{"no nodes", pod("1", nil), nil, nil, "", "0/0 nodes are available: no nodes registered."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FitScheduler{}.Schedule(tt.pod, NewNodeInfos(tt.nodes, tt.pods))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff([]string{tt.want, tt.wantErr}, []string{got, gotErr}); diff != "" {
				t.Errorf("Schedule (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnschedulablePodStaysPending(t *testing.T) {
	ids := &seqIDs{}
	d := deployment("big", 1, "x")
	d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("64")
	w := Plan(Snapshot{Deployments: []*appsv1.Deployment{d}, Nodes: []*corev1.Node{readyNode("n1", "2")}}, t0, ids, FitScheduler{})
	var pod *corev1.Pod
	for _, o := range w.Puts {
		if p, ok := o.(*corev1.Pod); ok {
			pod = p
		}
	}
	if pod == nil {
		t.Fatal("no pod created")
	}
	if pod.Spec.NodeName != "" {
		t.Errorf("pod bound to %s, want unbound", pod.Spec.NodeName)
	}
	want := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/1 nodes are available: 1 Insufficient cpu.", LastTransitionTime: metav1.NewTime(t0)}
	if diff := cmp.Diff([]corev1.PodCondition{want}, pod.Status.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}

func TestTemplateHashStable(t *testing.T) {
	a := deployment("web", 1, "img:1").Spec.Template
	b := deployment("web", 3, "img:1").Spec.Template
	c := deployment("web", 1, "img:2").Spec.Template
	if TemplateHash(&a) != TemplateHash(&b) {
		t.Error("replicas changed the template hash")
	}
	if TemplateHash(&a) == TemplateHash(&c) {
		t.Error("image change kept the template hash")
	}
	h := TemplateHash(&a)
	for _, r := range h {
		if strings.ContainsRune("aeiou", r) {
			t.Errorf("hash %q has a vowel; k8s safe encoding has none", h)
		}
	}
}
