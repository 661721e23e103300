package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	corev1 "k8s.io/api/core/v1"
)

// The truth-table cluster: namespaces a, b, c (label team=<ns>), one
// Deployment per pod x, y, z in each (pod label pod=<name>), every pod two
// hello containers serving 8080 ("http") and 8081 ("alt").
var (
	npNamespaces = []string{"a", "b", "c"}
	npPodNames   = []string{"x", "y", "z"}
	npPorts      = []int{8080, 8081}
)

type npPod struct{ ns, name string }

func (p npPod) String() string { return p.ns + "/" + p.name }

func npPods() []npPod {
	var out []npPod
	for _, ns := range npNamespaces {
		for _, n := range npPodNames {
			out = append(out, npPod{ns, n})
		}
	}
	return out
}

func npManifests() string {
	var b strings.Builder
	for _, ns := range npNamespaces {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {team: %s}\n---\n", ns, ns)
	}
	for _, p := range npPods() {
		fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: "%[2]s", namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {pod: "%[2]s"}}
  template:
    metadata: {labels: {pod: "%[2]s"}}
    spec:
      containers:
      - name: http
        image: tug.local/hello:v1
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        env: [{name: PORT, value: "8080"}]
      - name: alt
        image: tug.local/hello:v1
        imagePullPolicy: IfNotPresent
        ports: [{name: alt, containerPort: 8081}]
        env: [{name: PORT, value: "8081"}]
---
`, p.ns, p.name)
	}
	return b.String()
}

// npScenario is one row of the truth table: the policies committed
// (ipOf gives pod addresses, for ipBlock) and the connections they allow.
type npScenario struct {
	name     string
	policies func(ipOf func(npPod) string) string
	allowed  func(src, dst npPod, port int) bool
}

var npScenarios = []npScenario{
	{
		name: "default-deny",
		policies: func(func(npPod) string) string {
			return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`
		},
		allowed: func(src, dst npPod, port int) bool { return dst.ns != "b" },
	},
	{
		name: "allow-by-pod",
		policies: func(func(npPod) string) string {
			return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-from-y, namespace: a}
spec:
  podSelector: {matchLabels: {pod: "x"}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: "y"}}}]
    ports: [{port: 8080}]
`
		},
		allowed: func(src, dst npPod, port int) bool {
			return dst != npPod{"a", "x"} || src == npPod{"a", "y"} && port == 8080
		},
	},
	{
		name: "allow-by-namespace",
		policies: func(func(npPod) string) string {
			return `apiVersion: networking.k8s.io/v1
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
`
		},
		allowed: func(src, dst npPod, port int) bool {
			return dst.ns != "c" || port == 8081 && (src.ns == "a" || src == npPod{"b", "x"})
		},
	},
	{
		name: "ipblock",
		policies: func(ipOf func(npPod) string) string {
			return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: block, namespace: a}
spec:
  podSelector: {matchLabels: {pod: "z"}}
  ingress:
  - from: [{ipBlock: {cidr: 10.42.0.0/16, except: [%s/32]}}]
    ports: [{protocol: TCP, port: 8079, endPort: 8080}]
`, ipOf(npPod{"b", "x"}))
		},
		allowed: func(src, dst npPod, port int) bool {
			return dst != npPod{"a", "z"} || src != npPod{"b", "x"} && port == 8080
		},
	},
	{
		name: "egress",
		policies: func(func(npPod) string) string {
			return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-to-c, namespace: b}
spec:
  podSelector: {matchLabels: {pod: "y"}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: c}}}]
    ports: [{port: http}]
