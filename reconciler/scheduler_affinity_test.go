package reconciler

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const zoneKey = "topology.kubernetes.io/zone"

// zoneNode is a ready 4-cpu node labelled with its hostname and, unless
// empty, a zone.
func zoneNode(name, zone string, fns ...func(*corev1.Node)) *corev1.Node {
	n := readyNode(name, "4")
	n.Labels = map[string]string{"kubernetes.io/hostname": name}
	if zone != "" {
		n.Labels[zoneKey] = zone
	}
	for _, fn := range fns {
		fn(n)
	}
	return n
}

// schedPod is a pod requesting 100m cpu in namespace default with labels
// app=app.
func schedPod(name, app string, fns ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
	for _, fn := range fns {
		fn(p)
	}
	return p
}

func on(node string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
func inNS(ns string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Namespace = ns } }

func appSel(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func term(app, key string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{LabelSelector: appSel(app), TopologyKey: key}
}

func withAffinity(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withAnti(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withSpread(c corev1.TopologySpreadConstraint) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if c.LabelSelector == nil {
			c.LabelSelector = appSel(p.Labels["app"])
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
	}
}

func zoneSpread(maxSkew int32, when corev1.UnsatisfiableConstraintAction) corev1.TopologySpreadConstraint {
	return corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: zoneKey, WhenUnsatisfiable: when}
}

type schedCase struct {
	name       string
	pod        *corev1.Pod
	nodes      []*corev1.Node
	bound      []*corev1.Pod
	namespaces []*corev1.Namespace
	want       []string // any of these
	wantErr    string   // the whole message
}

func runSchedCases(t *testing.T, tests []schedCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := NewNodeInfos(tt.nodes, tt.bound)
			SetNamespaces(nodes, tt.namespaces)
			got, err := FitScheduler{}.Schedule(tt.pod, nodes)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr || tt.wantErr == "" && !slices.Contains(tt.want, got) {
				t.Errorf("Schedule = %q, %q; want one of %q, error %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSchedulerPodAffinityFilters(t *testing.T) {
	three := []*corev1.Node{zoneNode("a", "z1"), zoneNode("b", "z1"), zoneNode("c", "z2")}
	runSchedCases(t, []schedCase{
		{name: "affinity to a zone with a matching pod", pod: schedPod("p", "web", withAffinity(term("db", zoneKey))),
			nodes: three, bound: []*corev1.Pod{schedPod("db", "db", on("a"))}, want: []string{"a", "b"}},
		{name: "affinity to the same node", pod: schedPod("p", "web", withAffinity(term("db", "kubernetes.io/hostname"))),
			nodes: three, bound: []*corev1.Pod{schedPod("db", "db", on("c"))}, want: []string{"c"}},
		{name: "affinity with no match anywhere", pod: schedPod("p", "web", withAffinity(term("db", zoneKey))), nodes: three,
			wantErr: "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."},
		{name: "the first pod of a group with affinity to itself goes anywhere", pod: schedPod("p", "web", withAffinity(term("web", zoneKey))),
			nodes: three, want: []string{"a", "b", "c"}},
		{name: "affinity needs the topology label on the node", pod: schedPod("p", "web", withAffinity(term("db", zoneKey))),
			nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("x", "")}, bound: []*corev1.Pod{schedPod("db", "db", on("a"))}, want: []string{"a"}},
		{name: "anti-affinity by hostname", pod: schedPod("p", "web", withAnti(term("web", "kubernetes.io/hostname"))),
			nodes: three[:2], bound: []*corev1.Pod{schedPod("w1", "web", on("a"))}, want: []string{"b"}},
		{name: "anti-affinity by zone", pod: schedPod("p", "web", withAnti(term("web", zoneKey))),
			nodes: three, bound: []*corev1.Pod{schedPod("w1", "web", on("a"))}, want: []string{"c"}},
		{name: "anti-affinity everywhere", pod: schedPod("p", "web", withAnti(term("web", zoneKey))),
			nodes: three, bound: []*corev1.Pod{schedPod("w1", "web", on("a")), schedPod("w2", "web", on("c"))},
			wantErr: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."},
		{name: "an existing pod's anti-affinity keeps the incoming pod away", pod: schedPod("p", "web"),
			nodes: three[:2], bound: []*corev1.Pod{schedPod("db", "db", on("a"), withAnti(term("web", "kubernetes.io/hostname")))}, want: []string{"b"}},
		{name: "existing anti-affinity counts once per node, under its own reason", pod: schedPod("p", "web"),
			nodes: three, bound: []*corev1.Pod{schedPod("db", "db", on("a"), withAnti(term("web", zoneKey))), schedPod("db2", "db", on("c"), withAnti(term("web", zoneKey)))},
			wantErr: "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."},
		{name: "a term without namespaces looks in the pod's own namespace", pod: schedPod("p", "web", withAnti(term("web", "kubernetes.io/hostname"))),
			nodes: three[:1], bound: []*corev1.Pod{schedPod("w1", "web", on("a"), inNS("other"))}, want: []string{"a"}},
		{name: "namespaces list", pod: schedPod("p", "web", withAnti(func() corev1.PodAffinityTerm {
			t := term("web", "kubernetes.io/hostname")
			t.Namespaces = []string{"other"}
			return t
		}())), nodes: three[:2], bound: []*corev1.Pod{schedPod("w1", "web", on("a")), schedPod("w2", "web", on("b"), inNS("other"))}, want: []string{"a"}},
		{name: "namespaceSelector", pod: schedPod("p", "web", withAnti(func() corev1.PodAffinityTerm {
			t := term("web", "kubernetes.io/hostname")
			t.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "blue"}}
			return t
		}())), nodes: three[:2],
			namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "blue", Labels: map[string]string{"team": "blue"}}}, {ObjectMeta: metav1.ObjectMeta{Name: "default"}}},
			bound:      []*corev1.Pod{schedPod("w1", "web", on("a")), schedPod("w2", "web", on("b"), inNS("blue"))}, want: []string{"a"}},
		{name: "empty namespaceSelector matches every namespace", pod: schedPod("p", "web", withAnti(func() corev1.PodAffinityTerm {
			t := term("web", "kubernetes.io/hostname")
			t.NamespaceSelector = &metav1.LabelSelector{}
			return t
		}())), nodes: three[:2], bound: []*corev1.Pod{schedPod("w1", "web", on("a"), inNS("x")), schedPod("w2", "web", on("b"), inNS("y"))},
			wantErr: "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."},
	})
}

