package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	corev1 "k8s.io/api/core/v1"
)

// checkRemoteLogs is TestTwoNodes' `tug logs` of the pod on n2: the
// server proxies the request to n2's log listener (mutual TLS, the port
// n2 published in its Node); the log shows a request made to the pod, and
// `tug logs -f` streams a later one.
func checkRemoteLogs(t *testing.T, c *cluster, agentNS *testenv.NetNS, p2 *corev1.Pod) {
	t.Helper()
	hit := func(path string) {
		_, _ = agentGet(agentNS, "http://"+p2.Status.PodIP+":8080"+path) // any status: the request is logged
	}
	hit("/remote-log-before")
	c.waitFor("tug logs of the pod on n2 showing a request", 20*time.Second, func() (bool, string) {
		out, err := c.tug("logs", p2.Name)
		return err == nil && strings.Contains(out, "path=/remote-log-before "), fmt.Sprintf("%v: %s", err, out)
	})
	if out, err := c.tug("logs", p2.Name, "--tail", "1", "--timestamps"); err != nil || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "path=/remote-log-before ") {
		t.Errorf("tug logs --tail 1 --timestamps of the pod on n2: %v:\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := c.ns.Command(ctx, filepath.Join(binaries(t), "tug"), "--server", "http://"+listen, "logs", "-f", p2.Name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tug logs -f: %v", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }() // the context kills the process this test started
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("tug logs -f of the pod on n2 ended before streaming the new request")
			}
			if strings.Contains(line, "path=/remote-log-follow ") {
				return
			}
		case <-tick.C:
			hit("/remote-log-follow") // until the stream shows it: -f may still be connecting
		case <-deadline:
			t.Fatal("tug logs -f of the pod on n2 did not stream a new request within 20 s")
		}
	}
}

// netpolYAML isolates Deployment web's pods (one on each node): ingress
// only from pods labelled role=client in any namespace. Deployment client
// (role=client) runs on n1, which a Node manifest labels side=one; a
// Secret no pod uses rides along for the node authorization check.
const netpolYAML = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {side: one}}
---
apiVersion: v1
kind: Namespace
metadata: {name: clients}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: clients}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client, role: client}}
    spec:
      nodeSelector: {side: one}
      containers:
        - name: app
          image: tug.local/hello:v1
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-clients-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {}
          podSelector: {matchLabels: {role: client}}
---
apiVersion: v1
kind: Secret
metadata: {name: n2-unused, namespace: default}
stringData: {token: not-for-n2}
`

// checkPolicyAcrossNodes commits netpolYAML: the pod on n2 then answers
// the client pod on n1 and refuses the unlabelled web pod on n1 (n2's
// proxy enforces ingress for its pod against addresses of pods on n1).
// Then n2's certificate cannot read the Secret no pod of n2 uses, nor the
// ConfigMap hello (403), as Kubernetes' Node authorizer decides.
func checkPolicyAcrossNodes(t *testing.T, c *cluster, repo *gitRepo, byNode map[string]*corev1.Pod, agentNS *testenv.NetNS, certDir string) {
	t.Helper()
	repo.write("netpol.yaml", netpolYAML)
	c.syncRecord(repo.commit("web: ingress only from role=client"))
	client := c.runningPods("clients", 1, 90*time.Second)[0]
	if client.Spec.NodeName != "n1" {
		t.Fatalf("client pod on %q, want n1 (nodeSelector side=one)", client.Spec.NodeName)
	}
	p1, p2 := byNode["n1"], byNode["n2"]
	fromClient := &testenv.NetNS{Name: "pod-" + client.Name, Path: filepath.Join(c.dataDir, "netns", string(client.UID))}
	fromWeb := &testenv.NetNS{Name: "pod-" + p1.Name, Path: filepath.Join(c.dataDir, "netns", string(p1.UID))}
	url := "http://" + p2.Status.PodIP + ":8080/"
	quick := func(ns *testenv.NetNS) (string, error) {
		hc := ns.HTTPClient()
		hc.Timeout = 2 * time.Second
		resp, err := hc.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		return resp.Status, nil
	}
	c.waitFor("the unlabelled pod on n1 refused by the pod on n2", 20*time.Second, func() (bool, string) {
		status, err := quick(fromWeb)
		return err != nil, fmt.Sprintf("GET %s from %s: %s %v", url, p1.Name, status, err)
	})
	c.waitFor("the role=client pod on n1 admitted by the pod on n2", 20*time.Second, func() (bool, string) {
		body, err := agentGet(fromClient, url)
		return err == nil && strings.Contains(body, "hello from "+p2.Name), fmt.Sprintf("GET %s from %s: %q %v", url, client.Name, body, err)
	})
	if status, err := quick(fromWeb); err == nil {
		t.Errorf("GET %s from the unlabelled %s after the client got through: %s, want refused", url, p1.Name, status)
	}

	own := agentAPIClient(t, agentNS, certDir, nil)
	for _, path := range []string{"/api/v1/namespaces/default/secrets/n2-unused", "/api/v1/namespaces/default/configmaps/hello"} {
		resp, err := own.Get(twoNodeServerURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("n2 reading %s, which no pod of n2 uses: %s, want 403 Forbidden", path, resp.Status)
		}
	}
}
