package remote_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/api/remote"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// env is a server store behind a real agent listener (mutual TLS) and a
// remote.Store for node n2 following it.
type env struct {
	server *state.Store
	srv    *httptest.Server
	rs     *remote.Store
	tls    *tls.Config // n2's client configuration
}

func newEnv(t testing.TB, objs ...manifest.Object) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) > 0 {
		if _, err := st.Apply(objs, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watches := api.NewWatchCache(st, 0, nil)
	watchDone := make(chan error, 1)
	go func() { watchDone <- watches.Run(ctx) }()
	<-watches.Ready()
	srv := httptest.NewUnstartedServer(api.NewAgentHandler(api.Config{
		Store: st, Watch: watches, IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
	}, st))
	srv.TLS = pki.ServerTLS(ca, cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()

	certDir := filepath.Join(dir, "n2")
	if err := ca.IssueNode("n2", certDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	tlsCfg, _, err := pki.ClientTLS(certDir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := remote.New(remote.Config{Server: srv.URL, TLS: tlsCfg, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- rs.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runDone
		srv.Close()
		<-watchDone
		st.Close()
	})
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if err := rs.WaitSynced(syncCtx); err != nil {
		t.Fatal(err)
	}
	return &env{server: st, srv: srv, rs: rs, tls: tlsCfg}
}

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}}}
}

func names(objs []manifest.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheFollowsTheServer(t *testing.T) {
	e := newEnv(t, pod("b", "n2"), pod("a", "n1"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "cfg"}})
	got, err := e.rs.List(manifest.KindPod, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"default/a", "default/b"}, names(got)); diff != "" {
		t.Errorf("cached pods (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := e.rs.Notify(ctx, manifest.KindConfigMap)
	// n2 reads only the ConfigMaps its pods use (the node graph): a pod
	// bound to it mounts the new one.
	user := pod("user", "n2")
	user.Namespace = "x"
	user.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "new"}}}}}
	if _, err := e.server.Apply([]manifest.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "new"}}, user}, nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cms:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of a ConfigMap created on the server")
	}
	if _, err := e.rs.Get(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "x", Name: "new"}); err != nil {
		t.Errorf("Get after the notification: %v", err)
	}
	if _, err := e.rs.Get(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "x", Name: "nope"}); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("Get of a missing object: err = %v, want ErrNotFound", err)
	}

	// A broken connection is resumed: later changes still arrive.
	e.srv.CloseClientConnections()
	if err := e.server.Delete(manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "a"}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion to reach the cache after a reconnect", func() bool {
		got, _ := e.rs.List(manifest.KindPod, "")
		return cmp.Equal(names(got), []string{"default/b", "x/user"})
	})
}

