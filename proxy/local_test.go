package proxy

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestExternalTrafficPolicyLocalIntegration programs a Local NodePort
// service on node n1 whose endpoints are pod0 (on n1) and pod1 (labelled as
// on n2): its node port reaches pod0 only and keeps the client's address;
// its cluster IP still reaches both.
func TestExternalTrafficPolicyLocalIntegration(t *testing.T) {
	n := newTestNode(t, 2)
	n.serve(0, 8080)
	n.serve(1, 8080)
	svc := local(service("default", "web", "NodePort", "10.43.0.30", port("", "", 80, 8080, 30100)))
	eps := func(ips []string, nodes ...string) []*corev1.Endpoints {
		return []*corev1.Endpoints{endpoints("default", "web", onNode(subset(ips, epPort("", "", 8080)), nodes...))}
	}
	apply := func(eps []*corev1.Endpoints) {
		t.Helper()
		if err := n.applier.Apply(RenderNode(serviceCIDR, "n1", []*corev1.Service{svc}, eps)); err != nil {
			t.Fatal(err)
		}
	}
	apply(eps([]string{podAddr(0), podAddr(1)}, "n1", "n2"))

	out := n.run(n.node, "nft", "list", "chain", "ip", TableName, "lnpdnat_1")
	if !strings.Contains(out, "numgen random mod 1 map @nodeport-endpoints") || strings.Contains(out, "meta mark") {
		t.Errorf("chain lnpdnat_1 should DNAT without the masquerade mark:\n%s", out)
	}
	for range 40 {
		pod, remote, err := ask(n.client, nodeAddr+":30100")
		if err != nil {
			t.Fatal(err)
		}
		if pod != "pod0" || remote != clientAddr {
			t.Fatalf("Local node port answered by %s seeing client %s, want pod0 (on this node) seeing %s (not masqueraded)", pod, remote, clientAddr)
		}
	}
	seen := map[string]bool{}
	for range 60 {
		pod, _, err := ask(n.client, "10.43.0.30:80")
		if err != nil {
			t.Fatal(err)
		}
		seen[pod] = true
	}
	if !seen["pod0"] || !seen["pod1"] {
		t.Errorf("cluster IP of a Local service answered from %v, want both pods", seen)
	}

	// Only the remote endpoint left: the node port refuses, the cluster IP
	// still answers.
	apply(eps([]string{podAddr(1)}, "n2"))
	if _, _, err := ask(n.client, nodeAddr+":30100"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Local node port with no endpoint on this node: err = %v, want connection refused", err)
	}
	if pod, _, err := ask(n.client, "10.43.0.30:80"); err != nil || pod != "pod1" {
		t.Errorf("cluster IP with pod1 only: answer %q, %v; want pod1", pod, err)
	}

	// Back to Cluster: the node port masquerades and reaches both again.
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	apply(eps([]string{podAddr(0), podAddr(1)}, "n1", "n2"))
	seen = map[string]bool{}
	for range 40 {
		pod, remote, err := ask(n.client, nodeAddr+":30100")
		if err != nil {
			t.Fatal(err)
		}
		if remote != podGateway {
			t.Fatalf("Cluster node port: pod saw %s, want masqueraded to %s", remote, podGateway)
		}
		seen[pod] = true
	}
	if len(seen) != 2 {
		t.Errorf("Cluster node port answered from %v, want both pods", seen)
	}
}