func TestSchedulerTopologySpreadFilter(t *testing.T) {
	three := []*corev1.Node{zoneNode("a", "z1"), zoneNode("b", "z1"), zoneNode("c", "z2")}
	web := func(name, node string) *corev1.Pod { return schedPod(name, "web", on(node)) }
	hard := zoneSpread(1, corev1.DoNotSchedule)
	ssd := func(n *corev1.Node) { n.Labels["disk"] = "ssd" }
	onSSD := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }
	runSchedCases(t, []schedCase{
		{name: "maxSkew 1 sends the pod to the emptier zone", pod: schedPod("p", "web", withSpread(hard)),
			nodes: three, bound: []*corev1.Pod{web("w1", "a"), web("w2", "b"), schedPod("x", "other", on("c"), func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
			})}, want: []string{"c"}},
		{name: "maxSkew 2 allows a zone one ahead", pod: schedPod("p", "web", withSpread(zoneSpread(2, corev1.DoNotSchedule))),
			nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2", func(n *corev1.Node) { n.Spec.Unschedulable = true })},
			bound: []*corev1.Pod{web("w1", "a")}, want: []string{"a"}},
		{name: "skew exceeded everywhere", pod: schedPod("p", "web", withSpread(hard)),
			nodes:   []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2", func(n *corev1.Node) { n.Spec.Unschedulable = true })},
			bound:   []*corev1.Pod{web("w1", "a")},
			wantErr: "0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) were unschedulable."},
		{name: "other namespaces and other apps do not count", pod: schedPod("p", "web", withSpread(hard)),
			nodes: three, bound: []*corev1.Pod{schedPod("w1", "web", on("c"), inNS("other")), schedPod("db", "db", on("c"))}, want: []string{"a", "b", "c"}},
		{name: "a node without the key", pod: schedPod("p", "web", withSpread(hard)), nodes: []*corev1.Node{zoneNode("x", "")},
			wantErr: "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."},
		{name: "minDomains above the domains there are makes the minimum 0", pod: schedPod("p", "web", withSpread(func() corev1.TopologySpreadConstraint {
			c := hard
			c.MinDomains = ptr.To[int32](3)
			return c
		}())), nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2")}, bound: []*corev1.Pod{web("w1", "a"), web("w2", "c")},
			wantErr: "0/2 nodes are available: 2 node(s) didn't match pod topology spread constraints."},
		{name: "nodeAffinityPolicy Honor counts only the nodes the pod may go to", pod: schedPod("p", "web", withSpread(hard), onSSD),
			nodes: []*corev1.Node{zoneNode("a", "z1", ssd), zoneNode("c", "z2")}, bound: []*corev1.Pod{web("w1", "a")}, want: []string{"a"}},
		{name: "nodeAffinityPolicy Ignore counts every node", pod: schedPod("p", "web", withSpread(func() corev1.TopologySpreadConstraint {
			c := hard
			c.NodeAffinityPolicy = ptr.To(corev1.NodeInclusionPolicyIgnore)
			return c
		}()), onSSD), nodes: []*corev1.Node{zoneNode("a", "z1", ssd), zoneNode("c", "z2")}, bound: []*corev1.Pod{web("w1", "a")},
			wantErr: "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod topology spread constraints."},
		{name: "nodeTaintsPolicy Honor leaves out tainted nodes", pod: schedPod("p", "web", withSpread(func() corev1.TopologySpreadConstraint {
			c := hard
			c.NodeTaintsPolicy = ptr.To(corev1.NodeInclusionPolicyHonor)
			return c
		}())), nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		})}, bound: []*corev1.Pod{web("w1", "a")}, want: []string{"a"}},
		{name: "nodeTaintsPolicy Ignore (the default) counts tainted nodes", pod: schedPod("p", "web", withSpread(hard)),
			nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2", func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			})}, bound: []*corev1.Pod{web("w1", "a")},
			wantErr: "0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {gpu: }."},
		{name: "terminating pods do not count", pod: schedPod("p", "web", withSpread(hard)),
			nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("c", "z2", func(n *corev1.Node) { n.Spec.Unschedulable = true })},
			bound: []*corev1.Pod{schedPod("w1", "web", on("a"), func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) })}, want: []string{"a"}},
	})
}

