package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

const (
	taintedNodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {zone: a}
spec:
  taints:
  - {key: dedicated, value: infra, effect: NoSchedule}
`
	cordonedNodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: node-1
spec:
  unschedulable: true
`
	shopNamespaceYAML = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
)

// TestNodeManifestsAndNamespaceRemoval runs tugd on real containerd and
// commits, in turn: a taint on its node (the new pod stays pending), a
// cordon instead (still pending; the taint is gone), nothing (uncordoned:
// the pod runs; the node keeps its status and loses what Git set). Then a
// namespace with a Deployment, removed again: its pods are stopped and
// removed.
func TestNodeManifestsAndNamespaceRemoval(t *testing.T) {
	repo := newRepo(t)
	repo.write("web.yaml", deploymentYAML("web", 1))
	repo.write("node.yaml", taintedNodeYAML)
	sha := repo.commit("web, node-1 tainted")
	c := newCluster(t, repo)
	c.start()

	node := func() *corev1.Node {
		obj, err := c.client.Get(context.Background(), manifest.KindNode, "", "node-1")
		if err != nil {
			return nil
		}
		return obj.(*corev1.Node)
	}
	if rec := c.syncRecord(sha); rec.Outcome != manifest.OutcomeApplied {
		t.Fatalf("commit with a Node: %+v", rec)
	}
	c.waitFor("node-1 registered with Git's taint and label", 60*time.Second, func() (bool, string) {
		n := node()
		if n == nil {
			return false, "no node"
		}
		return n.Labels["zone"] == "a" && hasTaint(n, "dedicated") && len(n.Status.Conditions) > 0, fmt.Sprintf("labels %v taints %v", n.Labels, n.Spec.Taints)
	})
	stayPending := func(why string) {
		t.Helper()
		c.waitFor("a web pod", 30*time.Second, func() (bool, string) { return len(c.pods("default")) == 1, "" })
		time.Sleep(3 * time.Second) // several reconciler passes and heartbeats
		for _, p := range c.pods("default") {
			if p.Spec.NodeName != "" {
				t.Fatalf("%s: pod %s was bound to %s", why, p.Name, p.Spec.NodeName)
			}
		}
	}
	stayPending("tainted node")

	repo.write("node.yaml", cordonedNodeYAML)
	c.syncRecord(repo.commit("cordon node-1 instead"))
	c.waitFor("node-1 cordoned, taint gone", 30*time.Second, func() (bool, string) {
		n := node()
		return n != nil && n.Spec.Unschedulable && !hasTaint(n, "dedicated") && n.Labels["zone"] == "", fmt.Sprintf("%+v", n)
	})
	stayPending("cordoned node")

	repo.git("rm", "-q", "node.yaml")
	c.syncRecord(repo.commit("uncordon node-1"))
	c.runningPods("default", 1, 90*time.Second)
	n := node()
	if n.Spec.Unschedulable || n.Annotations[manifest.AnnotationGitNode] != "" || len(n.Status.Capacity) == 0 || n.Spec.PodCIDR == "" {
		t.Errorf("uncordoned node-1 kept Git's fields or lost the agent's: spec %+v annotations %v", n.Spec, n.Annotations)
	}

	repo.write("shop.yaml", shopNamespaceYAML+"---\n"+strings.Replace(deploymentYAML("shop", 2), "namespace: default", "namespace: shop", 1))
	c.syncRecord(repo.commit("namespace shop"))
	c.runningPods("shop", 2, 90*time.Second)
	repo.git("rm", "-q", "shop.yaml")
	c.syncRecord(repo.commit("remove namespace shop"))
	c.waitFor("namespace shop emptied", 60*time.Second, func() (bool, string) {
		var left []string
		for _, kind := range []string{manifest.KindPod, manifest.KindReplicaSet, manifest.KindDeployment, manifest.KindEndpoints} {
			objs, err := c.client.List(context.Background(), kind, "shop", "")
			if err != nil {
				return false, err.Error()
			}
			for _, o := range objs {
				left = append(left, kind+"/"+o.GetName())
			}
		}
		return len(left) == 0, strings.Join(left, " ")
	})
	c.runningPods("default", 1, 10*time.Second)
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
