package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestRolloutAndRevert commits the demo, rolls it to a new image, then
// reverts that commit on real containerd: the Service keeps one cluster IP
// throughout, its Endpoints follow the ready pods, each ReplicaSet records
// the commit that introduced its template, and the revert scales the first
// ReplicaSet back up instead of creating a third.
func TestRolloutAndRevert(t *testing.T) {
	repo := newRepo(t)
	repo.copyExample()
	sha1 := repo.commit("hello: first deploy")
	c := newCluster(t, repo)
	c.start()
	ctx := context.Background()

	pods := c.runningPods(helloNS, 2, 90*time.Second)
	svc := c.service()
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !manifest.ServiceCIDR.Contains(ip) || manifest.CheckClusterIP(ip) != "" {
		t.Fatalf("service cluster IP %q; want a usable address of %s", svc.Spec.ClusterIP, manifest.ServiceCIDR)
	}
	c.waitEndpoints(pods)
	first := c.replicaSets()
	if len(first) != 1 || first[0].Annotations["tug.dev/revision"] != sha1 {
		t.Fatalf("replicasets %v; want one recording %s", rsDesc(first), sha1[:7])
	}

	// Roll to v2.
	repo.write("deployment.yaml", strings.Replace(repo.read("deployment.yaml"), "tug.local/hello:v1", "tug.local/hello:v2", 1))
	sha2 := repo.commit("hello: v2")
	var rolled []*corev1.Pod
	c.waitFor("the rollout to v2", 120*time.Second, func() (bool, string) {
		rolled = c.runningPods(helloNS, 2, 90*time.Second)
		for _, p := range rolled {
			if p.Spec.Containers[0].Image != "tug.local/hello:v2" {
				return false, p.Name + " still runs " + p.Spec.Containers[0].Image
			}
		}
		return true, ""
	})
	rss := c.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("replicasets after the rollout: %v", rsDesc(rss))
	}
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Image == "tug.local/hello:v2" && rs.Annotations["tug.dev/revision"] != sha2 {
			t.Errorf("v2 replicaset %s records %q, want %s", rs.Name, rs.Annotations["tug.dev/revision"], sha2)
		}
	}
	c.waitEndpoints(rolled)

	// Revert: the first ReplicaSet comes back.
	repo.git("revert", "--no-edit", "HEAD")
	c.waitFor("the revert to v1", 120*time.Second, func() (bool, string) {
		pods = c.runningPods(helloNS, 2, 90*time.Second)
		for _, p := range pods {
			if !strings.HasPrefix(p.Name, first[0].Name+"-") {
				return false, p.Name + " is not from " + first[0].Name
			}
		}
		return true, ""
	})
	rss = c.replicaSets()
	if len(rss) != 2 || !slices.ContainsFunc(rss, func(rs *appsv1.ReplicaSet) bool { return rs.UID == first[0].UID && *rs.Spec.Replicas == 2 }) {
		t.Errorf("after the revert: %v; want the first replicaset (%s) back at 2 and no third", rsDesc(rss), first[0].UID)
	}
	c.waitEndpoints(pods)
	if got := c.service().Spec.ClusterIP; got != svc.Spec.ClusterIP {
		t.Errorf("cluster IP moved from %s to %s across commits", svc.Spec.ClusterIP, got)
	}
	obj, err := c.client.Get(ctx, manifest.KindDeployment, helloNS, "hello")
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*appsv1.Deployment)
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason != "NewReplicaSetAvailable" {
			t.Errorf("progressing condition %+v", cond)
		}
	}
}

func (c *cluster) service() *corev1.Service {
	c.t.Helper()
	obj, err := c.client.Get(context.Background(), manifest.KindService, helloNS, "hello")
	if err != nil {
		c.t.Fatalf("get service: %v", err)
	}
	return obj.(*corev1.Service)
}

func (c *cluster) replicaSets() []*appsv1.ReplicaSet {
	c.t.Helper()
	objs, err := c.client.List(context.Background(), manifest.KindReplicaSet, helloNS, "")
	if err != nil {
		c.t.Fatalf("list replicasets: %v", err)
	}
	var out []*appsv1.ReplicaSet
	for _, o := range objs {
		out = append(out, o.(*appsv1.ReplicaSet))
	}
	return out
}

func rsDesc(rss []*appsv1.ReplicaSet) []string {
	var out []string
	for _, rs := range rss {
		out = append(out, fmt.Sprintf("%s=%d@%s", rs.Name, *rs.Spec.Replicas, rs.Annotations["tug.dev/revision"]))
	}
	return out
}

// waitEndpoints waits until the Service's Endpoints list exactly the pods'
// IPs as ready addresses on the named target port (8080).
func (c *cluster) waitEndpoints(pods []*corev1.Pod) {
	c.t.Helper()
	var want []string
	for _, p := range pods {
		want = append(want, p.Status.PodIP)
	}
	slices.Sort(want)
	c.waitFor("endpoints of the ready pods", 30*time.Second, func() (bool, string) {
		obj, err := c.client.Get(context.Background(), manifest.KindEndpoints, helloNS, "hello")
		if err != nil {
			return false, err.Error()
		}
		ep := obj.(*corev1.Endpoints)
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 1 || ep.Subsets[0].Ports[0].Port != 8080 {
			return false, fmt.Sprintf("subsets %+v", ep.Subsets)
		}
		var got []string
		for _, a := range ep.Subsets[0].Addresses {
			got = append(got, a.IP)
		}
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprintf("addresses %v, want %v", got, want)
	})
}
