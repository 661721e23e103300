package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func boundPod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}}}
}

func TestAuthorize(t *testing.T) {
	node := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	event := func(kind, ns, name string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "e"},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name}}
	}
	lease := func(ns, name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	onN2, onN1 := boundPod("a", "n2"), boundPod("b", "n1")
	tests := []struct {
		name string
		req  api.Request
		want bool
	}{
		{"no identity reads nothing", api.Request{Verb: api.VerbGet, Kind: manifest.KindPod}, false},
		{"node lists pods", api.Request{Node: "n2", Verb: api.VerbList, Kind: manifest.KindPod}, true},
		{"node watches secrets (filtered)", api.Request{Node: "n2", Verb: api.VerbWatch, Kind: manifest.KindSecret}, true},
		{"node lists configmaps (filtered)", api.Request{Node: "n2", Verb: api.VerbList, Kind: manifest.KindConfigMap}, true},
		{"node gets a secret its pod uses", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindSecret, Name: "s", Related: true}, true},
		{"node gets a secret no pod of it uses", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindSecret, Name: "s"}, false},
		{"node gets an unreferenced configmap", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindConfigMap, Name: "c"}, false},
		{"node gets an unreferenced claim", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindPersistentVolumeClaim, Name: "c"}, false},
		{"node gets an unreferenced volume", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindPersistentVolume, Name: "pv"}, false},
		{"node gets a service", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindService, Name: "web"}, true},
		{"node gets a network policy", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindNetworkPolicy, Name: "p"}, true},
		{"node gets another node", api.Request{Node: "n2", Verb: api.VerbGet, Kind: manifest.KindNode, Name: "n1"}, true},
		{"create own node", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindNode, Name: "n2", Object: node("n2")}, true},
		{"create other node", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindNode, Name: "n1", Object: node("n1")}, false},
		{"update own node", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindNode, Name: "n2", Object: node("n2")}, true},
		{"update own node status", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindNode, Name: "n2", Subresource: "status", Object: node("n2")}, true},
		{"update other node", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindNode, Name: "n1", Object: node("n1")}, false},
		{"rename through own node path", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindNode, Name: "n2", Object: node("n1")}, false},
		{"delete own node", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindNode, Name: "n2"}, false},
		{"create own lease", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindLease, Namespace: "kube-node-lease", Name: "n2", Object: lease("", "n2")}, true},
		{"renew own lease", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindLease, Namespace: "kube-node-lease", Name: "n2", Object: lease("kube-node-lease", "n2")}, true},
		{"renew other node's lease", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindLease, Namespace: "kube-node-lease", Name: "n1", Object: lease("kube-node-lease", "n1")}, false},
		{"rename through own lease path", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindLease, Namespace: "kube-node-lease", Name: "n2", Object: lease("kube-node-lease", "n1")}, false},
		{"lease in another namespace", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindLease, Namespace: "default", Name: "n2", Object: lease("default", "n2")}, false},
		{"delete own lease", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindLease, Namespace: "kube-node-lease", Name: "n2"}, false},
		{"status of own pod", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindPod, Name: "a", Subresource: "status", Stored: onN2}, true},
		{"status of other node's pod", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindPod, Name: "b", Subresource: "status", Stored: onN1}, false},
		{"status of missing pod", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindPod, Name: "x", Subresource: "status"}, false},
		{"update own pod spec", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindPod, Name: "a", Stored: onN2}, false},
		{"create pod", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindPod, Name: "c", Object: boundPod("c", "n2")}, false},
		{"delete own pod with uid", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindPod, Name: "a", Stored: onN2, UID: onN2.UID}, true},
		{"delete own pod without uid", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindPod, Name: "a", Stored: onN2}, false},
		{"delete other node's pod", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindPod, Name: "b", Stored: onN1, UID: onN1.UID}, false},
		{"event about itself", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindEvent, Object: event("Node", "", "n2")}, true},
		{"event about own pod", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindEvent, Object: event("Pod", "default", "a"), Stored: onN2}, true},
		{"event about other node's pod", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindEvent, Object: event("Pod", "default", "b"), Stored: onN1}, false},
		{"event about other node", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindEvent, Object: event("Node", "", "n1")}, false},
		{"event about a deployment", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindEvent, Object: event("Deployment", "default", "web")}, false},
		{"update configmap", api.Request{Node: "n2", Verb: api.VerbUpdate, Kind: manifest.KindConfigMap, Name: "cfg"}, false},
		{"delete service", api.Request{Node: "n2", Verb: api.VerbDelete, Kind: manifest.KindService, Name: "web"}, false},
		{"create secret", api.Request{Node: "n2", Verb: api.VerbCreate, Kind: manifest.KindSecret, Name: "s"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := api.Authorize(tt.req)
			if got := err == nil; got != tt.want {
				t.Errorf("Authorize(%+v) = %v, want allowed=%v", tt.req, err, tt.want)
			}
		})
	}
}

