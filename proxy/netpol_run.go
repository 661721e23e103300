package proxy

import (
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/tug-dev/tug/manifest"
)

// policyKinds are the kinds the policy part is compiled from.
var policyKinds = []string{manifest.KindNetworkPolicy, manifest.KindPod, manifest.KindNamespace}

// compilePolicies lists NetworkPolicies and, when there are any, Pods and
// Namespaces, and compiles this node's policy part. Without policies pod
// churn costs one cheap list.
func (p *Proxy) compilePolicies() (*PolicyRules, error) {
	objs, err := p.cfg.Store.List(manifest.KindNetworkPolicy, "")
	if err != nil {
		return nil, fmt.Errorf("list network policies: %w", err)
	}
	policies := make([]*networkingv1.NetworkPolicy, 0, len(objs))
	for _, o := range objs {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, np)
		}
	}
	if len(policies) == 0 {
		return emptyPolicy(), nil
	}
	objs, err = p.cfg.Store.List(manifest.KindPod, "")
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	objs, err = p.cfg.Store.List(manifest.KindNamespace, "")
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	namespaces := make([]*corev1.Namespace, 0, len(objs))
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok {
			namespaces = append(namespaces, ns)
		}
	}
	return CompilePolicies(p.cfg.NodeName, policies, pods, namespaces), nil
}

// bridgeNFCallIPTables is the per-network-namespace switch (Linux ≥ 5.3)
// that passes IPv4 frames crossing a Linux bridge through the ip family's
// hooks, where policy-forward sits.
const bridgeNFCallIPTables = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// EnableBridgeNetfilter sets net.bridge.bridge-nf-call-iptables=1 in the
// caller's network namespace. It fails when br_netfilter is not loaded
// (no /proc/sys/net/bridge): load it with `modprobe br_netfilter`.
func EnableBridgeNetfilter() error {
	if err := os.WriteFile(bridgeNFCallIPTables, []byte("1\n"), 0o644); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s missing: load the br_netfilter module (modprobe br_netfilter): %w", bridgeNFCallIPTables, err)
		}
		return fmt.Errorf("enable bridge netfilter: %w", err)
	}
	return nil
}
