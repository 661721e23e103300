package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// storageYAML is a StatefulSet with a volumeClaimTemplate on the built-in
// local-path class, and a static hostPath volume (path filled in) bound by
// a claim a Deployment mounts read-only.
const storageYAML = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: %d
  serviceName: db
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: app
        image: tug.local/hello:%s
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: static
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: %s}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: shared
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reader
spec:
  replicas: 1
  selector:
    matchLabels: {app: reader}
  template:
    metadata:
      labels: {app: reader}
    spec:
      containers:
      - name: app
        image: tug.local/hello:v1
        volumeMounts: [{name: shared, mountPath: /shared}]
      volumes:
      - name: shared
        persistentVolumeClaim: {claimName: shared, readOnly: true}
`

// scratchClaimYAML is a claim on the default class (local-path, reclaim
// Delete) and scratchYAML a pod using it: the claim is removed alone
// (Terminating while the pod runs), brought back, then both are removed.
const scratchClaimYAML = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: scratch
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100Mi}}
`

const scratchYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: scratch
spec:
  replicas: 1
  selector:
    matchLabels: {app: scratch}
  template:
    metadata:
      labels: {app: scratch}
    spec:
      containers:
      - name: app
        image: tug.local/hello:v1
        volumeMounts: [{name: scratch, mountPath: /scratch}]
      volumes:
      - name: scratch
        persistentVolumeClaim: {claimName: scratch}