`
		},
		allowed: func(src, dst npPod, port int) bool {
			return src != npPod{"b", "y"} || dst.ns == "c" && port == 8080
		},
	},
}

// TestNetworkPolicyTruthTable runs the truth table through tugd:
// three namespaces × three pods × two ports from a Git commit, then each
// scenario committed in turn (default-deny, allow-by-pod,
// allow-by-namespace, ipBlock with except, egress), every cell an actual
// TCP connection from inside the source pod's network namespace. Pods on
// one node share the bridge tug0, so this also checks that tugd's
// bridge-nf-call-iptables makes bridged traffic meet the policy.
func TestNetworkPolicyTruthTable(t *testing.T) {
	repo := newRepo(t)
	repo.write("pods.yaml", npManifests())
	repo.commit("truth table pods")
	c := newCluster(t, repo)
	c.start()
	ips := map[npPod]string{}
	netns := map[npPod]*testenv.NetNS{}
	for _, ns := range npNamespaces {
		for _, p := range c.runningPods(ns, 3, 180*time.Second) {
			id := npPod{ns, p.Labels["pod"]}
			ips[id] = p.Status.PodIP
			netns[id] = &testenv.NetNS{Name: "pod-" + id.String(), Path: podNetNS(t, c.dataDir, p)}
		}
	}
	if len(ips) != 9 {
		t.Fatalf("pods found: %v, want 9", ips)
	}
	ipOf := func(p npPod) string { return ips[p] }
	for i, s := range npScenarios {
		t.Run(s.name, func(t *testing.T) {
			repo.write("policy.yaml", s.policies(ipOf))
			repo.commit("policy: " + s.name)
			// The rules are in place once a cell this scenario changes
			// from the previous one shows it; then check every cell.
			probe := npProbe(s, npScenarios[max(i-1, 0)], i == 0)
			c.waitFor(s.name+" enforced", 30*time.Second, func() (bool, string) {
				got, err := npConnects(netns[probe.src], fmt.Sprintf("%s:%d", ips[probe.dst], probe.port))
				return err == nil && got == s.allowed(probe.src, probe.dst, probe.port), fmt.Sprintf("%s → %s:%d connected=%v (%v)", probe.src, probe.dst, probe.port, got, err)
			})
			var mu sync.Mutex
			var wg sync.WaitGroup
			var wrong []string
			for _, src := range npPods() {
				for _, dst := range npPods() {
					if src == dst {
						continue
					}
					for _, port := range npPorts {
						wg.Go(func() {
							got, err := npConnects(netns[src], fmt.Sprintf("%s:%d", ips[dst], port))
							if want := s.allowed(src, dst, port); err != nil || got != want {
								mu.Lock()
								wrong = append(wrong, fmt.Sprintf("%s → %s:%d connected=%v (%v), want %v", src, dst, port, got, err, want))
								mu.Unlock()
							}
						})
					}
				}
			}
			wg.Wait()
			if len(wrong) > 0 {
				t.Errorf("%d of %d cells wrong:\n%s", len(wrong), 9*8*2, strings.Join(wrong, "\n"))
			}
		})
	}
	out, err := c.tug("get", "networkpolicies", "-n", "b")
	if err != nil || !strings.Contains(out, "POD-SELECTOR") || !strings.Contains(firstLine(out, "y-to-c"), "pod=y") {
		t.Errorf("tug get networkpolicies -n b: %v\n%s", err, out)
	}
}

type npCell struct {
	src, dst npPod
	port     int
}

// npProbe returns a cell whose outcome differs between s and prev (or
// that s denies, for the first scenario).
func npProbe(s, prev npScenario, first bool) npCell {
	for _, src := range npPods() {
		for _, dst := range npPods() {
			for _, port := range npPorts {
				if src == dst {
					continue
				}
				if a := s.allowed(src, dst, port); (first && !a) || (!first && a != prev.allowed(src, dst, port)) {
					return npCell{src, dst, port}
				}
			}
		}
	}
	panic("scenario " + s.name + " changes no cell")
}

// npConnects reports whether a TCP connection from ns to addr is accepted
// within 300 ms (a policy drop shows as a time-out).
func npConnects(ns *testenv.NetNS, addr string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	conn, err := ns.DialContext(ctx, "tcp4", addr)
	if err == nil {
		conn.Close()
		return true, nil
	}
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return false, nil
	}
	return false, err
}

// podNetNS finds the bind mount of pod's network namespace the node agent
// keeps under its data directory (netns/<pod uid>).
func podNetNS(t *testing.T, dataDir string, p *corev1.Pod) string {
	t.Helper()
	for _, pattern := range []string{filepath.Join(dataDir, "netns", string(p.UID)), filepath.Join(dataDir, "*", "netns", string(p.UID))} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	t.Fatalf("no network namespace for pod %s/%s (uid %s) under %s", p.Namespace, p.Name, p.UID, dataDir)
	return ""
}