func TestMutateRetriesOnConflict(t *testing.T) {
	e := newEnv(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}})
	key := manifest.Key{Kind: manifest.KindNode, Name: "n2"}
	calls := 0
	err := e.rs.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		calls++
		if calls == 1 {
			// Another writer (the reconciler merging Git labels) commits
			// between this read and the write.
			if err := e.server.Mutate(key, func(c manifest.Object) (manifest.Object, error) {
				n := c.(*corev1.Node).DeepCopy()
				n.Labels = map[string]string{"from": "git"}
				return n, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		n := cur.(*corev1.Node).DeepCopy()
		n.Status.Phase = corev1.NodeRunning
		return n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("fn called %d times, want 2 (one conflict, one retry)", calls)
	}
	got, err := e.server.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	n := got.(*corev1.Node)
	if n.Labels["from"] != "git" || n.Status.Phase != corev1.NodeRunning {
		t.Errorf("node after both writes: labels %v, phase %q; want both kept", n.Labels, n.Status.Phase)
	}
	// The cache holds the written version at once.
	cached, err := e.rs.Get(key)
	if err != nil || cached.GetResourceVersion() != n.ResourceVersion {
		t.Errorf("cached node version = %v (%v), want %s", cached, err, n.ResourceVersion)
	}
}

func TestMutateCreatesItsNode(t *testing.T) {
	e := newEnv(t)
	key := manifest.Key{Kind: manifest.KindNode, Name: "n2"}
	err := e.rs.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		if cur != nil {
			t.Errorf("cur = %v, want nil for a missing node", cur)
		}
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.server.Get(key); err != nil {
		t.Errorf("node on the server: %v", err)
	}
	// Another node's Node is refused by the server.
	err = e.rs.Mutate(manifest.Key{Kind: manifest.KindNode, Name: "n1"}, func(manifest.Object) (manifest.Object, error) {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("creating n1 as n2: err = %v, want forbidden", err)
	}
}

func TestPodStatusAndDelete(t *testing.T) {
	e := newEnv(t, pod("a", "n2"))
	key := manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "a"}
	stored, err := e.server.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	uid := stored.GetUID()
	err = e.rs.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		p := cur.(*corev1.Pod).DeepCopy()
		p.Status.Phase = corev1.PodRunning
		p.Spec.Containers[0].Image = "changed/by:node" // not the node's to change
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.server.Get(key)
	p := got.(*corev1.Pod)
	if p.Status.Phase != corev1.PodRunning || p.Spec.Containers[0].Image != "example/app:1" {
		t.Errorf("pod after a status write: phase %q image %q; want Running and the spec unchanged", p.Status.Phase, p.Spec.Containers[0].Image)
	}
	if err := e.rs.Delete(key, types.UID("another")); err != nil {
		t.Errorf("Delete with another UID: %v, want nil (not ours to delete)", err)
	}
	if _, err := e.server.Get(key); err != nil {
		t.Errorf("pod deleted despite another UID: %v", err)
	}
	if err := e.rs.Delete(key, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := e.server.Get(key); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("pod after Delete with its UID: %v, want not found", err)
	}
	if err := e.rs.Delete(key, uid); err != nil {
		t.Errorf("repeated Delete: %v, want nil", err)
	}
	ev := manifest.NewEvent(pod("a", "n2"), corev1.EventTypeWarning, "Failed", "boom", "kubelet", "n2", time.Now())
	if err := e.rs.RecordEvent(ev); err == nil {
		t.Error("event about a deleted pod accepted, want forbidden")
	}
	nodeEv := manifest.NewEvent(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, corev1.EventTypeNormal, "Starting", "up", "kubelet", "n2", time.Now())
	if err := e.rs.RecordEvent(nodeEv); err != nil {
		t.Errorf("event about itself: %v", err)
	}
}

// TestStartsBeforeTheServer: a node agent started before its server keeps
// retrying the first list with back-off and syncs once the server is up.
func TestStartsBeforeTheServer(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Apply([]manifest.Object{pod("a", "n2")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A loopback address of its own (all of 127/8 is local), so that
	// nothing else takes the reserved port before the server binds it.
	host := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
	cert, err := ca.ServerCertificate(filepath.Join(dir, "pki"), []string{host}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "n2")
	if err := ca.IssueNode("n2", certDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	tlsCfg, _, err := pki.ClientTLS(certDir)
	if err != nil {
		t.Fatal(err)
	}
	// Reserve an address, and leave it closed: the server is not up yet.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs syncBuffer
	rs, err := remote.New(remote.Config{Server: "https://" + addr, TLS: tlsCfg, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- rs.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-runDone
		}
	}
	defer stop()
	synced := make(chan error, 1)
	go func() { synced <- rs.WaitSynced(ctx) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-synced:
		t.Fatalf("WaitSynced returned %v before the server was up", err)
	default:
	}
	if !strings.Contains(logs.String(), "list failed; retrying") {
		t.Errorf("no failure logged while the server was down; log:\n%s", logs.String())
	}

	watches := api.NewWatchCache(st, 0, nil)
	go func() { _ = watches.Run(ctx) }()
	<-watches.Ready()
	srv := httptest.NewUnstartedServer(api.NewAgentHandler(api.Config{
		Store: st, Watch: watches, IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
	}, st))
	if srv.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Fatalf("listen on the reserved address %s: %v", addr, err)
	}
	srv.TLS = pki.ServerTLS(ca, cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close() // after the store has stopped (deferred later, runs first): its watches are open
	defer stop()
	select {
	case err := <-synced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not synced 5 s after the server came up")
	}
	if _, err := rs.Get(manifest.Key{Kind: manifest.KindPod, Namespace: "default", Name: "a"}); err != nil {
		t.Errorf("Get after the late sync: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
