package dns

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// BenchmarkQueries measures cluster-name A queries per second answered by
// the server over loopback UDP (4 in-process clients, each on its own
// socket), beside the anchor measured in the same run: a miekg/dns server on
// 127.0.0.1 whose handler returns a fixed answer without looking anything
// up, the ceiling of the library and the loopback path. ratio =
// server/anchor (goal ≥ 0.8: the index lookup costs little).
func BenchmarkQueries(b *testing.B) {
	st := &fakeStore{}
	var svcs []*corev1.Service
	for i := range 1000 {
		svcs = append(svcs, service("bench", "svc"+strconv.Itoa(i), net.IPv4(10, 43, byte(i/250+1), byte(i%250+1)).String(),
			corev1.ServicePort{Name: "http", Port: 80}))
	}
	st.set(svcs, nil)
	s := startServer(b, st)
	if err := s.Rebuild(); err != nil {
		b.Fatal(err)
	}
	anchor := fixedServer(b)

	// Alternate the two in four rounds each, so that a noisy neighbour on
	// the machine weighs on both alike.
	b.ResetTimer()
	const rounds = 4
	var took, anchorTook time.Duration
	n := max(b.N/rounds, 1)
	for range rounds {
		took += run(b, n, s.LocalAddr().String(), "svc500.bench.svc.cluster.local.")
		anchorTook += run(b, n, anchor, "svc500.bench.svc.cluster.local.")
	}
	b.StopTimer()
	qps := float64(rounds*n) / took.Seconds()
	anchorQPS := float64(rounds*n) / anchorTook.Seconds()
	b.ReportMetric(qps, "queries/s")
	b.ReportMetric(anchorQPS, "anchor-queries/s")
	b.ReportMetric(qps/anchorQPS, "ratio")
	if b.N < 1000 {
		return // the calibration run: too short to mean anything
	}
	b.Logf("cluster DNS: %.0f queries/s; anchor (fixed-answer miekg/dns server, same run) %.0f queries/s; ratio %.2f (goal ≥ 0.8)", qps, anchorQPS, qps/anchorQPS)
}

// run sends n A queries for name to addr from 4 clients and returns the
// time they took; every answer must carry one A record.
func run(b *testing.B, n int, addr, name string) time.Duration {
	const clients = 4
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
			co, err := c.Dial(addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer co.Close()
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			for next.Add(1) <= int64(n) {
				resp, _, err := c.ExchangeWithConn(m, co)
				if err != nil || len(resp.Answer) != 1 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%s: %d queries failed", addr, n)
	}
	return elapsed
}

// fixedServer answers every question with one A record, looking nothing up.
func fixedServer(b *testing.B) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: TTL}, A: net.IPv4(10, 43, 3, 1)}}
		_ = w.WriteMsg(m)
	})
	srv := &mdns.Server{PacketConn: pc, Handler: h, UDPSize: mdns.DefaultMsgSize}
	go func() { _ = srv.ActivateAndServe() }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// BenchmarkBuildIndex10k measures one whole index rebuild (what every
// Service or Endpoints change costs) at 10,000 services × 2 endpoints,
// against the 100 ms the proxy is given to reflect a readiness change.
func BenchmarkBuildIndex10k(b *testing.B) {
	const n = 10000
	svcs := make([]*corev1.Service, 0, n)
	eps := make([]*corev1.Endpoints, 0, n)
	for i := range n {
		name := "svc" + strconv.Itoa(i)
		svcs = append(svcs, service("bench", name, net.IPv4(10, 43, byte(i/250+1), byte(i%250+1)).String(),
			corev1.ServicePort{Name: "http", Port: 80}))
		eps = append(eps, endpoints("bench", name, []corev1.EndpointPort{{Name: "http", Port: 8080}},
			corev1.EndpointAddress{IP: net.IPv4(10, 42, byte(i/250), byte(i%250+1)).String()},
			corev1.EndpointAddress{IP: net.IPv4(10, 42, byte(i/250+100), byte(i%250+1)).String()}))
	}
	b.ResetTimer()
	for b.Loop() {
		BuildIndex("", netip.MustParsePrefix("10.43.0.0/16"), svcs, eps)
	}
	ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/rebuild")
	b.ReportMetric(ms/100, "ratio-to-goal")
	if b.N > 1 {
		b.Logf("index rebuild at 10k services × 2 endpoints: %.1f ms; goal ≤ 100 ms (ratio %.2f)", ms, ms/100)
	}
}
