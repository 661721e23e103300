package nodeagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/volume"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestVolumeUpdateIntegration: a ConfigMap change reaches a running bare pod
// in place (no restart) through the "..data" link swap, read back from inside
// the container; a subPath mount keeps the content it started with, as in
// Kubernetes.
func TestVolumeUpdateIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, _, dataDir, st := integrationEnv(t)
	var err error

	const ns, podName, node = "shop", "cfg-1", "node-1"
	grace := int64(1)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "host.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := filepath.Join(hostDir, "created")
	dirType, fileOrCreate := corev1.HostPathDirectory, corev1.HostPathFileOrCreate
	cm := func(msg string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: ns},
			Data: map[string]string{"msg": msg, "other": "o-" + msg}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns, Labels: map[string]string{"app": "cfg"}},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{
				{
					Name: "web", Image: testenv.HelloV1Ref,
					VolumeMounts: []corev1.VolumeMount{
						{Name: "cfg", MountPath: "/etc/cfg"},
						{Name: "cfg", MountPath: "/etc/sub-msg", SubPath: "msg"},
						{Name: "info", MountPath: "/etc/info"},
						{Name: "proj", MountPath: "/etc/proj"},
						{Name: "host", MountPath: "/host", ReadOnly: true},
						{Name: "created", MountPath: "/created"},
					},
				},
			},
			Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{
						{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
						{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
					}}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
							Items: []corev1.KeyToPath{{Key: "msg", Path: "cfg/msg"}}}},
						{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
							{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					}}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dirType}}},
				{Name: "created", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: created, Type: &fileOrCreate}}},
			},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: ns}, Data: map[string][]byte{"token": []byte("t0k")}}
	if _, err := st.Apply([]manifest.Object{cm("one"), sec, pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	uid := getPod(t, st, ns, podName).UID
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.9.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})

	var ip string
	waitFor(t, 60*time.Second, func() string {
		p := getPod(t, st, ns, podName)
		if p.Status.Phase != corev1.PodRunning || !podReady(p) || p.Status.PodIP == "" {
			return fmt.Sprintf("pod not running and ready: %+v", p.Status)
		}
		ip = p.Status.PodIP
		return ""
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	file := func(path string) (string, error) {
		return httpGet(client, "http://"+ip+":8080/file?path="+url.QueryEscape(path))
	}
	expect := func(timeout time.Duration, want map[string]string) {
		t.Helper()
		waitFor(t, timeout, func() string {
			var missing []string
			for path, w := range want {
				got, err := file(path)
				if err != nil || got != w {
					missing = append(missing, fmt.Sprintf("%s = %q (%v), want %q", path, got, err, w))
				}
			}
			return strings.Join(missing, "; ")
		})
	}
	expect(10*time.Second, map[string]string{
		"/etc/cfg/msg": "one", "/etc/cfg/other": "o-one", "/etc/sub-msg": "one",
		"/etc/info/labels": `app="cfg"`, "/etc/info/name": podName,
		"/etc/proj/cfg/msg": "one", "/etc/proj/token": "t0k", "/etc/proj/ns": ns,
		"/host/host.txt": "from the host", "/created": "",
	})
	if st, err := os.Stat(created); err != nil || !st.Mode().IsRegular() {
		t.Errorf("FileOrCreate hostPath %s: %v %v", created, st, err)
	}
	dir := volume.Dir(filepath.Join(dataDir, "pods", ns+"_"+podName+"_"+string(uid)), "cfg")
	ts1, err := os.Readlink(filepath.Join(dir, volume.DataLink))
	if err != nil {
		t.Fatalf("volume not in the ..data layout: %v", err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "msg")); got != "..data/msg" {
		t.Errorf("msg -> %q, want ..data/msg", got)
	}

	start := time.Now()
	if _, err := st.Apply([]manifest.Object{cm("two")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	expect(30*time.Second, map[string]string{"/etc/cfg/msg": "two", "/etc/cfg/other": "o-two", "/etc/proj/cfg/msg": "two"})
	t.Logf("configmap update seen inside the container after %s", time.Since(start))
	if got, err := file("/etc/sub-msg"); err != nil || got != "one" {
		t.Errorf("subPath mount = %q (%v), want the old %q (subPath mounts are not updated)", got, err, "one")
	}
	ts2, _ := os.Readlink(filepath.Join(dir, volume.DataLink))
	if ts2 == ts1 {
		t.Errorf("..data still points at %s after the update", ts1)
	}
	p := getPod(t, st, ns, podName)
	if cs := containerStatusOf(p, "web"); cs == nil || cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("web restarted by the update: %+v", cs)
	}
}
