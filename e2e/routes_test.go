package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
)

// checkCrossNodePods is TestTwoNodes' pod networking across nodes (the
// host-gw routes of nodeagent/routes, installed by each node's tugd): the
// pod of Deployment web on n1 reaches the one on n2 by pod IP and the one
// on n2 the one on n1, each from inside its own pod network namespace;
// then a ClusterIP Service over both, committed here, answers a pod on n1
// from both pods, and n2's cluster DNS resolves an ExternalName alias of
// it and a pod name for n2's pod. byNode holds web's pod on each node; n2DataDir is the
// agent's data directory.
func checkCrossNodePods(t *testing.T, c *cluster, repo *gitRepo, byNode map[string]*corev1.Pod, n2DataDir string) {
	t.Helper()
	p1, p2 := byNode["n1"], byNode["n2"]
	from1 := &testenv.NetNS{Name: "pod-" + p1.Name, Path: filepath.Join(c.dataDir, "netns", string(p1.UID))}
	from2 := &testenv.NetNS{Name: "pod-" + p2.Name, Path: filepath.Join(n2DataDir, "netns", string(p2.UID))}
	for _, x := range []struct {
		from *testenv.NetNS
		src  *corev1.Pod
		dst  *corev1.Pod
	}{{from1, p1, p2}, {from2, p2, p1}} {
		url := "http://" + x.dst.Status.PodIP + ":8080/"
		c.waitFor(fmt.Sprintf("pod %s (%s) reaching pod %s (%s) across nodes", x.src.Name, x.src.Spec.NodeName, x.dst.Name, x.dst.Spec.NodeName),
			20*time.Second, func() (bool, string) {
				body, err := agentGet(x.from, url)
				return err == nil && strings.Contains(body, "hello from "+x.dst.Name), fmt.Sprintf("GET %s: %q, %v", url, body, err)
			})
	}

	repo.write("web-svc.yaml", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports:
    - {port: 80, targetPort: 8080}
`)
	c.syncRecord(repo.commit("web: a ClusterIP service"))
	var clusterIP string
	c.waitFor("service web with both pods as endpoints", 30*time.Second, func() (bool, string) {
		obj, err := c.client.Get(context.Background(), manifest.KindService, "default", "web")
		if err != nil {
			return false, err.Error()
		}
		clusterIP = obj.(*corev1.Service).Spec.ClusterIP
		obj, err = c.client.Get(context.Background(), manifest.KindEndpoints, "default", "web")
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, ss := range obj.(*corev1.Endpoints).Subsets {
			n += len(ss.Addresses)
		}
		return clusterIP != "" && n == 2, fmt.Sprintf("clusterIP %q, %d ready addresses", clusterIP, n)
	})
	seen := map[string]int{}
	c.waitFor("both pods answering through the ClusterIP from a pod on n1", 30*time.Second, func() (bool, string) {
		body, err := agentGet(from1, "http://"+clusterIP+":80/")
		for _, p := range []*corev1.Pod{p1, p2} {
			if err == nil && strings.Contains(body, "hello from "+p.Name) {
				seen[p.Spec.NodeName]++
			}
		}
		return seen["n1"] > 0 && seen["n2"] > 0, fmt.Sprintf("answers by node %v (last: %q, %v)", seen, body, err)
	})
	t.Logf("ClusterIP %s from a pod on n1: answers by node %v", clusterIP, seen)

	// Cluster DNS on n2 (its own server, reached by n2's pod as
	// 10.43.0.10): an ExternalName alias of web, followed to its cluster
	// IP, and a pod A record. The question is asked by n2's pod, through
	// its demo app's /resolve, from a pod on n1.
	repo.write("web-alias.yaml", `apiVersion: v1
kind: Service
metadata: {name: web-alias, namespace: default}
spec:
  type: ExternalName
  externalName: web.default.svc.cluster.local
`)
	c.syncRecord(repo.commit("web-alias: an ExternalName service"))
	podName := strings.ReplaceAll(p1.Status.PodIP, ".", "-") + ".default.pod.cluster.local"
	for name, want := range map[string]string{
		"web-alias.default.svc.cluster.local": clusterIP + "\n",
		podName:                               p1.Status.PodIP + "\n",
	} {
		url := "http://" + p2.Status.PodIP + ":8080/resolve?name=" + name
		c.waitFor(name+" resolving in a pod on n2", 30*time.Second, func() (bool, string) {
			body, err := agentGet(from1, url)
			return err == nil && body == want, fmt.Sprintf("%q, %v (want %q)", body, err, want)
		})
	}
}
