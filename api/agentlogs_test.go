package api

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api/pki"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLogsFromAnotherNode: the server reads the log of a pod bound to
// another node from that node's log listener over mutual TLS, with the
// same options; the listener serves only the server's certificate.
func TestLogsFromAnotherNode(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"), now)
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "n2")
	if err := ca.IssueNode("n2", certDir, now); err != nil {
		t.Fatal(err)
	}
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app"}}}}
	}
	// n2's listener, over the pods n2 sees.
	n2Logs := &fakeLogs{open: func(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("n2 log of " + ns + "/" + name + "/" + opts.Container + "\n")), nil
	}}
	isNotFound := func(err error) bool { return errors.Is(err, errNotFound) }
	serving, node, err := pki.NodeServingTLS(certDir)
	if err != nil || node != "n2" {
		t.Fatalf("NodeServingTLS = %q, %v", node, err)
	}
	listener := httptest.NewUnstartedServer(NewNodeLogHandler(NodeLogConfig{NodeName: "n2",
		Store: newFakeStore(pod("remote", "n2"), pod("local", "n1")), IsNotFound: isNotFound, Logs: n2Logs}))
	listener.TLS = serving
	listener.Config.ErrorLog = log.New(io.Discard, "", 0)
	listener.StartTLS()
	defer listener.Close()
	_, portStr, _ := net.SplitHostPort(listener.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	n2Node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}
	n2Node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n2Node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	silent := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}}
	clientCert, err := ca.ServerClientCertificate(filepath.Join(dir, "pki"), now)
	if err != nil {
		t.Fatal(err)
	}
	localLogs := &fakeLogs{open: func(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("n1 log of " + name + "\n")), nil
	}}
	srv := httptest.NewServer(NewHandler(Config{
		Store:    newFakeStore(pod("remote", "n2"), pod("local", "n1"), pod("lost", "n3"), pod("gone", "n4"), n2Node, silent),
		NodeName: "n1", Logs: localLogs, NodeLogs: NewNodeLogClient(pki.NodeLogClientTLS(ca, clientCert)),
		IsNotFound: isNotFound,
	}))
	defer srv.Close()

	tail, since := int64(3), int64(60)
	tests := []struct {
		path     string
		wantCode int
		wantBody string
		wantOpts *corev1.PodLogOptions // what n2's agent was asked
	}{
		{"/api/v1/namespaces/default/pods/remote/log?tailLines=3&sinceSeconds=60&timestamps=true&previous=true&container=app", 200,
			"n2 log of default/remote/app\n", &corev1.PodLogOptions{Container: "app", TailLines: &tail, SinceSeconds: &since, Timestamps: true, Previous: true}},
		{"/api/v1/namespaces/default/pods/local/log", 200, "n1 log of local\n", nil},
		{"/api/v1/namespaces/default/pods/lost/log", 503, "node n3 publishes no log endpoint", nil},
		{"/api/v1/namespaces/default/pods/gone/log", 503, "node n4, which is not registered", nil},
	}
	for _, tt := range tests {
		n2Logs.last = nil
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, resp.StatusCode, body, tt.wantCode, tt.wantBody)
		}
		if tt.wantOpts != nil {
			if diff := cmp.Diff(tt.wantOpts, n2Logs.lastOpts()); diff != "" {
				t.Errorf("GET %s: options on n2 (-want +got):\n%s", tt.path, diff)
			}
		}
	}

	// A node's own client certificate is refused by another node's log
	// listener: only the server reads logs.
	nodeTLS, _, err := pki.ClientTLS(certDir)
	if err != nil {
		t.Fatal(err)
	}
	nodeTLS.ServerName = "n2"
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: nodeTLS}}
	resp, err := c.Get(listener.URL + "/containerLogs/default/remote/app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a node certificate reading logs on n2: %s, want 403", resp.Status)
	}
	// The server checks the listener's certificate names the node it asked
	// for: n2's certificate does not pass as n3's.
	impostor := n2Node.DeepCopy()
	impostor.Name = "n3"
	_, err = NewNodeLogClient(pki.NodeLogClientTLS(ca, clientCert)).NodeLogs(context.Background(), impostor, "default", "remote", &corev1.PodLogOptions{Container: "app"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("reading from n2's listener as n3: err = %v, want a certificate error", err)
	}
}