func TestSchedulerResourceFilters(t *testing.T) {
	withEphemeral := func(q string) func(*corev1.Node) {
		return func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceEphemeralStorage] = resource.MustParse(q) }
	}
	wantsDisk := func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("2Gi")
	}
	runSchedCases(t, []schedCase{
		{name: "ephemeral-storage against allocatable", pod: schedPod("p", "web", wantsDisk),
			nodes: []*corev1.Node{zoneNode("a", "", withEphemeral("1Gi")), zoneNode("b", "", withEphemeral("10Gi"))}, want: []string{"b"}},
		{name: "ephemeral-storage on a node that does not report it", pod: schedPod("p", "web", wantsDisk), nodes: []*corev1.Node{zoneNode("a", "")},
			wantErr: "0/1 nodes are available: 1 Insufficient ephemeral-storage."},
		{name: "pod count", pod: schedPod("p", "web"), nodes: []*corev1.Node{zoneNode("a", "", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1")
		})}, bound: []*corev1.Pod{schedPod("x", "x", on("a"))}, wantErr: "0/1 nodes are available: 1 Too many pods."},
		{name: "a node counts under its first failing filter only", pod: schedPod("p", "web", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("8")
		}), nodes: []*corev1.Node{zoneNode("a", ""), zoneNode("b", ""), zoneNode("c", "", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node-role/x", Effect: corev1.TaintEffectNoSchedule}}
		})}, wantErr: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role/x: }, 2 Insufficient cpu."},
	})
}

