package proxy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// goalPolicyUpdate is tug's goal for one pod's label change reaching the
// kernel at 1,000 pods and 100 policies: the same budget as one endpoint
// change at 10,000 services.
const goalPolicyUpdate = 10 * time.Millisecond

// syntheticPolicies returns 1,000 pods in 10 namespaces (labels app=app0…19)
// and 100 policies: each selects one app of its namespace and admits
// another app of the namespace on a port, plus one namespace by label on a
// named port.
func syntheticPolicies() ([]*networkingv1.NetworkPolicy, []*corev1.Pod, []*corev1.Namespace) {
	var namespaces []*corev1.Namespace
	var pods []*corev1.Pod
	var policies []*networkingv1.NetworkPolicy
	for n := range 10 {
		ns := fmt.Sprintf("ns%d", n)
		namespaces = append(namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": fmt.Sprint(n % 3)}}})
		for i := range 100 {
			k := n*100 + i
			pods = append(pods, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i), Labels: map[string]string{"app": fmt.Sprintf("app%d", i%20)}},
				Spec: corev1.PodSpec{NodeName: fmt.Sprintf("n%d", k%4), Containers: []corev1.Container{{Name: "c",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: netip.AddrFrom4([4]byte{10, 42, byte(k / 250), byte(1 + k%250)}).String()},
			})
		}
		for j := range 10 {
			port := intstr.FromInt32(int32(8000 + j))
			named := intstr.FromString("http")
			policies = append(policies, &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("np%d", j)},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app%d", j)}},
					Ingress: []networkingv1.NetworkPolicyIngressRule{
						{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app%d", 10+j)}}}},
							Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}},
						{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprint(j % 3)}}}},
							Ports: []networkingv1.NetworkPolicyPort{{Port: &named}}},
					},
				},
			})
		}
	}
	return policies, pods, namespaces
}

// BenchmarkPolicyLabelChange measures one pod's label change with 1,000
// pods and 100 policies programmed, from the objects to the kernel:
// compile, diff, one batch of set elements.
func BenchmarkPolicyLabelChange(b *testing.B) {
	a := benchApplier(b)
	policies, pods, namespaces := syntheticPolicies()
	apply := func() {
		rs := Render(serviceCIDR, nil, nil)
		rs.Policy = CompilePolicies("n0", policies, pods, namespaces)
		if err := a.Apply(rs); err != nil {
			b.Fatal(err)
		}
	}
	apply()
	sets := len(a.policy.sets)
	pod := pods[123] // ns1/p23: app3 ↔ app13
	orig := pod.Labels
	moved := map[string]string{"app": "app13"}
	var compile time.Duration
	i := 0
	for b.Loop() {
		if i++; i%2 == 1 {
			pod.Labels = moved
		} else {
			pod.Labels = orig
		}
		start := time.Now()
		CompilePolicies("n0", policies, pods, namespaces)
		compile += time.Since(start)
		apply()
	}
	per := (b.Elapsed() - compile) / time.Duration(b.N) // apply() compiles too: count it once
	b.ReportMetric(float64((compile/time.Duration(b.N)).Microseconds())/1000, "compile-ms")
	b.Logf("%d pods, %d policies, %d sets, %d ingress rules", len(pods), len(policies), sets, len(a.policy.ingress))
	report(b, "one pod label change at 1,000 pods / 100 policies", per, 0, goalPolicyUpdate)
}
