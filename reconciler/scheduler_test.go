package reconciler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestSchedulerFilters(t *testing.T) {
	pod := func(fn func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		}}}}
		if fn != nil {
			fn(p)
		}
		return p
	}
	node := func(name string, fn func(n *corev1.Node)) *corev1.Node {
		n := readyNode(name, "4")
		n.Labels = map[string]string{"kubernetes.io/hostname": name}
		if fn != nil {
			fn(n)
		}
		return n
	}
	tainted := func(key, value string, effect corev1.TaintEffect) func(n *corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
		}
	}
	labelled := func(k, v string) func(n *corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }
	tolerate := func(tol corev1.Toleration) func(p *corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, tol) }
	}
	affinity := func(terms ...corev1.NodeSelectorTerm) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	hostPortPod := func(ip string, proto corev1.Protocol, port int32) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: proto}}
		}
	}
	boundWith := func(fn func(p *corev1.Pod)) []*corev1.Pod {
		p := pod(fn)
		p.Name, p.Spec.NodeName = "other", "a"
		return []*corev1.Pod{p}
	}

	tests := []struct {
		name    string
		pod     *corev1.Pod
		nodes   []*corev1.Node
		bound   []*corev1.Pod
		want    string
		wantErr string
	}{
		{name: "untolerated taint", pod: pod(nil),
			nodes:   []*corev1.Node{node("a", tainted("dedicated", "db", corev1.TaintEffectNoSchedule)), node("b", tainted("gone", "", corev1.TaintEffectNoExecute))},
			wantErr: "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) had untolerated taint {gone: }."},
		{name: "PreferNoSchedule does not filter", pod: pod(nil), nodes: []*corev1.Node{node("a", tainted("x", "y", corev1.TaintEffectPreferNoSchedule))}, want: "a"},
		{name: "tolerated by Equal", pod: pod(tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule})),
			nodes: []*corev1.Node{node("a", tainted("dedicated", "db", corev1.TaintEffectNoSchedule))}, want: "a"},
		{name: "Equal with another value does not tolerate", pod: pod(tolerate(corev1.Toleration{Key: "dedicated", Value: "web"})),
			nodes: []*corev1.Node{node("a", tainted("dedicated", "db", corev1.TaintEffectNoSchedule))}, wantErr: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}."},
		{name: "Exists without key tolerates everything", pod: pod(tolerate(corev1.Toleration{Operator: corev1.TolerationOpExists})),
			nodes: []*corev1.Node{node("a", tainted("dedicated", "db", corev1.TaintEffectNoExecute))}, want: "a"},
		{name: "toleration for another effect", pod: pod(tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			nodes: []*corev1.Node{node("a", tainted("dedicated", "db", corev1.TaintEffectNoSchedule))}, wantErr: "untolerated taint {dedicated: db}"},
		{name: "affinity In", pod: pod(affinity(expr("zone", corev1.NodeSelectorOpIn, "z2", "z3"))),
			nodes: []*corev1.Node{node("a", labelled("zone", "z1")), node("b", labelled("zone", "z2"))}, want: "b"},
		{name: "affinity NotIn and missing label", pod: pod(affinity(expr("zone", corev1.NodeSelectorOpNotIn, "z1"))),
			nodes: []*corev1.Node{node("a", labelled("zone", "z1")), node("b", nil)}, want: "b"},
		{name: "affinity Exists / DoesNotExist", pod: pod(affinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))),
			nodes: []*corev1.Node{node("a", labelled("gpu", "1")), node("b", nil)}, want: "b"},
		{name: "affinity Gt", pod: pod(affinity(expr("cores", corev1.NodeSelectorOpGt, "8"))),
			nodes: []*corev1.Node{node("a", labelled("cores", "8")), node("b", labelled("cores", "16"))}, want: "b"},
		{name: "affinity terms are ORed, matchFields by name", pod: pod(affinity(expr("zone", corev1.NodeSelectorOpIn, "nowhere"),
			corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}})),
			nodes: []*corev1.Node{node("a", nil), node("b", nil)}, want: "b"},
		{name: "affinity matches nothing", pod: pod(affinity(expr("zone", corev1.NodeSelectorOpIn, "nowhere"))), nodes: []*corev1.Node{node("a", nil)},
			wantErr: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		{name: "host port taken", pod: pod(hostPortPod("", "", 8080)), nodes: []*corev1.Node{node("a", nil)}, bound: boundWith(hostPortPod("", "", 8080)),
			wantErr: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
		{name: "host port taken on every address clashes with one address", pod: pod(hostPortPod("10.0.0.1", "", 8080)), nodes: []*corev1.Node{node("a", nil), node("b", nil)},
			bound: boundWith(hostPortPod("0.0.0.0", "", 8080)), want: "b"},
		{name: "host port on other address or protocol is free", pod: pod(hostPortPod("10.0.0.2", corev1.ProtocolTCP, 8080)), nodes: []*corev1.Node{node("a", nil)},
			bound: boundWith(hostPortPod("10.0.0.1", corev1.ProtocolTCP, 8080)), want: "a"},
		{name: "udp beside tcp", pod: pod(hostPortPod("", corev1.ProtocolUDP, 53)), nodes: []*corev1.Node{node("a", nil)},
			bound: boundWith(hostPortPod("", "", 53)), want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FitScheduler{}.Schedule(tt.pod, NewNodeInfos(tt.nodes, tt.bound))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || tt.wantErr == "" && gotErr != "" || tt.wantErr != "" && !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("Schedule = %q, %q; want %q, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

// TestSchedulerSpreadsReplicas: the replicas of one Deployment land on
// different nodes even where one node is emptier.
func TestSchedulerSpreadsReplicas(t *testing.T) {
	ids := &seqIDs{}
	d := deployment("web", 3, "img:1")
	d.Spec.Template.Spec.Containers[0].Env = nil
	s := Snapshot{
		Deployments: []*appsv1.Deployment{d},
		Nodes:       []*corev1.Node{readyNode("a", "8"), readyNode("b", "4"), readyNode("c", "4")},
	}
	s = converge(t, s, ids)
	got := map[string]int{}
	for _, p := range s.Pods {
		got[p.Spec.NodeName]++
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1}, got); diff != "" {
		t.Errorf("pods per node (-want +got):\n%s", diff)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for _, tt := range []struct{ all, want int }{{10, 10}, {100, 100}, {1000, 420}, {5000, 500}, {6000, 300}, {20000, 1000}} {
		if got := numFeasibleNodesToFind(tt.all); got != tt.want {
			t.Errorf("numFeasibleNodesToFind(%d) = %d, want %d", tt.all, got, tt.want)
		}
	}
}

// TestSchedulerLargeCluster: in 5,000 nodes where only the last 10 fit, the
// search goes on until it finds them.
func TestSchedulerLargeCluster(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 5000; i++ {
		n := readyNode(fmt.Sprintf("n%04d", i), "4")
		if i < 4990 {
			n.Spec.Unschedulable = true
		}
		nodes = append(nodes, n)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1)}}
	got, err := FitScheduler{}.Schedule(p, NewNodeInfos(nodes, nil))
	if err != nil || got < "n4990" {
		t.Errorf("Schedule = %q, %v; want one of the last 10 nodes", got, err)
	}
}
