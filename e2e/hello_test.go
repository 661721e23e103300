package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const helloNS = "hello"

type podSnap struct {
	name, uid, ip string
	containerIDs  []string
	restarts      int32
}

func snapshotPods(pods []*corev1.Pod) map[string]podSnap {
	out := map[string]podSnap{}
	for _, p := range pods {
		s := podSnap{name: p.Name, uid: string(p.UID), ip: p.Status.PodIP}
		for _, cs := range p.Status.ContainerStatuses {
			s.containerIDs = append(s.containerIDs, cs.ContainerID)
			s.restarts += cs.RestartCount
		}
		out[p.Name] = s
	}
	return out
}

func podNamesOf(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestHelloLifecycle walks the foundation's user story end to end on real
// containerd, CNI and Git: commit → pods serving; ConfigMap change → pods
// replaced; bad commit → rejected, nothing touched; kill -9 and restart →
// containers adopted; files deleted → pods gone.
func TestHelloLifecycle(t *testing.T) {
	repo := newRepo(t)
	repo.copyExample()
	sha1 := repo.commit("hello: first deploy")
	c := newCluster(t, repo)
	c.start()

	// 1. The demo pods run and answer with the ConfigMap's message.
	pods := c.runningPods(helloNS, 2, 90*time.Second)
	for _, p := range pods {
		body := c.serving(fmt.Sprintf("http://%s:8080/", p.Status.PodIP), "Hello from tug!", 20*time.Second)
		if !strings.Contains(body, p.Name) {
			t.Errorf("pod %s answered %q; want its name and the ConfigMap message", p.Name, body)
		}
	}
	st, err := c.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedSHA(st); got != sha1 {
		t.Errorf("status applied SHA %q, want %q", got, sha1)
	}
	out, err := c.tug("get", "pods", "-A")
	if err != nil || !strings.Contains(out, "NAMESPACE") || strings.Count(out, "Running") != 2 {
		t.Errorf("tug get pods -A: err %v\n%s", err, out)
	}
	before := snapshotPods(pods)

	// 2. A ConfigMap change replaces the pods, which serve the new message.
	repo.write("configmap.yaml", strings.Replace(repo.read("configmap.yaml"), "Hello from tug!", "Second message.", 1))
	repo.commit("hello: new message")
	var replaced []*corev1.Pod
	c.waitFor("pods replaced after the ConfigMap change", 90*time.Second, func() (bool, string) {
		replaced = c.runningPods(helloNS, 2, 60*time.Second)
		for _, p := range replaced {
			if _, old := before[p.Name]; old {
				return false, "old pod " + p.Name + " still there"
			}
		}
		return true, ""
	})
	for _, p := range replaced {
		c.serving(fmt.Sprintf("http://%s:8080/", p.Status.PodIP), "Second message.", 20*time.Second)
	}
	good := snapshotPods(replaced)

	// 3. A bad commit is rejected with file:line, and nothing running is touched.
	repo.write("broken.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: hello\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: broken}\n  template:\n    metadata:\n      labels: {app: broken}\n    spec:\n      containers:\n        - name: x\n          image: tug.local/hello:v1\n          imagePullPolicyy: Always\n")
	badSHA := repo.commit("broken: a typo")
	c.waitFor("the bad commit to be rejected", 30*time.Second, func() (bool, string) {
		out, _ := c.tug("status")
		return strings.Contains(out, badSHA[:7]) && strings.Contains(out, "broken.yaml:17"), out
	})
	out, _ = c.tug("status")
	if line := firstLine(out, "broken.yaml:17"); !strings.Contains(line, "imagePullPolicyy") {
		t.Errorf("status error line %q does not name the field imagePullPolicyy:\n%s", line, out)
	}
	time.Sleep(2 * time.Second) // a few poll intervals: nothing may change
	if diff := compareSnaps(good, snapshotPods(c.runningPods(helloNS, 2, 10*time.Second))); diff != "" {
		t.Errorf("pods changed after a rejected commit: %s", diff)
	}
	repo.git("rm", "-q", "broken.yaml")
	repo.commit("broken: remove")

	// 4. kill -9 tugd and start it again: the same containers, no restarts.
	c.waitFor("the fix to be applied", 30*time.Second, func() (bool, string) {
		st, err := c.client.Status(context.Background())
		return err == nil && appliedSHA(st) == repo.git("rev-parse", "HEAD"), fmt.Sprint(err)
	})
	c.stop(syscall.SIGKILL)
	c.start()
	time.Sleep(3 * time.Second) // let the agent adopt and report
	after := snapshotPods(c.runningPods(helloNS, 2, 60*time.Second))
	if diff := compareSnaps(good, after); diff != "" {
		t.Errorf("pods changed across kill -9 and restart: %s", diff)
	}
	if n := countContainers(t, c); n != 2 {
		t.Errorf("containerd holds %d containers after the restart, want 2", n)
	}

	// 5. Deleting the files removes the pods.
	for _, f := range []string{"deployment.yaml", "configmap.yaml", "service.yaml"} {
		repo.git("rm", "-q", f)
	}
	repo.commit("hello: remove the app")
	c.waitFor("pods gone", 60*time.Second, func() (bool, string) {
		pods := c.pods(helloNS)
		return len(pods) == 0, fmt.Sprint(podNamesOf(pods))
	})
	c.waitFor("containers gone", 30*time.Second, func() (bool, string) {
		n := countContainers(t, c)
		return n == 0, fmt.Sprintf("%d containers", n)
	})
}

func compareSnaps(want, got map[string]podSnap) string {
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, name+" is gone")
		case g.uid != w.uid:
			diffs = append(diffs, name+" has a new UID")
		case !slices.Equal(g.containerIDs, w.containerIDs):
			diffs = append(diffs, fmt.Sprintf("%s containers %v → %v", name, w.containerIDs, g.containerIDs))
		case g.restarts != w.restarts:
			diffs = append(diffs, fmt.Sprintf("%s restarts %d → %d", name, w.restarts, g.restarts))
		case g.ip != w.ip:
			diffs = append(diffs, fmt.Sprintf("%s IP %s → %s", name, w.ip, g.ip))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, name+" is new")
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}