// agentEnv is an agent listener over a real store with real certificates.
type agentEnv struct {
	st     *state.Store
	srv    *httptest.Server
	ca     *pki.CA
	pkiDir string
}

func newAgentEnv(t *testing.T) *agentEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pkiDir := filepath.Join(dir, "pki")
	ca, err := pki.LoadOrCreateCA(pkiDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(pkiDir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watches := api.NewWatchCache(st, 0, nil)
	done := make(chan error, 1)
	go func() { done <- watches.Run(ctx) }()
	<-watches.Ready()
	srv := httptest.NewUnstartedServer(api.NewAgentHandler(api.Config{
		Store: st, Watch: watches, IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
	}, st))
	srv.TLS = pki.ServerTLS(ca, cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
	})
	return &agentEnv{st: st, srv: srv, ca: ca, pkiDir: pkiDir}
}

// nodeClient returns an HTTP client presenting a certificate for node
// signed by the env's CA.
func (e *agentEnv) nodeClient(t *testing.T, node string) *http.Client {
	t.Helper()
	dir := t.TempDir()
	if err := e.ca.IssueNode(node, dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg, name, err := pki.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if name != node {
		t.Fatalf("ClientTLS node = %q, want %q", name, node)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func send(t *testing.T, c *http.Client, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestAgentHandlerRules(t *testing.T) {
	e := newAgentEnv(t)
	n1, n2 := e.nodeClient(t, "n1"), e.nodeClient(t, "n2")
	u := e.srv.URL
	podA := boundPod("a", "n2")
	podA.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
	if _, err := e.st.Apply([]manifest.Object{podA, boundPod("b", "n1"),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s"}, Data: map[string][]byte{"k": []byte("v")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other"}, Data: map[string][]byte{"k": []byte("v")}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	mkNode := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	uid := func(s string) *metav1.DeleteOptions {
		id := types.UID(s)
		return &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &id}}
	}
	statusOf := func(p *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
		p = p.DeepCopy()
		p.Status.Phase = phase
		return p
	}
	steps := []struct {
		name   string
		client *http.Client
		method string
		path   string
		body   any
		want   int
	}{
		{"n1 registers", n1, "POST", "/api/v1/nodes", mkNode("n1"), 201},
		{"n2 registers", n2, "POST", "/api/v1/nodes", mkNode("n2"), 201},
		{"n2 registers again", n2, "POST", "/api/v1/nodes", mkNode("n2"), 409},
		{"n2 creates n1's node", n2, "POST", "/api/v1/nodes", mkNode("n3"), 403},
		{"n2 updates n1", n2, "PUT", "/api/v1/nodes/n1", mkNode("n1"), 403},
		{"n2 updates n1 status", n2, "PUT", "/api/v1/nodes/n1/status", mkNode("n1"), 403},
		{"n2 updates itself", n2, "PUT", "/api/v1/nodes/n2", mkNode("n2"), 200},
		{"n2 stale update", n2, "PUT", "/api/v1/nodes/n2", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", ResourceVersion: "1"}}, 409},
		{"n2 deletes itself", n2, "DELETE", "/api/v1/nodes/n2", nil, 403},
		{"n2 reads the secret its pod mounts", n2, "GET", "/api/v1/namespaces/default/secrets/s", nil, 200},
		{"n2 reads a secret no pod of it uses", n2, "GET", "/api/v1/namespaces/default/secrets/other", nil, 403},
		{"n1 reads n2's pod's secret", n1, "GET", "/api/v1/namespaces/default/secrets/s", nil, 403},
		{"n2 pod status", n2, "PUT", "/api/v1/namespaces/default/pods/a/status", statusOf(boundPod("a", "n2"), corev1.PodRunning), 200},
		{"n2 pod status of n1's pod", n2, "PUT", "/api/v1/namespaces/default/pods/b/status", statusOf(boundPod("b", "n1"), corev1.PodRunning), 403},
		{"n2 pod spec", n2, "PUT", "/api/v1/namespaces/default/pods/a", boundPod("a", "n2"), 403},
		{"n2 creates pod", n2, "POST", "/api/v1/namespaces/default/pods", boundPod("c", "n2"), 403},
		{"n2 missing pod status", n2, "PUT", "/api/v1/namespaces/default/pods/x/status", boundPod("x", "n2"), 404},
		{"n2 deletes n1's pod", n2, "DELETE", "/api/v1/namespaces/default/pods/b", uid("uid-b"), 403},
		{"n2 deletes without uid", n2, "DELETE", "/api/v1/namespaces/default/pods/a", nil, 403},
		{"n2 deletes with wrong uid", n2, "DELETE", "/api/v1/namespaces/default/pods/a", uid("other"), 409},
		{"n2 writes a configmap", n2, "POST", "/api/v1/namespaces/default/configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, 403},
		{"n2 writes a deployment", n2, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", nil, 403},
		{"n2 event about its pod", n2, "POST", "/api/v1/namespaces/default/events",
			manifest.NewEvent(boundPod("a", "n2"), corev1.EventTypeNormal, "Pulled", "pulled", "kubelet", "n2", time.Now()), 201},
		{"n2 event about n1's pod", n2, "POST", "/api/v1/namespaces/default/events",
			manifest.NewEvent(boundPod("b", "n1"), corev1.EventTypeNormal, "Pulled", "pulled", "kubelet", "n2", time.Now()), 403},
		{"n2 event aggregated", n2, "POST", "/api/v1/namespaces/default/events",
			manifest.NewEvent(boundPod("a", "n2"), corev1.EventTypeNormal, "Pulled", "pulled", "kubelet", "n2", time.Now().Add(time.Second)), 201},
		{"n2 event about itself under the name of its pod's event", n2, "POST", "/api/v1/namespaces/default/events",
			renamed(manifest.NewEvent(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, corev1.EventTypeNormal, "X", "x", "kubelet", "n2", time.Now()),
				manifest.NewEvent(boundPod("a", "n2"), corev1.EventTypeNormal, "Pulled", "pulled", "kubelet", "n2", time.Now()).Name), 409},
		{"n2 deletes its pod", n2, "DELETE", "/api/v1/namespaces/default/pods/a", uid("uid-a"), 200},
		{"n2 deletes it again", n2, "DELETE", "/api/v1/namespaces/default/pods/a", uid("uid-a"), 404},
	}
	for _, s := range steps {
		code, body := send(t, s.client, s.method, u+s.path, s.body)
		if code != s.want {
			t.Errorf("%s: %s %s = %d, want %d: %s", s.name, s.method, s.path, code, s.want, body)
		}
		if code == 403 && !strings.Contains(string(body), "forbidden") {
			t.Errorf("%s: 403 without a Forbidden status: %s", s.name, body)
		}
	}

	// What the writes left: n2's status reached the store, n1's pod is
	// untouched, the secret was served with its value, n2's pod is gone.
	got, err := e.st.Get(manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if phase := got.(*corev1.Pod).Status.Phase; phase != "" {
		t.Errorf("n1's pod phase = %q after n2's refused write, want empty", phase)
	}
	if _, err := e.st.Get(manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "a"}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("n2's pod after delete: err = %v, want not found", err)
	}
	// With pod a gone, n2 no longer reads its secret; a new pod using it
	// through env makes it readable again.
	if code, body := send(t, n2, "GET", u+"/api/v1/namespaces/default/secrets/s", nil); code != http.StatusForbidden {
		t.Errorf("n2 reads secret s after its pod was deleted: %d %s, want 403", code, body)
	}
	podC := boundPod("c", "n2")
	podC.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
	if _, err := e.st.Apply([]manifest.Object{podC}, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, body := send(t, n2, "GET", u+"/api/v1/namespaces/default/secrets/s", nil)
	var sec corev1.Secret
	if err := json.Unmarshal(body, &sec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]byte{"k": []byte("v")}, sec.Data); diff != "" {
		t.Errorf("secret served to a node (-want +got):\n%s", diff)
	}
	evs, err := e.st.List(manifest.KindEvent, "default")
	if err != nil || len(evs) != 1 {
		t.Fatalf("events = %d (%v), want the one n2 may record", len(evs), err)
	}
	if ev := evs[0].(*corev1.Event); ev.Count != 2 || ev.InvolvedObject.Name != "a" {
		t.Errorf("event %s about %s: count %d, want 2 about pod a", ev.Name, ev.InvolvedObject.Name, ev.Count)
	}
}

func TestAgentHandlerRefusesForeignCertificates(t *testing.T) {
	e := newAgentEnv(t)
	// A CA of its own, issuing a certificate for n1.
	other, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := other.IssueNode("n1", dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := pki.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, _, _ := pki.ClientTLS(e.writeNodeCerts(t, "n1"))
	cfg.RootCAs = good.RootCAs // trust the server: only the client's certificate is foreign
	foreign := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	if _, err := foreign.Get(e.srv.URL + "/api/v1/pods"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET with a certificate of another CA: err = %v, want a TLS certificate error", err)
	}
	none := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: good.RootCAs}}, Timeout: 5 * time.Second}
	if _, err := none.Get(e.srv.URL + "/api/v1/pods"); err == nil {
		t.Error("GET without a client certificate succeeded, want a TLS error")
	}
}

func (e *agentEnv) writeNodeCerts(t *testing.T, node string) string {
	t.Helper()
	dir := t.TempDir()
	if err := e.ca.IssueNode(node, dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNodeCannotLiftItsTaintsOrCordon(t *testing.T) {
	e := newAgentEnv(t)
	n2 := e.nodeClient(t, "n2")
	stored := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Spec: corev1.NodeSpec{
		PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24"}, Unschedulable: true,
		Taints: []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}},
	}}
	if _, err := e.st.Apply([]manifest.Object{stored}, nil, nil); err != nil {
		t.Fatal(err)
	}
	sent := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"kubernetes.io/hostname": "n2"}},
		Spec:   corev1.NodeSpec{PodCIDR: "10.42.0.0/24", PodCIDRs: []string{"10.42.0.0/24"}},
		Status: corev1.NodeStatus{Phase: corev1.NodeRunning}}
	if code, body := send(t, n2, "PUT", e.srv.URL+"/api/v1/nodes/n2", sent); code != 200 {
		t.Fatalf("PUT own node: %d %s", code, body)
	}
	obj, err := e.st.Get(manifest.Key{Kind: manifest.KindNode, Name: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*corev1.Node)
	want := stored.Spec
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("spec after the node's update (-want +got):\n%s", diff)
	}
	if got.Labels["kubernetes.io/hostname"] != "n2" || got.Status.Phase != corev1.NodeRunning {
		t.Errorf("labels %v, phase %q: the node's own changes were lost", got.Labels, got.Status.Phase)
	}
}

