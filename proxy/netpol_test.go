package proxy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The truth-table cluster: namespaces a, b, c (label team=<ns>), pods x, y,
// z in each (label pod=<name>), every pod serving ports 80 ("http") and 81
// ("alt"). Pod i (a/x, a/y, a/z, b/x, …) has address 10.42.0.(10+i).
var (
	ttNamespaces = []string{"a", "b", "c"}
	ttPodNames   = []string{"x", "y", "z"}
	ttPorts      = []uint16{80, 81}
)

type ttPod struct{ ns, name string }

func (p ttPod) String() string { return p.ns + "/" + p.name }

func ttPods() []ttPod {
	var out []ttPod
	for _, ns := range ttNamespaces {
		for _, n := range ttPodNames {
			out = append(out, ttPod{ns, n})
		}
	}
	return out
}

func ttAddr(p ttPod) netip.Addr {
	i := slices.Index(ttPods(), p)
	return netip.AddrFrom4([4]byte{10, 42, 0, byte(10 + i)})
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func ttObjects(node string) ([]*corev1.Pod, []*corev1.Namespace) {
	var pods []*corev1.Pod
	var namespaces []*corev1.Namespace
	for _, ns := range ttNamespaces {
		namespaces = append(namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}})
	}
	for _, p := range ttPods() {
		pods = append(pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, Labels: map[string]string{"pod": p.name}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: 80}, {Name: "alt", ContainerPort: 81}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ttAddr(p).String()},
		})
	}
	return pods, namespaces
}

// ttScenario is one row of the truth table: policies (YAML) and
// which connections they allow.
type ttScenario struct {
	name     string
	policies string
	allowed  func(src, dst ttPod, port uint16) bool
}

// ttScenarios: default-deny, allow-by-pod, allow-by-namespace, ipBlock
// with except and an egress rule, each applied alone.
var ttScenarios = []ttScenario{
	{
		name: "default-deny",
		policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`,
		allowed: func(src, dst ttPod, port uint16) bool { return dst.ns != "b" },
	},
	{
		name: "allow-by-pod",
		policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-from-y, namespace: a}
spec:
  podSelector: {matchLabels: {pod: "x"}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: "y"}}}]
    ports: [{port: 80}]
`,
		allowed: func(src, dst ttPod, port uint16) bool {
			return dst != ttPod{"a", "x"} || src == ttPod{"a", "y"} && port == 80
		},
	},
	{
		name: "allow-by-namespace",
		policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-a, namespace: c}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
    - namespaceSelector: {matchLabels: {team: b}}
      podSelector: {matchLabels: {pod: "x"}}
    ports: [{port: alt}]
`,
		allowed: func(src, dst ttPod, port uint16) bool {
			return dst.ns != "c" || port == 81 && (src.ns == "a" || src == ttPod{"b", "x"})
		},
	},
	{
		name: "ipblock",
		policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: block, namespace: a}
spec:
  podSelector: {matchLabels: {pod: "z"}}
  ingress:
  - from: [{ipBlock: {cidr: 10.42.0.0/24, except: [10.42.0.13/32]}}]
    ports: [{protocol: TCP, port: 79, endPort: 80}]
`,
		allowed: func(src, dst ttPod, port uint16) bool {
			return dst != ttPod{"a", "z"} || src != ttPod{"b", "x"} && port == 80
		},
	},
	{
		name: "egress",
		policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-to-c, namespace: b}
spec:
  podSelector: {matchLabels: {pod: "y"}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: c}}}]
    ports: [{port: http}]
