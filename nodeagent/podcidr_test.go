package nodeagent

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
)

func TestPodCIDRFor(t *testing.T) {
	withCIDR := func(c string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDR: c}}
	}
	tests := []struct {
		name        string
		cur         *corev1.Node
		configured  string
		want        string
		wantChanged bool
	}{
		{name: "new node, configured", configured: "10.42.0.0/24", want: "10.42.0.0/24"},
		{name: "new node, nothing configured: wait", want: ""},
		{name: "registered without one, nothing configured: wait", cur: withCIDR(""), want: ""},
		{name: "registered without one, configured", cur: withCIDR(""), configured: "10.42.0.0/24", want: "10.42.0.0/24"},
		{name: "allocated by the control plane", cur: withCIDR("10.42.3.0/24"), want: "10.42.3.0/24"},
		{name: "configured replaces stored", cur: withCIDR("10.42.3.0/24"), configured: "10.42.0.0/24", want: "10.42.0.0/24", wantChanged: true},
		{name: "same range written differently", cur: withCIDR("10.42.3.0/24"), configured: "10.42.3.7/24", want: "10.42.3.7/24"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := podCIDRFor(tc.cur, tc.configured)
			if d := cmp.Diff([]any{tc.want, tc.wantChanged}, []any{got, changed}); d != "" {
				t.Errorf("podCIDRFor (-want +got):\n%s", d)
			}
		})
	}
}

// TestResolvePodCIDRWaits: a registered node (it has a status) without a
// pod CIDR and nothing configured waits until spec.podCIDR appears, then
// sets the pod network up over it.
func TestResolvePodCIDRWaits(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := manifest.Key{Kind: manifest.KindNode, Name: "n2"}
	put := func(cidr string) {
		t.Helper()
		if err := st.Mutate(key, func(manifest.Object) (manifest.Object, error) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Spec: corev1.NodeSpec{PodCIDR: cidr},
				Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.99.0.2"}}}}
			manifest.SetTypeMeta(n)
			return n, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("")
	a := &Agent{cfg: Config{NodeName: "n2", DataDir: t.TempDir(), Store: st}, log: slog.New(slog.DiscardHandler),
		cidrSettled: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- a.resolvePodCIDR(ctx) }()

	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if got, err := a.PodCIDR(short); err == nil {
		t.Fatalf("PodCIDR settled on %q before the node had one", got)
	}
	put("10.42.5.0/24")
	if err := <-errc; err != nil {
		t.Fatalf("resolvePodCIDR: %v", err)
	}
	got, err := a.PodCIDR(ctx)
	if err != nil || got != "10.42.5.0/24" || a.net == nil {
		t.Errorf("PodCIDR = %q, %v (network set up: %v); want 10.42.5.0/24", got, err, a.net != nil)
	}
}
