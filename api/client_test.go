package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type stringLogs struct{}

func (stringLogs) Logs(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("hello from " + ns + "/" + pod + "/" + opts.Container + "\n")), nil
}

// newRealServer serves a real state store in a temporary directory.
func newRealServer(t *testing.T) (*state.Store, *api.Client) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(api.NewHandler(api.Config{
		Store: st, Logs: stringLogs{},
		IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
		Repo:       "https://git.example.com/acme/cluster.git", Branch: "main",
	}))
	t.Cleanup(srv.Close)
	return st, api.NewClient(srv.URL)
}

func TestClientRoundTrip(t *testing.T) {
	st, c := newRealServer(t)
	ctx := context.Background()
	two := int32(2)
	puts := []manifest.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "example/web:1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.5"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-1", Labels: map[string]string{"app": "db"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db"}, {Name: "backup"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-1"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api"}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &two}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}, Data: map[string][]byte{"password": []byte("pw")}},
	}
	if _, err := st.Apply(puts, nil, &manifest.SyncRecord{SHA: "1111111aaaa", Outcome: manifest.OutcomeApplied, Message: "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordSync(manifest.SyncRecord{SHA: "2222222bbbb", Outcome: manifest.OutcomeRejected, Errors: []string{"x.yaml:3: bad"}}); err != nil {
		t.Fatal(err)
	}

	names := func(objs []manifest.Object) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.GetNamespace()+"/"+o.GetName())
		}
		return out
	}
	lists := []struct {
		kind, ns, sel string
		want          []string
	}{
		{manifest.KindPod, "default", "", []string{"default/db-1", "default/web-1"}},
		{manifest.KindPod, "", "", []string{"default/db-1", "default/web-1", "shop/api-1"}},
		{manifest.KindPod, "", "app=web", []string{"default/web-1"}},
		{manifest.KindNode, "default", "", []string{"/node-1"}}, // namespace ignored for cluster-scoped kinds
		{manifest.KindReplicaSet, "default", "", nil},
	}
	for _, l := range lists {
		objs, err := c.List(ctx, l.kind, l.ns, l.sel)
		if err != nil {
			t.Fatalf("List(%s, %q, %q): %v", l.kind, l.ns, l.sel, err)
		}
		if diff := cmp.Diff(l.want, names(objs)); diff != "" {
			t.Errorf("List(%s, %q, %q) (-want +got):\n%s", l.kind, l.ns, l.sel, diff)
		}
		for _, o := range objs {
			if manifest.KindOf(o) != l.kind || o.GetObjectKind().GroupVersionKind().Kind != l.kind {
				t.Errorf("List(%s) returned %T with kind %q", l.kind, o, o.GetObjectKind().GroupVersionKind().Kind)
			}
		}
	}

	obj, err := c.Get(ctx, manifest.KindPod, "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*corev1.Pod)
	if p.Spec.NodeName != "node-1" || p.Status.PodIP != "10.42.0.5" || p.ResourceVersion == "" || !p.CreationTimestamp.Time.Equal(now) {
		t.Errorf("Get pod = %+v", p)
	}
	dep, err := c.Get(ctx, manifest.KindDeployment, "default", "web")
	if err != nil || *dep.(*appsv1.Deployment).Spec.Replicas != 2 {
		t.Errorf("Get deployment = %v, %v", dep, err)
	}
	sec, err := c.Get(ctx, manifest.KindSecret, "default", "db")
	if err != nil || len(sec.(*corev1.Secret).Data["password"]) != 0 || sec.GetAnnotations()[api.AnnotationRedacted] != "true" {
		t.Errorf("Get secret = %v, %v; want it redacted", sec, err)
	}

	_, err = c.Get(ctx, manifest.KindDeployment, "default", "nope")
	if !api.IsNotFound(err) || err.Error() != `deployments.apps "nope" not found` {
		t.Errorf("Get missing = %v (IsNotFound %v)", err, api.IsNotFound(err))
	}

	status, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Applied == nil || status.Applied.SHA != "1111111aaaa" || status.Rejected == nil || status.Rejected.SHA != "2222222bbbb" ||
		status.Objects[manifest.KindPod] != 3 || status.Pods["Running"] != 1 || status.Pods["Pending"] != 2 || status.Branch != "main" {
		t.Errorf("Status = %+v", status)
	}

	recs, err := c.Syncs(ctx, 1)
	if err != nil || len(recs) != 1 || recs[0].SHA != "2222222bbbb" {
		t.Errorf("Syncs(1) = %+v, %v", recs, err)
	}
	recs, err = c.Syncs(ctx, 0)
	if err != nil || len(recs) != 2 {
		t.Errorf("Syncs(0) = %+v, %v", recs, err)
	}

	rc, err := c.Logs(ctx, "default", "web-1", &corev1.PodLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(rc)
	rc.Close()
	if string(text) != "hello from default/web-1/app\n" {
		t.Errorf("Logs = %q", text)
	}
	_, err = c.Logs(ctx, "default", "db-1", &corev1.PodLogOptions{})
	if err == nil || err.Error() != "a container name must be specified for pod db-1, choose one of: [db backup]" {
		t.Errorf("Logs of a two-container pod without a container = %v", err)
	}
}

func TestClientConnectionError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := api.NewClient(addr)
	_, err = c.List(context.Background(), manifest.KindPod, "default", "")
	if err == nil {
		t.Fatal("List against a closed port succeeded")
	}
	for _, want := range []string{"http://" + addr, "start tugd", "--server/TUG_SERVER", "refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestClientNonStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := api.NewClient(srv.URL).Status(context.Background())
	want := "server " + srv.URL + " answered 502 Bad Gateway for /tug/v1/status"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestClientCancel(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := api.NewClient(srv.URL).Status(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the context's", err)
	}
}