`,
		allowed: func(src, dst ttPod, port uint16) bool {
			return src != ttPod{"b", "y"} || dst.ns == "c" && port == 80
		},
	},
}

func (s ttScenario) decode(t testing.TB) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, doc := range splitYAML(s.policies) {
		np := &networkingv1.NetworkPolicy{}
		if err := yaml.UnmarshalStrict([]byte(doc), np); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		out = append(out, np)
	}
	return out
}

func splitYAML(s string) []string {
	var docs []string
	for _, d := range slices.Collect(func(yield func(string) bool) {
		start := 0
		for i := 0; i+4 <= len(s); i++ {
			if s[i:i+4] == "\n---" {
				if !yield(s[start:i]) {
					return
				}
				start = i + 4
			}
		}
		yield(s[start:])
	}) {
		if len(d) > 1 {
			docs = append(docs, d)
		}
	}
	return docs
}

// evalPolicy interprets pr for one TCP connection, as the kernel runs
// policy-forward on its first packet.
func evalPolicy(pr *PolicyRules, src, dst netip.Addr, proto Protocol, port uint16) bool {
	sets := map[string]PolicySet{}
	for _, s := range pr.Sets {
		sets[s.Name] = s
	}
	in := func(set string, e PolicyElem) bool {
		_, ok := slices.BinarySearchFunc(sets[set].Elems, e, comparePolicyElems)
		return ok
	}
	match := func(r PolicyRule, self, peer netip.Addr) bool {
		if !in(r.Targets, PolicyElem{Addr: self}) {
			return false
		}
		switch {
		case r.Peers != "" && !in(r.Peers, PolicyElem{Addr: peer}):
			return false
		case r.CIDR.IsValid():
			if !r.CIDR.Contains(peer) || slices.ContainsFunc(r.Except, func(e netip.Prefix) bool { return e.Contains(peer) }) {
				return false
			}
		}
		if r.Proto != 0 && r.Proto != proto {
			return false
		}
		switch {
		case r.PortSet != "":
			return in(r.PortSet, PolicyElem{Addr: dst, Proto: proto, Port: port})
		case r.Port != 0:
			return port >= r.Port && port <= r.EndPort
		}
		return true
	}
	if in(SetEgressIsolated, PolicyElem{Addr: src}) && !slices.ContainsFunc(pr.Egress, func(r PolicyRule) bool { return match(r, src, dst) }) {
		return false
	}
	if in(SetIngressIsolated, PolicyElem{Addr: dst}) && !slices.ContainsFunc(pr.Ingress, func(r PolicyRule) bool { return match(r, dst, src) }) {
		return false
	}
	return true
}

// TestCompilePoliciesTruthTable checks every cell of every scenario
// against the compiled rules, interpreted.
func TestCompilePoliciesTruthTable(t *testing.T) {
	pods, namespaces := ttObjects("n1")
	for _, s := range ttScenarios {
		t.Run(s.name, func(t *testing.T) {
			pr := CompilePolicies("n1", s.decode(t), pods, namespaces)
			var wrong []string
			for _, src := range ttPods() {
				for _, dst := range ttPods() {
					for _, port := range ttPorts {
						want := src == dst || s.allowed(src, dst, port)
						if got := src == dst || evalPolicy(pr, ttAddr(src), ttAddr(dst), TCP, port); got != want {
							wrong = append(wrong, fmt.Sprintf("%s → %s:%d allowed=%v, want %v", src, dst, port, got, want))
						}
					}
				}
			}
			if len(wrong) > 0 {
				t.Errorf("%d wrong cells:\n%s\nrules:\n%s", len(wrong), wrong, pr.Text())
			}
		})
	}
}

func TestCompilePolicies(t *testing.T) {
	pods, namespaces := ttObjects("n1")
	pods[1].Spec.NodeName = "n2"                                      // a/y elsewhere: in peer sets, not isolated here
	pods[2].Status.PodIP = ""                                         // a/z has no address yet
	pods[3].Spec.HostNetwork = true                                   // b/x on the host network
	pods[4].Spec.Containers[0].Ports[0].ContainerPort = 8080          // b/y serves "http" on 8080
	pods[5].Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolUDP // b/z: "http" is UDP
	tcp := corev1.ProtocolTCP
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "np"},
		Spec: networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr(intstr.FromString("http"))},
					{Port: ptr(intstr.FromString("http"))}}, // the same again: one rule
			}},
		},
	}
	pr := CompilePolicies("n1", []*networkingv1.NetworkPolicy{np}, pods, namespaces)
	sets := map[string][]PolicyElem{}
	for _, s := range pr.Sets {
		sets[s.Key] = s.Elems
	}
	e := func(ip string) PolicyElem { return PolicyElem{Addr: netip.MustParseAddr(ip)} }
	n := func(ip string, port uint16) PolicyElem {
		return PolicyElem{Addr: netip.MustParseAddr(ip), Proto: TCP, Port: port}
	}
	want := map[string][]PolicyElem{
		SetEgressIsolated:  nil,
		SetIngressIsolated: {e("10.42.0.10")},
		"a/":               {e("10.42.0.10"), e("10.42.0.11")},
		"{}/":              {e("10.42.0.10"), e("10.42.0.11"), e("10.42.0.14"), e("10.42.0.15"), e("10.42.0.16"), e("10.42.0.17"), e("10.42.0.18")},
		"tcp/http":         {n("10.42.0.10", 80), n("10.42.0.11", 80), n("10.42.0.14", 8080), n("10.42.0.16", 80), n("10.42.0.17", 80), n("10.42.0.18", 80)},
	}
	if diff := cmp.Diff(want, sets, addrCmp); diff != "" {
		t.Errorf("sets by key (-want +got):\n%s", diff)
	}
	if len(pr.Ingress) != 1 || len(pr.Egress) != 0 {
		t.Errorf("rules: ingress %v, egress %v; want one ingress rule", pr.Ingress, pr.Egress)
	}
}

// TestCompilePoliciesMetadataName: every namespace carries
// kubernetes.io/metadata.name, also without a Namespace object.
func TestCompilePoliciesMetadataName(t *testing.T) {
	pods, _ := ttObjects("n1")
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "np"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "b"}}}},
		}}},
	}
	pr := CompilePolicies("n1", []*networkingv1.NetworkPolicy{np}, pods, nil)
	for _, src := range ttPods() {
		want := src.ns == "b"
		if got := evalPolicy(pr, ttAddr(src), ttAddr(ttPod{"a", "x"}), TCP, 80); got != want {
			t.Errorf("%s → a/x allowed=%v, want %v", src, got, want)
		}
	}
}

func TestPolicyTrackerDiff(t *testing.T) {
	pods, namespaces := ttObjects("n1")
	policies := ttScenarios[2].decode(t) // allow-by-namespace
	tr := newPolicyTracker()
	first := tr.Diff(CompilePolicies("n1", policies, pods, namespaces))
	if len(first.AddSets) != 6 || !first.Rules || len(first.DelSets) != 0 {
		t.Fatalf("first diff: %d sets added, rules %v, %v deleted; want 6 sets and rules", len(first.AddSets), first.Rules, first.DelSets)
	}
	if ch := tr.Diff(CompilePolicies("n1", policies, pods, namespaces)); !ch.Empty() {
		t.Errorf("same input again: %+v, want no change", ch)
	}
	// b/y takes pod=x's label: it joins the combined selector's set only.
	pods[4].Labels = map[string]string{"pod": "x"}
	ch := tr.Diff(CompilePolicies("n1", policies, pods, namespaces))
	want := PolicyChange{AddElems: []PolicySet{{Name: ch.AddElems[0].Name, Elems: []PolicyElem{{Addr: netip.MustParseAddr("10.42.0.14")}}}}}
	if diff := cmp.Diff(want, ch, addrCmp); diff != "" {
		t.Errorf("label change (-want +got):\n%s", diff)
	}
	// No policy: the selector and port sets go, the rules are emptied.
	ch = tr.Diff(CompilePolicies("n1", nil, pods, namespaces))
	if !ch.Rules || len(ch.DelSets) != 4 || len(ch.DelElems) != 1 || len(ch.AddSets) != 0 {
		t.Errorf("policies removed: %+v; want rules rewritten, 4 sets deleted, c's pods no longer isolated", ch)
	}
}

func TestPolicyGolden(t *testing.T) {
	pods, namespaces := ttObjects("n1")
	for _, s := range ttScenarios {
		t.Run(s.name, func(t *testing.T) {
			rs := Render(serviceCIDR, nil, nil)
			rs.Policy = CompilePolicies("n1", s.decode(t), pods, namespaces)
			got := rs.Policy.Text()
			path := filepath.Join("testdata", "netpol-"+s.name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}