func renamed(ev *corev1.Event, name string) *corev1.Event {
	ev.Name, ev.Namespace = name, "default"
	return ev
}

func TestPodReferences(t *testing.T) {
	pod := boundPod("p", "n2")
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
		{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
		{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		{Name: "d", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-cm"}}},
		}}}},
		{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", EnvFrom: []corev1.EnvFromSource{
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-secret"}}}}}}
	pod.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "from-cm"}}}}
	pod.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}, Key: "k"}}},
		{Name: "B", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}, Key: "k"}}},
		{Name: "C", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-secret"}, Key: "k"}}},
		{Name: "D", Value: "plain"},
	}
	key := func(kind, name string) manifest.Key {
		return manifest.Key{Kind: kind, Namespace: "default", Name: name}
	}
	want := []manifest.Key{
		key(manifest.KindSecret, "pull"), key(manifest.KindSecret, "vol-secret"), key(manifest.KindConfigMap, "vol-cm"),
		key(manifest.KindPersistentVolumeClaim, "data"), key(manifest.KindSecret, "proj-secret"), key(manifest.KindConfigMap, "proj-cm"),
		key(manifest.KindSecret, "init-secret"), key(manifest.KindConfigMap, "from-cm"), key(manifest.KindSecret, "env-secret"),
		key(manifest.KindConfigMap, "env-cm"),
	}
	if diff := cmp.Diff(want, api.PodReferences(pod)); diff != "" {
		t.Errorf("PodReferences (-want +got):\n%s", diff)
	}
}