`

// TestStorage runs on real containerd: a StatefulSet's two pods get
// local-path volumes provisioned under <data-dir>/storage, each writes a
// file, a rolling update replaces both pods and the new ones read the same
// files; scaling to one replica keeps the claim of ordinal 1. A static
// hostPath volume is bound by a claim and its file read through a
// read-only mount.
func TestStorage(t *testing.T) {
	static := t.TempDir()
	if err := os.WriteFile(filepath.Join(static, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := newRepo(t)
	repo.write("storage.yaml", fmt.Sprintf(storageYAML, 2, "v1", static))
	repo.write("scratch.yaml", scratchYAML)
	repo.write("scratch-pvc.yaml", scratchClaimYAML)
	repo.commit("stateful storage")
	c := newCluster(t, repo)
	c.start()
	ctx := context.Background()

	claim := func(name string) *corev1.PersistentVolumeClaim {
		obj, err := c.client.Get(ctx, manifest.KindPersistentVolumeClaim, "default", name)
		if err != nil {
			return nil
		}
		return obj.(*corev1.PersistentVolumeClaim)
	}
	podsOf := func(app string, n int, image string) map[string]*corev1.Pod {
		out := map[string]*corev1.Pod{}
		c.waitFor(fmt.Sprintf("%d %s pods running %s", n, app, image), 120*time.Second, func() (bool, string) {
			clear(out)
			var desc []string
			for _, p := range c.pods("default") {
				if p.Labels["app"] != app {
					continue
				}
				desc = append(desc, fmt.Sprintf("%s:%s:%s:ready=%v", p.Name, p.Status.Phase, p.Spec.Containers[0].Image, isReady(p)))
				if p.DeletionTimestamp == nil && isReady(p) && p.Status.PodIP != "" && strings.HasSuffix(p.Spec.Containers[0].Image, image) {
					out[p.Name] = p
				}
			}
			return len(out) == n && len(desc) == n, strings.Join(desc, " ")
		})
		return out
	}

	// terminating waits until `tug get <resource>` shows name Terminating.
	terminating := func(resource, name string) {
		t.Helper()
		c.waitFor(resource+" "+name+" Terminating", 30*time.Second, func() (bool, string) {
			out, err := c.tug("get", resource)
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, name+" ") && strings.Contains(line, "Terminating") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%v\n%s", err, out)
		})
	}

	// get retries while the app starts listening (the pods have no
	// readiness probe).
	get := func(url string) (string, error) {
		var body string
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if body, err = c.get(url); err == nil || !strings.Contains(err.Error(), "connection refused") {
				break
			}
		}
		return body, err
	}

	pods := podsOf("db", 2, "v1")
	for _, name := range []string{"db-0", "db-1"} {
		p := pods[name]
		if _, err := get(fmt.Sprintf("http://%s:8080/write?path=/data/%s.txt", p.Status.PodIP, name)); err != nil {
			t.Fatalf("write in %s: %v", name, err)
		}
		pvc := claim("data-" + name)
		if pvc == nil || pvc.Status.Phase != corev1.ClaimBound {
			t.Fatalf("claim data-%s: %+v", name, pvc)
		}
		dir := filepath.Join(c.dataDir, "storage", pvc.Spec.VolumeName+"_default_data-"+name)
		if b, err := os.ReadFile(filepath.Join(dir, name+".txt")); err != nil || string(b) != "written\n" {
			t.Errorf("file on the node in %s: %q, %v", dir, b, err)
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o777 {
			t.Errorf("volume directory %s: %v (want mode 0777)", dir, err)
		}
	}

	// A rolling update replaces both pods; the new ones find the data.
	repo.write("storage.yaml", fmt.Sprintf(storageYAML, 2, "v2", static))
	repo.commit("roll to v2")
	pods = podsOf("db", 2, "v2")
	for _, name := range []string{"db-0", "db-1"} {
		got, err := get(fmt.Sprintf("http://%s:8080/file?path=/data/%s.txt", pods[name].Status.PodIP, name))
		if err != nil || got != "written\n" {
			t.Errorf("%s after the rollout reads %q, %v; want the file written before", name, got, err)
		}
	}

	// Scale down: the claim of ordinal 1 stays, bound.
	repo.write("storage.yaml", fmt.Sprintf(storageYAML, 1, "v2", static))
	repo.commit("scale to 1")
	podsOf("db", 1, "v2")
	if pvc := claim("data-db-1"); pvc == nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim data-db-1 after scaling to 1: %+v; want it kept and Bound", pvc)
	}

	// The static hostPath volume: bound by class and size, mounted read-only.
	reader := podsOf("reader", 1, "v1")
	for _, p := range reader {
		got, err := get(fmt.Sprintf("http://%s:8080/file?path=/shared/hello.txt", p.Status.PodIP))
		if err != nil || got != "from the host\n" {
			t.Errorf("reader reads %q, %v", got, err)
		}
		if _, err := get(fmt.Sprintf("http://%s:8080/write?path=/shared/nope.txt", p.Status.PodIP)); err == nil {
			t.Errorf("a readOnly claim was writable")
		}
	}
	obj, err := c.client.Get(ctx, manifest.KindPersistentVolume, "", "static")
	if err != nil {
		t.Fatal(err)
	}
	if pv := obj.(*corev1.PersistentVolume); pv.Status.Phase != corev1.VolumeBound || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "shared" {
		t.Errorf("static volume: phase %s, claimRef %+v", pv.Status.Phase, pv.Spec.ClaimRef)
	}
	// pv-protection: the static volume removed from Git while bound stays
	// Terminating, its claim Bound, and the reader still reads it;
	// committed again, it is back as it was.
	var docs []string
	for _, doc := range strings.Split(fmt.Sprintf(storageYAML, 1, "v2", static), "\n---\n") {
		if !strings.Contains(doc, "kind: PersistentVolume\n") {
			docs = append(docs, doc)
		}
	}
	repo.write("storage.yaml", strings.Join(docs, "\n---\n"))
	repo.commit("remove the static volume")
	terminating("pv", "static")
	if pvc := claim("shared"); pvc == nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim of the Terminating volume: %+v; want Bound", pvc)
	}
	for _, p := range reader {
		if got, err := get(fmt.Sprintf("http://%s:8080/file?path=/shared/hello.txt", p.Status.PodIP)); err != nil || got != "from the host\n" {
			t.Errorf("reader of the Terminating volume reads %q, %v", got, err)
		}
	}
	repo.write("storage.yaml", fmt.Sprintf(storageYAML, 1, "v2", static))
	repo.commit("static volume back")
	c.waitFor("static volume back, Bound", 30*time.Second, func() (bool, string) {
		obj, err := c.client.Get(ctx, manifest.KindPersistentVolume, "", "static")
		if err != nil {
			return false, err.Error()
		}
		pv := obj.(*corev1.PersistentVolume)
		return pv.DeletionTimestamp == nil && pv.Status.Phase == corev1.VolumeBound, fmt.Sprintf("deletionTimestamp %v, phase %s", pv.DeletionTimestamp, pv.Status.Phase)
	})

	out, err := c.tug("get", "pvc")
	if err != nil || !strings.Contains(out, "data-db-1") || !strings.Contains(out, "Bound") {
		t.Errorf("tug get pvc: %v\n%s", err, out)
	}
	out, err = c.tug("get", "storageclass")
	if err != nil || !strings.Contains(out, "local-path (default)") {
		t.Errorf("tug get storageclass: %v\n%s", err, out)
	}

	// Reclaim Delete: removing the claim (and its pod) from Git releases
	// the provisioned volume; the agent removes its directory, then the PV.
	scratch := podsOf("scratch", 1, "v1")
	for _, p := range scratch {
		if _, err := get(fmt.Sprintf("http://%s:8080/write?path=/scratch/x", p.Status.PodIP)); err != nil {
			t.Fatalf("write to scratch: %v", err)
		}
	}
	pvName := claim("scratch").Spec.VolumeName
	dir := filepath.Join(c.dataDir, "storage", pvName+"_default_scratch")
	if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
		t.Fatalf("scratch file on the node: %v", err)
	}
	// Storage-object-in-use protection: the claim removed from Git while
	// its pod runs is Terminating, the pod keeps writing to its volume;
	// committing the claim again brings it back, bound to the same volume.
	repo.git("rm", "-q", "scratch-pvc.yaml")
	repo.commit("remove the scratch claim alone")
	terminating("pvc", "scratch")
	for _, p := range scratch {
		if _, err := get(fmt.Sprintf("http://%s:8080/write?path=/scratch/y", p.Status.PodIP)); err != nil {
			t.Errorf("write to scratch while its claim is Terminating: %v", err)
		}
	}
	repo.write("scratch-pvc.yaml", scratchClaimYAML)
	repo.commit("scratch claim back")
	c.waitFor("scratch claim back, Bound", 30*time.Second, func() (bool, string) {
		pvc := claim("scratch")
		if pvc == nil {
			return false, "no claim"
		}
		return pvc.DeletionTimestamp == nil && pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName == pvName,
			fmt.Sprintf("deletionTimestamp %v, phase %s, volume %s", pvc.DeletionTimestamp, pvc.Status.Phase, pvc.Spec.VolumeName)
	})
	if _, err := os.Stat(filepath.Join(dir, "y")); err != nil {
		t.Errorf("file written while the claim was Terminating: %v", err)
	}

	repo.git("rm", "-q", "scratch.yaml", "scratch-pvc.yaml")
	repo.commit("remove scratch")
	c.waitFor("scratch volume deleted", 60*time.Second, func() (bool, string) {
		_, err := c.client.Get(ctx, manifest.KindPersistentVolume, "", pvName)
		_, statErr := os.Stat(dir)
		return err != nil && os.IsNotExist(statErr), fmt.Sprintf("get pv: %v; stat dir: %v", err, statErr)
	})
	// Retained claims keep their volumes.
	if pvc := claim("data-db-1"); pvc == nil {
		t.Errorf("claim data-db-1 is gone")
	} else if _, err := os.Stat(filepath.Join(c.dataDir, "storage", pvc.Spec.VolumeName+"_default_data-db-1", "db-1.txt")); err != nil {
		t.Errorf("data of db-1: %v", err)
	}
	if obj, err := c.client.Get(ctx, manifest.KindStatefulSet, "default", "db"); err == nil {
		if st := obj.(*appsv1.StatefulSet).Status; st.Replicas != 1 {
			t.Errorf("statefulset status %+v", st)
		}
	}
}
