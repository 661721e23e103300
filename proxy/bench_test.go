package proxy

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tug-dev/tug/internal/testenv"
)

// Anchors: kube-proxy's nftables mode, as measured upstream (KEP-3866):
// about 9 minutes to program 10,000 services × 2 endpoints from scratch
// and about 141 ms to add one service when 10,000 exist.
const (
	anchorFullSync10k = 9 * time.Minute
	anchorAddOne10k   = 141 * time.Millisecond
	goalFullSync10k   = 200 * time.Millisecond
	goalEndpoint10k   = 10 * time.Millisecond
)

// synthetic returns n ClusterIP services with two ready endpoints each,
// with resource versions as the store gives them.
func synthetic(n int) ([]*corev1.Service, []*corev1.Endpoints) {
	svcs := make([]*corev1.Service, n)
	eps := make([]*corev1.Endpoints, n)
	for i := range n {
		name := fmt.Sprintf("svc%05d", i) // sorted, as the store lists them
		svcs[i] = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, 1+i%250),
				Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}}},
		}
		a, b := 2*i, 2*i+1
		eps[i] = endpoints("bench", name, subset([]string{
			fmt.Sprintf("10.42.%d.%d", a/250, 1+a%250), fmt.Sprintf("10.42.%d.%d", b/250, 1+b%250),
		}, epPort("", corev1.ProtocolTCP, 8080)))
		svcs[i].ResourceVersion, eps[i].ResourceVersion = fmt.Sprint(2*i+1), fmt.Sprint(2*i+2)
	}
	return svcs, eps
}

func benchApplier(b *testing.B) *Applier {
	b.Helper()
	ns := testenv.NewNetNS(b)
	f, err := os.Open(ns.Path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	a := NewApplier(func() (*nftables.Conn, error) { return Dial(int(f.Fd())) }, slog.New(slog.DiscardHandler))
	b.Cleanup(func() { a.Delete(); a.Close() })
	return a
}

func report(b *testing.B, name string, per time.Duration, anchor, goal time.Duration) {
	b.Helper()
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/op")
	line := fmt.Sprintf("%s: %.2f ms", name, float64(per.Microseconds())/1000)
	if anchor > 0 {
		b.ReportMetric(float64(anchor)/float64(per), "x-faster-than-anchor")
		line += fmt.Sprintf(" | kube-proxy nftables anchor %v → %.0f× faster", anchor, float64(anchor)/float64(per))
	}
	if goal > 0 {
		b.ReportMetric(float64(per)/float64(goal), "of-goal")
		line += fmt.Sprintf(" | goal ≤ %v → %.2f of goal", goal, float64(per)/float64(goal))
	}
	b.Log(line)
}

// BenchmarkFullSync renders and programs n services × 2 endpoints from
// scratch: the whole table replaced in one batch, as at start.
func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := benchApplier(b)
			svcs, eps := synthetic(n)
			b.ResetTimer()
			for b.Loop() {
				a.tracker = nil // force the rebuild a start does
				if err := a.Apply(Render(serviceCIDR, svcs, eps)); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			if n == 10000 {
				report(b, "full sync 10k×2", per, anchorFullSync10k, goalFullSync10k)
			} else {
				report(b, fmt.Sprintf("full sync %d×2", n), per, 0, 0)
			}
		})
	}
}

// BenchmarkChange10k measures one change with 10,000 services programmed,
// from the store's objects to the kernel as Proxy.Sync does it: render
// (a Renderer, which re-renders only the changed Service), diff, one
// batch.
func BenchmarkChange10k(b *testing.B) {
	const n = 10000
	for _, tc := range []struct{ name, what string }{
		{"endpoint-replaced", "one endpoint replaced at 10k"},
		{"endpoint-removed", "one endpoint removed (2→1) at 10k"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := benchApplier(b)
			r := &Renderer{}
			svcs, eps := synthetic(n)
			if err := a.Apply(r.Render(serviceCIDR, svcs, eps)); err != nil {
				b.Fatal(err)
			}
			orig := eps[n/2]
			ips := []string{"10.42.200.1", orig.Subsets[0].Addresses[1].IP}
			if tc.name == "endpoint-removed" {
				ips = ips[1:]
			}
			changed := endpoints("bench", orig.Name, subset(ips, epPort("", corev1.ProtocolTCP, 8080)))
			changed.ResourceVersion = "changed"
			i := 0
			for b.Loop() {
				if i++; i%2 == 1 {
					eps[n/2] = changed
				} else {
					eps[n/2] = orig
				}
				if err := a.Apply(r.Render(serviceCIDR, svcs, eps)); err != nil {
					b.Fatal(err)
				}
			}
			report(b, tc.what, b.Elapsed()/time.Duration(b.N), 0, goalEndpoint10k)
		})
	}
	b.Run("add-service", func(b *testing.B) {
		a := benchApplier(b)
		r := &Renderer{}
		svcs, eps := synthetic(n + 1)
		if err := a.Apply(r.Render(serviceCIDR, svcs[:n], eps[:n])); err != nil {
			b.Fatal(err)
		}
		var added time.Duration
		for b.Loop() {
			start := time.Now()
			if err := a.Apply(r.Render(serviceCIDR, svcs, eps)); err != nil {
				b.Fatal(err)
			}
			added += time.Since(start)
			if err := a.Apply(r.Render(serviceCIDR, svcs[:n], eps[:n])); err != nil {
				b.Fatal(err)
			}
		}
		report(b, "add one service at 10k", added/time.Duration(b.N), anchorAddOne10k, 0)
	})
}