// TestNodeGraphReads: a node lists and watches only the Secrets,
// ConfigMaps, claims and volumes its pods reference; binding a pod that
// uses a Secret sends it as ADDED, deleting the pod sends DELETED.
func TestNodeGraphReads(t *testing.T) {
	e := newAgentEnv(t)
	n2 := e.nodeClient(t, "n2")
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Data: map[string][]byte{"k": []byte(name)}}
	}
	withClaim := boundPod("db", "n2")
	withClaim.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	if _, err := e.st.Apply([]manifest.Object{secret("used"), secret("unused"), withClaim, boundPod("x", "n1"),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-data"}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-other"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-data"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-other"}},
	}, nil, nil); err != nil {
		t.Fatal(err)
	}
	names := func(path string) []string {
		t.Helper()
		code, body := send(t, n2, "GET", e.srv.URL+path, nil)
		var list struct {
			Raw []struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"items"`
		}
		if code != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var out []string
		for _, it := range list.Raw {
			out = append(out, it.Metadata.Name)
		}
		return out
	}
	for path, want := range map[string][]string{
		"/api/v1/secrets": nil,
		"/api/v1/namespaces/default/persistentvolumeclaims": {"data"},
		"/api/v1/persistentvolumes":                         {"pv-data"},
		"/api/v1/pods":                                      {"db", "x"}, // pods stay readable
	} {
		if diff := cmp.Diff(want, names(path)); diff != "" {
			t.Errorf("n2 lists %s (-want +got):\n%s", path, diff)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/secrets?watch=1", nil)
	resp, err := n2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	next := func() string {
		t.Helper()
		var ev struct {
			Type   string        `json:"type"`
			Object corev1.Secret `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("watch: %v", err)
		}
		return ev.Type + " " + ev.Object.Name + " " + string(ev.Object.Data["k"])
	}
	user := boundPod("user", "n2")
	user.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "used"}}}}
	onN1 := boundPod("user1", "n1")
	onN1.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "unused"}}}}
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { _, err := e.st.Apply([]manifest.Object{onN1, user}, nil, nil); return err }, "ADDED used used"},
		{func() error { // n1's pod's secret changes: not n2's
			s := secret("unused")
			s.Data["k"] = []byte("changed")
			_, err := e.st.Apply([]manifest.Object{s}, nil, nil)
			return err
		}, ""},
		{func() error {
			s := secret("used")
			s.Data["k"] = []byte("v2")
			_, err := e.st.Apply([]manifest.Object{s}, nil, nil)
			return err
		}, "MODIFIED used v2"},
		{func() error { return e.st.Delete(manifest.KeyOf(user), "") }, "DELETED used v2"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if s.want != "" {
			if got := next(); got != s.want {
				t.Errorf("watch event %q, want %q", got, s.want)
			}
		}
	}
}
