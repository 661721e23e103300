package nodeagent

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kptr "k8s.io/utils/ptr"
)

func TestLeaseObject(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	ownerRef := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "node-uid"}}
	renewed := func(l *coordinationv1.Lease) *coordinationv1.Lease {
		l.TypeMeta = metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"}
		l.Spec.HolderIdentity = kptr.To("n1")
		l.Spec.LeaseDurationSeconds = kptr.To[int32](10)
		l.Spec.RenewTime = kptr.To(metav1.NewMicroTime(now))
		return l
	}
	for _, tc := range []struct {
		name  string
		cur   *coordinationv1.Lease
		owner *corev1.Node
		want  *coordinationv1.Lease
	}{{
		name:  "new, owned by its Node",
		owner: node,
		want: renewed(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease",
			OwnerReferences: ownerRef}}),
	}, {
		name: "new, Node not read yet: no owner",
		want: renewed(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"}}),
	}, {
		name: "renewed: version, owner and labels kept, holder and duration restored",
		cur: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease", ResourceVersion: "7",
			UID: "lease-uid", Labels: map[string]string{"a": "b"}, OwnerReferences: ownerRef},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: kptr.To("someone"), LeaseDurationSeconds: kptr.To[int32](40),
				RenewTime: kptr.To(metav1.NewMicroTime(now.Add(-time.Minute)))}},
		owner: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "other-uid"}},
		want: renewed(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease", ResourceVersion: "7",
			UID: "lease-uid", Labels: map[string]string{"a": "b"}, OwnerReferences: ownerRef}}),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var before *coordinationv1.Lease
			if tc.cur != nil {
				before = tc.cur.DeepCopy()
			}
			got := leaseObject(tc.cur, "n1", tc.owner, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lease (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.cur); diff != "" {
				t.Errorf("leaseObject changed its input:\n%s", diff)
			}
		})
	}
}

// TestRunLease renews the Lease in a real store on every tick, with the
// injected clock, owned by the registered Node, and stops with ctx.
func TestRunLease(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Mutate(manifest.Key{Kind: manifest.KindNode, Name: "n1"}, func(manifest.Object) (manifest.Object, error) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		manifest.SetTypeMeta(n)
		return n, nil
	}); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Get(manifest.Key{Kind: manifest.KindNode, Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tick := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(LeaseRenewPeriod)
		return clock
	}
	a := &Agent{cfg: Config{NodeName: "n1", Store: st}, log: slog.New(slog.DiscardHandler), clock: tick}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.runLease(ctx, 5*time.Millisecond)
	}()
	key := manifest.Key{Kind: manifest.KindLease, Namespace: corev1.NamespaceNodeLease, Name: "n1"}
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(3 * LeaseRenewPeriod)
	deadline := time.Now().Add(5 * time.Second)
	var l *coordinationv1.Lease
	for {
		o, err := st.Get(key)
		if err == nil {
			l = o.(*coordinationv1.Lease)
			if !l.Spec.RenewTime.Time.Before(want) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not renewed three times within 5 s: %v (err %v)", l, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("runLease did not stop with its context")
	}
	if *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 10 {
		t.Errorf("lease spec = %+v, want holder n1, duration 10", l.Spec)
	}
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != stored.GetUID() || stored.GetUID() == "" {
		t.Errorf("lease owners = %+v, want the Node (uid %q)", l.OwnerReferences, stored.GetUID())
	}
}

// BenchmarkLeaseRenewal measures one renewal of the node's Lease in a real
// store (one bbolt write, fsync included) beside its budget: a renewal
// every LeaseRenewPeriod (2.5 s) should cost a negligible share of it.
func BenchmarkLeaseRenewal(b *testing.B) {
	st, err := state.Open(filepath.Join(b.TempDir(), "state.db"), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	a := &Agent{cfg: Config{NodeName: "n1", Store: st}, log: slog.New(slog.DiscardHandler), clock: time.Now}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid"}}
	for b.Loop() {
		if err := a.renewLease(node); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	share := per.Seconds() / LeaseRenewPeriod.Seconds()
	b.ReportMetric(per.Seconds()*1e3, "ms/renewal")
	b.ReportMetric(share*100, "%-of-period")
	b.Logf("lease renewal: %v each (one store write); %.3f%% of the %v renew period; Kubernetes' kubelet renews every 10 s (a quarter of its 40 s lease)",
		per.Round(time.Microsecond), share*100, LeaseRenewPeriod)
}
