package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTwoNodes runs a tugd server with its embedded node n1 in one network
// namespace and `tugd agent` as node n2 in another, joined by a veth pair:
// n2 joins over the agent API with a certificate from tugd
// issue-node-cert, both nodes become Ready, a 2-replica Deployment spreads
// one pod onto each node, n2 reports its pod's status and, scaled to zero,
// deletes its pod. The agent API
// refuses a certificate of another CA at the handshake, and n2's
// certificate may not update n1 (403) nor read a Secret or ConfigMap no
// pod of n2 uses. The agent starts before the server and joins when it
// comes up; `tug logs` (and -f) of n2's pod go through n2's log listener;
// a NetworkPolicy on web admits a role=client pod on n1 and refuses an
// unlabelled one. n2 follows a server restart; killing
// the agent makes n2 NotReady after the grace period, and restarting it
// Ready again.
func TestTwoNodes(t *testing.T) {
	repo := newRepo(t)
	repo.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello, namespace: default}\ndata: {a: b}\n")
	repo.commit("start")
	c := newCluster(t, repo)
	agentNS := testenv.NewNetNS(t)
	joinNetNS(t, c.ns, agentNS, twoNodeServerIP, twoNodeAgentIP)

	certDir := issueNodeCert(t, c.dataDir, "n2")
	// The agent starts first: it retries until the server is up.
	n2 := newRemoteAgent(t, agentNS, "n2", certDir)
	n2.start(twoNodeServerURL) // no --pod-cidr: the server allocates n2 10.42.1.0/24 (reconciler/podcidr.go)
	time.Sleep(time.Second)
	if err, ok := n2.exited(); ok {
		t.Fatalf("tugd agent started before its server exited: %v", err)
	}
	c.startWith("--node-name", "n1", "--agent-listen", twoNodeServerIP+":"+agentAPIPort)

	c.waitFor("nodes n1 and n2 Ready", 90*time.Second, func() (bool, string) {
		if err, ok := n2.exited(); ok {
			t.Fatalf("tugd agent exited: %v", err)
		}
		s1, d1 := c.nodeReady("n1")
		s2, d2 := c.nodeReady("n2")
		return s1 == corev1.ConditionTrue && s2 == corev1.ConditionTrue, "n1: " + d1 + "; n2: " + d2
	})

	repo.write("web.yaml", deploymentYAML("web", 2))
	sha := repo.commit("web: 2 replicas")
	c.syncRecord(sha)
	pods := c.runningPods("default", 2, 120*time.Second)
	byNode := map[string]*corev1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = p
	}
	var nodes []string
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	if strings.Join(nodes, ",") != "n1,n2" {
		t.Fatalf("pods on nodes %v, want one on n1 and one on n2", nodes)
	}
	// n2's pod status came from n2: its host address and its pod range.
	p2 := byNode["n2"]
	if p2.Status.HostIP != twoNodeAgentIP {
		t.Errorf("pod %s on n2: hostIP %q, want %s (reported by n2's agent)", p2.Name, p2.Status.HostIP, twoNodeAgentIP)
	}
	if ip, err := netip.ParseAddr(p2.Status.PodIP); err != nil || !netip.MustParsePrefix("10.42.1.0/24").Contains(ip) {
		t.Errorf("pod %s on n2: podIP %q, want one in n2's 10.42.1.0/24", p2.Name, p2.Status.PodIP)
	}
	// The pod answers inside n2's namespace, where it runs. It has no
	// readiness probe, so it is Ready as soon as its process started (as
	// in Kubernetes), which can be a moment before it listens.
	c.waitFor("pod "+p2.Name+" on n2 answering inside n2", 20*time.Second, func() (bool, string) {
		body, err := agentGet(agentNS, "http://"+p2.Status.PodIP+":8080/")
		return err == nil && strings.Contains(body, "bench"), fmt.Sprintf("%q, %v", body, err)
	})
	checkCrossNodePods(t, c, repo, byNode, n2.dataDir) // routes_test.go: pods across nodes, by pod IP and ClusterIP
	checkRemoteLogs(t, c, agentNS, p2)                 // twonode_checks_test.go: tug logs through n2's log listener
	checkPolicyAcrossNodes(t, c, repo, byNode, agentNS, certDir)

	// Mutual TLS: a certificate signed by another CA is refused at the
	// handshake; n2's certificate may not write n1's Node.
	foreignDir := filepath.Join(t.TempDir(), "foreign")
	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other-ca"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.IssueNode("n2", foreignDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	serverCA, _, err := pki.ClientTLS(certDir)
	if err != nil {
		t.Fatal(err)
	}
	foreign := agentAPIClient(t, agentNS, foreignDir, func(cfg *tls.Config) { cfg.RootCAs = serverCA.RootCAs })
	if _, err := foreign.Get(twoNodeServerURL + "/api/v1/nodes"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET with a certificate of another CA: err = %v, want a refused handshake", err)
	}
	own := agentAPIClient(t, agentNS, certDir, nil)
	n1 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"taken": "over"}}}
	body, _ := json.Marshal(n1)
	req, _ := http.NewRequest(http.MethodPut, twoNodeServerURL+"/api/v1/nodes/n1", bytes.NewReader(body))
	resp, err := own.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("n2 updating node n1: %s, want 403 Forbidden", resp.Status)
	}
	if resp, err := own.Get(twoNodeServerURL + "/api/v1/nodes/n2"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("n2 reading its own Node: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	// The server restarts; the agent's watches reconnect (resuming, or
	// listing again), so the next change still reaches n2. Scaling to zero
	// deletes n2's pod through n2: the agent stops it and deletes the
	// object with its UID as a precondition.
	c.stop(syscall.SIGTERM)
	c.startWith("--node-name", "n1", "--agent-listen", twoNodeServerIP+":"+agentAPIPort)
	repo.write("web.yaml", deploymentYAML("web", 0))
	c.syncRecord(repo.commit("web: 0 replicas"))
	c.waitFor("both pods gone", 60*time.Second, func() (bool, string) {
		var left []string
		for _, p := range c.pods("default") {
			left = append(left, p.Name+"@"+p.Spec.NodeName)
		}
		return len(left) == 0, strings.Join(left, " ")
	})

	// Node failure: the agent dies; after the grace period n2 is NotReady.
	killed := time.Now()
	n2.stop(syscall.SIGKILL)
	c.waitFor("n2 NotReady after its agent died", 60*time.Second, func() (bool, string) {
		s, d := c.nodeReady("n2")
		return s != corev1.ConditionTrue && s != "", d
	})
	t.Logf("n2 NotReady %v after its agent was killed", time.Since(killed).Round(time.Second))
	if s, d := c.nodeReady("n1"); s != corev1.ConditionTrue {
		t.Errorf("n1 after n2 failed: %s, want Ready", d)
	}

	// The agent comes back: n2 is Ready again.
	n2.start(twoNodeServerURL, "--pod-cidr", "10.42.1.0/24")
	c.waitFor("n2 Ready again after its agent restarted", 60*time.Second, func() (bool, string) {
		s, d := c.nodeReady("n2")
		return s == corev1.ConditionTrue, d
	})
}

// agentGet fetches url from inside ns.
func agentGet(ns *testenv.NetNS, url string) (string, error) {
	resp, err := ns.HTTPClient().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return buf.String(), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return buf.String(), err
}
