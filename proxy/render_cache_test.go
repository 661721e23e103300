package proxy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestRendererMatchesRenderNode drives a Renderer through random changes
// (endpoints changed with and without a new resource version, services
// added, removed, changed, made NodePort Local; unsorted and duplicate
// input) and checks every result against RenderNode's from scratch.
func TestRendererMatchesRenderNode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rv := 0
	nextRV := func() string { rv++; return fmt.Sprint(rv) }
	mkSvc := func(i int) *corev1.Service {
		s := service("ns"+fmt.Sprint(i%3), fmt.Sprintf("s%02d", i), "ClusterIP", fmt.Sprintf("10.43.0.%d", i+1),
			port("http", "", 80, 8080, 0), port("dns", corev1.ProtocolUDP, 53, 5353, 0))
		s.ResourceVersion = nextRV()
		switch rng.IntN(4) {
		case 0:
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = int32(30000 + i)
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		case 1:
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(1 + rng.IntN(3)))}}
		case 2:
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}
		return s
	}
	mkEp := func(s *corev1.Service, withRV bool) *corev1.Endpoints {
		var ips []string
		for k := range rng.IntN(4) {
			ips = append(ips, fmt.Sprintf("10.42.%d.%d", rng.IntN(3), k+2))
		}
		ss := subset(ips, epPort("http", "", 8080), epPort("dns", corev1.ProtocolUDP, 5353))
		for k := range ss.Addresses {
			ss.Addresses[k].NodeName = ptr([]string{"n1", "n2"}[rng.IntN(2)])
		}
		e := endpoints(s.Namespace, s.Name, ss)
		if withRV {
			e.ResourceVersion = nextRV()
		}
		return e
	}
	byName := func(a, b *corev1.Service) int { return compareName(a.Namespace, a.Name, b.Namespace, b.Name) }
	byNameEp := func(a, b *corev1.Endpoints) int { return compareName(a.Namespace, a.Name, b.Namespace, b.Name) }

	var svcs []*corev1.Service
	var eps []*corev1.Endpoints
	for i := range 20 {
		svcs = append(svcs, mkSvc(i))
		if rng.IntN(5) > 0 {
			eps = append(eps, mkEp(svcs[i], true))
		}
	}
	r := &Renderer{Node: "n1"}
	for step := range 300 {
		slices.SortFunc(svcs, byName)
		slices.SortFunc(eps, byNameEp)
		inS, inE := svcs, eps
		switch rng.IntN(10) {
		case 0: // unsorted input: the Renderer falls back to RenderNode
			inS = slices.Clone(svcs)
			rng.Shuffle(len(inS), func(a, b int) { inS[a], inS[b] = inS[b], inS[a] })
		case 1: // a Service listed twice
			if len(svcs) > 0 {
				inS = slices.Insert(slices.Clone(svcs), 0, svcs[0])
			}
		}
		got := r.Render(serviceCIDR, inS, inE)
		want := RenderNode(serviceCIDR, "n1", inS, inE)
		if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
			cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
			t.Fatalf("step %d: Renderer differs from RenderNode (-want +got):\n%s", step, d)
		}
		// Change something.
		switch k := rng.IntN(6); {
		case k == 0 && len(eps) > 0: // new endpoints object, new resource version
			i := rng.IntN(len(eps))
			for _, s := range svcs {
				if s.Namespace == eps[i].Namespace && s.Name == eps[i].Name {
					eps[i] = mkEp(s, true)
				}
			}
		case k == 1 && len(eps) > 0: // a new object without a resource version
			i := rng.IntN(len(eps))
			for _, s := range svcs {
				if s.Namespace == eps[i].Namespace && s.Name == eps[i].Name {
					eps[i] = mkEp(s, false)
				}
			}
		case k == 2 && len(svcs) > 0: // a Service and its Endpoints go
			i := rng.IntN(len(svcs))
			gone := svcs[i]
			svcs = slices.Delete(svcs, i, i+1)
			eps = slices.DeleteFunc(eps, func(e *corev1.Endpoints) bool { return e.Namespace == gone.Namespace && e.Name == gone.Name })
		case k == 3: // a Service comes (or changes, under an old name)
			i := rng.IntN(30)
			s := mkSvc(i)
			svcs = slices.DeleteFunc(svcs, func(o *corev1.Service) bool { return o.Namespace == s.Namespace && o.Name == s.Name })
			svcs = append(svcs, s)
		case k == 4 && len(eps) > 0: // Endpoints go, the Service stays
			i := rng.IntN(len(eps))
			eps = slices.Delete(eps, i, i+1)
		}
	}
}
