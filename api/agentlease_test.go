package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAgentLeaseWrites: a node creates and renews only its own Lease in
// kube-node-lease over the agent listener; renewals keep the UID and
// honour resourceVersion preconditions.
func TestAgentLeaseWrites(t *testing.T) {
	e := newAgentEnv(t)
	n1, n2 := e.nodeClient(t, "n1"), e.nodeClient(t, "n2")
	base := e.srv.URL + "/apis/coordination.k8s.io/v1/namespaces/"
	lease := func(ns, name string, renewed time.Time) *coordinationv1.Lease {
		holder, secs, at := name, int32(10), metav1.NewMicroTime(renewed)
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &at}}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	decode := func(data []byte) *coordinationv1.Lease {
		t.Helper()
		var l coordinationv1.Lease
		if err := json.Unmarshal(data, &l); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		return &l
	}
	code, body := send(t, n2, http.MethodPost, base+"kube-node-lease/leases", lease("", "n2", t0))
	if code != http.StatusCreated {
		t.Fatalf("create own lease: %d %s", code, body)
	}
	created := decode(body)
	for _, tc := range []struct {
		name   string
		client *http.Client
		method string
		url    string
		body   *coordinationv1.Lease
		want   int
	}{
		{"create again", n2, http.MethodPost, base + "kube-node-lease/leases", lease("", "n2", t0), http.StatusConflict},
		{"create another node's", n2, http.MethodPost, base + "kube-node-lease/leases", lease("", "n1", t0), http.StatusForbidden},
		{"create in another namespace", n2, http.MethodPost, base + "default/leases", lease("", "n2", t0), http.StatusForbidden},
		{"renew another node's", n1, http.MethodPut, base + "kube-node-lease/leases/n2", lease("kube-node-lease", "n2", t0), http.StatusForbidden},
		{"renew a missing one", n1, http.MethodPut, base + "kube-node-lease/leases/n1", lease("kube-node-lease", "n1", t0), http.StatusNotFound},
		{"renew with a mismatched version", n2, http.MethodPut, base + "kube-node-lease/leases/n2", func() *coordinationv1.Lease {
			l := lease("kube-node-lease", "n2", t0)
			l.ResourceVersion = "999"
			return l
		}(), http.StatusConflict},
		{"delete own", n2, http.MethodDelete, base + "kube-node-lease/leases/n2", nil, http.StatusForbidden},
	} {
		var body any
		if tc.body != nil {
			body = tc.body
		}
		if code, data := send(t, tc.client, tc.method, tc.url, body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, data, tc.want)
		}
	}
	renew := lease("kube-node-lease", "n2", t0.Add(2500*time.Millisecond))
	renew.ResourceVersion = created.ResourceVersion
	if code, body := send(t, n2, http.MethodPut, base+"kube-node-lease/leases/n2", renew); code != http.StatusOK {
		t.Fatalf("renew own lease: %d %s", code, body)
	}
	o, err := e.st.Get(manifest.Key{Kind: manifest.KindLease, Namespace: corev1.NamespaceNodeLease, Name: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	got := o.(*coordinationv1.Lease)
	if !got.Spec.RenewTime.Time.Equal(t0.Add(2500*time.Millisecond)) || got.UID != created.UID || got.UID == "" {
		t.Errorf("stored lease renewTime %v uid %q, want %v and uid %q", got.Spec.RenewTime, got.UID, t0.Add(2500*time.Millisecond), created.UID)
	}
}
