package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
)

// TestNodeagentVolumes drives tugd through a commit: two containers share
// an emptyDir (one writes through /write, the other serves the file); a
// secret volume maps username to my-group/my-username with mode 0400; a
// downwardAPI and a projected volume, with resourceFieldRef items (a set
// limit, and an unset one that is the node's allocatable amount);
// everything read back from inside the containers through the demo app's
// /file endpoint.
func TestNodeagentVolumes(t *testing.T) {
	repo := newRepo(t)
	repo.write("app.yaml", `apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: default
stringData:
  username: admin
  password: hunter2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: vcfg
  namespace: default
data:
  greeting: hello volumes
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vols
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: vols}
  template:
    metadata:
      labels: {app: vols}
    spec:
      containers:
        - name: server
          image: tug.local/hello:v1
          resources:
            limits: {memory: 128Mi}
          volumeMounts:
            - {name: shared, mountPath: /shared}
            - {name: creds, mountPath: /etc/creds}
            - {name: info, mountPath: /etc/info}
            - {name: proj, mountPath: /etc/proj}
        - name: writer
          image: tug.local/hello:v1
          env:
            - {name: PORT, value: "8081"}
          volumeMounts:
            - {name: shared, mountPath: /out}
      volumes:
        - name: shared
          emptyDir: {}
        - name: creds
          secret:
            secretName: creds
            items:
              - {key: username, path: my-group/my-username, mode: 0400}
        - name: info
          downwardAPI:
            items:
              - {path: labels, fieldRef: {fieldPath: metadata.labels}}
              - {path: name, fieldRef: {fieldPath: metadata.name}}
              - {path: mem_limit, resourceFieldRef: {containerName: server, resource: limits.memory, divisor: 1Mi}}
        - name: proj
          projected:
            sources:
              - configMap: {name: vcfg}
              - secret: {name: creds, items: [{key: password, path: pw}]}
              - downwardAPI: {items: [{path: writer_cpu, resourceFieldRef: {containerName: writer, resource: limits.cpu, divisor: 1m}}]}
`)
	repo.commit("volumes app")
	c := newCluster(t, repo)
	c.start()
	pod := c.runningPods("default", 1, 90*time.Second)[0]
	ip := pod.Status.PodIP
	file := func(path string) (string, error) {
		return c.get(fmt.Sprintf("http://%s:8080/file?path=%s", ip, url.QueryEscape(path)))
	}

	// The writer writes into the shared emptyDir; the server serves it.
	c.waitFor("writer listening", 15*time.Second, func() (bool, string) {
		body, err := c.get(fmt.Sprintf("http://%s:8081/write?path=/out/note", ip))
		return err == nil, fmt.Sprint(body, err)
	})
	want := map[string]string{
		"/shared/note":                    "written\n",
		"/etc/creds/my-group/my-username": "admin",
		"/etc/info/labels":                `app="vols"` + "\npod-template-hash=\"" + pod.Labels["pod-template-hash"] + `"`,
		"/etc/info/name":                  pod.Name,
		"/etc/proj/greeting":              "hello volumes",
		"/etc/proj/pw":                    "hunter2",
		"/etc/info/mem_limit":             "128",
	}
	// The writer sets no CPU limit: the node's allocatable CPU, as the
	// kubelet writes it.
	obj, err := c.client.Get(context.Background(), manifest.KindNode, "", pod.Spec.NodeName)
	if err != nil {
		t.Fatalf("get node %s: %v", pod.Spec.NodeName, err)
	}
	cpu := obj.(*corev1.Node).Status.Allocatable[corev1.ResourceCPU]
	want["/etc/proj/writer_cpu"] = strconv.FormatInt(cpu.MilliValue(), 10)
	for path, w := range want {
		got, err := file(path)
		if err != nil || got != w {
			t.Errorf("%s inside the pod = %q (%v), want %q", path, got, err, w)
		}
	}
	if got, err := file("/etc/creds/username"); err == nil {
		t.Errorf("unlisted key username is in the secret volume: %q", got)
	}
	podDir := filepath.Join(c.dataDir, "pods", "default_"+pod.Name+"_"+string(pod.UID))
	secretFile := filepath.Join(volume.Dir(podDir, "creds"), "my-group", "my-username")
	if st, err := os.Stat(secretFile); err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("secret item %s: %v %v, want mode 0400", secretFile, st, err)
	}
	if target, err := os.Readlink(filepath.Join(volume.Dir(podDir, "creds"), volume.DataLink)); err != nil || !strings.HasPrefix(target, "..") {
		t.Errorf("secret volume not in the ..data layout: %q %v", target, err)
	}
}