func TestSchedulerScores(t *testing.T) {
	two := []*corev1.Node{zoneNode("a", "z1"), zoneNode("b", "z2")}
	weighted := func(w int32, t corev1.PodAffinityTerm) []corev1.WeightedPodAffinityTerm {
		return []corev1.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}
	}
	prefer := func(p *corev1.Pod) *corev1.Affinity {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		return p.Spec.Affinity
	}
	using := func(name, node, cpu, mem string) *corev1.Pod {
		return schedPod(name, "other", on(node), func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		})
	}
	runSchedCases(t, []schedCase{
		{name: "ties go to the lower name", pod: schedPod("p", "web"), nodes: two, want: []string{"a"}},
		{name: "preferred node affinity", pod: schedPod("p", "web", func(p *corev1.Pod) {
			prefer(p).NodeAffinity = &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: zoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"z2"}}}}}}}
		}), nodes: two, want: []string{"b"}},
		{name: "preferred pod affinity", pod: schedPod("p", "web", func(p *corev1.Pod) {
			prefer(p).PodAffinity = &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(50, term("db", zoneKey))}
		}), nodes: two, bound: []*corev1.Pod{schedPod("db", "db", on("b"))}, want: []string{"b"}},
		{name: "preferred pod anti-affinity", pod: schedPod("p", "web", func(p *corev1.Pod) {
			prefer(p).PodAntiAffinity = &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(50, term("web", zoneKey))}
		}), nodes: two, bound: []*corev1.Pod{schedPod("w1", "web", on("a"))}, want: []string{"b"}},
		{name: "an existing pod's preferred affinity draws the incoming pod", pod: schedPod("p", "web"), nodes: two,
			bound: []*corev1.Pod{schedPod("db", "db", on("b"), func(p *corev1.Pod) {
				prefer(p).PodAffinity = &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(80, term("web", zoneKey))}
			})}, want: []string{"b"}},
		{name: "an existing pod's required affinity draws the incoming pod (hardPodAffinityWeight)", pod: schedPod("p", "web"), nodes: two,
			bound: []*corev1.Pod{schedPod("db", "db", on("b"), withAffinity(term("web", zoneKey)))}, want: []string{"b"}},
		{name: "ScheduleAnyway spread outweighs a fuller node", pod: schedPod("p", "web", withSpread(zoneSpread(1, corev1.ScheduleAnyway))),
			nodes: two, bound: []*corev1.Pod{schedPod("w1", "web", on("a")), using("x", "b", "1", "1Gi")}, want: []string{"b"}},
		{name: "ScheduleAnyway never filters", pod: schedPod("p", "web", withSpread(zoneSpread(1, corev1.ScheduleAnyway))),
			nodes: two[:1], bound: []*corev1.Pod{schedPod("w1", "web", on("a")), schedPod("w2", "web", on("a"))}, want: []string{"a"}},
		{name: "balanced allocation breaks a least-allocated tie", pod: schedPod("p", "web", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
		}), nodes: two, bound: []*corev1.Pod{using("x", "a", "2", "0"), using("y", "b", "1", "1Gi")}, want: []string{"b"}},
		{name: "PreferNoSchedule taints", pod: schedPod("p", "web"), nodes: []*corev1.Node{zoneNode("a", "z1", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}
		}), zoneNode("b", "z2")}, want: []string{"b"}},
		{name: "a tolerated PreferNoSchedule taint", pod: schedPod("p", "web", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "spot", Operator: corev1.TolerationOpExists}}
		}), nodes: []*corev1.Node{zoneNode("a", "z1", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}
		}), zoneNode("b", "z2")}, want: []string{"a"}},
	})
}

// TestBalancedAllocation pins the score to kube-scheduler's formula.
func TestBalancedAllocation(t *testing.T) {
	ni := NewNodeInfos([]*corev1.Node{readyNode("a", "4")}, nil)[0] // 4 cpu, 4Gi
	got := balancedAllocation(ni, Resources{MilliCPU: 2000, Memory: 1 << 30})
	if diff := cmp.Diff(0.875, got); diff != "" { // 1 - |0.5-0.25|/2
		t.Errorf("balancedAllocation (-want +got):\n%s", diff)
	}
}

// TestSchedulerConstraintsWithinOnePass: replicas created and bound in the
// same pass see each other — required anti-affinity by hostname puts one
// per node and leaves the fourth Pending; a DoNotSchedule zone spread of
// maxSkew 1 places 5 replicas 2/2/1 whatever the nodes' sizes.
func TestSchedulerConstraintsWithinOnePass(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		nodes    []*corev1.Node
		spec     func(*corev1.PodSpec)
		want     map[string]int // pods per zone (or node), "" for pending
	}{
		{name: "anti-affinity", replicas: 4, nodes: []*corev1.Node{zoneNode("a", "z1"), zoneNode("b", "z1"), zoneNode("c", "z2")},
			spec: func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
					term("web", "kubernetes.io/hostname")}}}
			}, want: map[string]int{"a": 1, "b": 1, "c": 1, "": 1}},
		{name: "zone spread", replicas: 5, nodes: []*corev1.Node{readyNode("big", "64"), zoneNode("a", "z1"), zoneNode("b", "z2"), zoneNode("c", "z3")},
			spec: func(s *corev1.PodSpec) {
				s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: appSel("web")}}
			}, want: map[string]int{"z1": 2, "z2": 2, "z3": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment("web", tt.replicas, "img:1")
			d.Spec.Template.Spec.Containers[0].Env = nil
			tt.spec(&d.Spec.Template.Spec)
			w := Plan(Snapshot{Deployments: []*appsv1.Deployment{d}, Nodes: tt.nodes}, t0, &seqIDs{}, FitScheduler{})
			zoneOf := map[string]string{}
			for _, n := range tt.nodes {
				zoneOf[n.Name] = n.Labels[zoneKey]
			}
			got := map[string]int{}
			for _, o := range w.Puts {
				if p, ok := o.(*corev1.Pod); ok {
					where := p.Spec.NodeName
					if z := zoneOf[where]; z != "" && tt.name == "zone spread" {
						where = z
					}
					got[where]++
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("placement (-want +got):\n%s", diff)
			}
		})
	}
}
