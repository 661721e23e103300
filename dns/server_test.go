package dns

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// fakeStore holds Services and Endpoints; set replaces them and notifies.
type fakeStore struct {
	mu      sync.Mutex
	objs    map[string][]manifest.Object
	waiters []chan struct{}
}

func (f *fakeStore) List(kind, _ string) ([]manifest.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.objs[kind]), nil
}

func (f *fakeStore) Notify(ctx context.Context, _ ...string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.waiters = append(f.waiters, ch)
	return ch
}

func (f *fakeStore) set(services []*corev1.Service, eps []*corev1.Endpoints) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs = map[string][]manifest.Object{}
	for _, s := range services {
		f.objs[manifest.KindService] = append(f.objs[manifest.KindService], s)
	}
	for _, e := range eps {
		f.objs[manifest.KindEndpoints] = append(f.objs[manifest.KindEndpoints], e)
	}
	for _, ch := range f.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// fakeUpstream answers every A question with 192.0.2.1 on 127.0.0.1 (UDP
// and TCP) and counts them.
func fakeUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	})
	for _, s := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func startServer(t testing.TB, st Store, upstreams ...string) *Server {
	t.Helper()
	s, err := New(Config{Store: st, Addr: "127.0.0.1:0", Upstreams: upstreams, ForwardTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func query(t testing.TB, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return resp
}

func summary(m *mdns.Msg) []string {
	out := []string{mdns.RcodeToString[m.Rcode]}
	for _, r := range m.Answer {
		out = append(out, r.String())
	}
	return out
}

func TestServer(t *testing.T) {
	st := &fakeStore{}
	st.set([]*corev1.Service{service("hello", "hello", "10.43.0.20")}, nil)
	s := startServer(t, st, fakeUpstream(t))
	addr := s.LocalAddr().String()

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("the first index", func() bool {
		return query(t, "udp", addr, "hello.hello.svc.cluster.local.", mdns.TypeA).Rcode == mdns.RcodeSuccess
	})
	tests := []struct {
		network, name string
		qtype         uint16
		want          []string
	}{
		{"udp", "hello.hello.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "hello.hello.svc.cluster.local.\t5\tIN\tA\t10.43.0.20"}},
		{"tcp", "hello.hello.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "hello.hello.svc.cluster.local.\t5\tIN\tA\t10.43.0.20"}},
		{"udp", "gone.hello.svc.cluster.local.", mdns.TypeA, []string{"NXDOMAIN"}},
		{"udp", "20.0.43.10.in-addr.arpa.", mdns.TypePTR, []string{"NOERROR", "20.0.43.10.in-addr.arpa.\t5\tIN\tPTR\thello.hello.svc.cluster.local."}},
		{"udp", "example.org.", mdns.TypeA, []string{"NOERROR", "example.org.\t60\tIN\tA\t192.0.2.1"}},
		{"tcp", "example.org.", mdns.TypeA, []string{"NOERROR", "example.org.\t60\tIN\tA\t192.0.2.1"}},
	}
	for _, tt := range tests {
		got := query(t, tt.network, addr, tt.name, tt.qtype)
		if diff := cmp.Diff(tt.want, summary(got)); diff != "" {
			t.Errorf("%s %s %s (-want +got):\n%s", tt.network, tt.name, mdns.TypeToString[tt.qtype], diff)
		}
		if !got.Authoritative && tt.name != "example.org." {
			t.Errorf("%s: answer not authoritative", tt.name)
		}
	}

	// A change in the store reaches the answers.
	st.set([]*corev1.Service{service("hello", "hello", "10.43.0.21")}, nil)
	wait("the new cluster IP", func() bool {
		got := summary(query(t, "udp", addr, "hello.hello.svc.cluster.local.", mdns.TypeA))
		return len(got) == 2 && got[1] == "hello.hello.svc.cluster.local.\t5\tIN\tA\t10.43.0.21"
	})

	// A headless service with more addresses than fit 512 bytes is
	// truncated over UDP and whole over TCP.
	var addrs []corev1.EndpointAddress
	for i := range 60 {
		addrs = append(addrs, corev1.EndpointAddress{IP: net.IPv4(10, 42, 0, byte(i+2)).String()})
	}
	st.set([]*corev1.Service{service("db", "big", corev1.ClusterIPNone)}, []*corev1.Endpoints{endpoints("db", "big", nil, addrs...)})
	wait("the headless service", func() bool {
		return query(t, "tcp", addr, "big.db.svc.cluster.local.", mdns.TypeA).Rcode == mdns.RcodeSuccess
	})
	if got := query(t, "tcp", addr, "big.db.svc.cluster.local.", mdns.TypeA); len(got.Answer) != 60 || got.Truncated {
		t.Errorf("tcp: %d answers (truncated %v), want 60", len(got.Answer), got.Truncated)
	}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion("big.db.svc.cluster.local.", mdns.TypeA)
	if got, _, err := c.Exchange(m, addr); err != nil || !got.Truncated || len(got.Answer) >= 60 {
		t.Errorf("udp: %v, truncated %v with %d answers; want a truncated answer", err, got != nil && got.Truncated, len(got.Answer))
	}
	m.SetEdns0(4096, false) // room for all of them
	if got, _, err := c.Exchange(m, addr); err != nil || got.Truncated || len(got.Answer) != 60 || got.IsEdns0() == nil {
		t.Errorf("udp with EDNS0 4096: %v, %+v; want 60 answers, not truncated, with an OPT record", err, got)
	}
}

func TestServerUpstreamDown(t *testing.T) {
	// A port nobody listens on: the exchange fails (refused or timed out).
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	s := startServer(t, &fakeStore{}, dead)
	got := query(t, "udp", s.LocalAddr().String(), "example.org.", mdns.TypeA)
	if got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", mdns.RcodeToString[got.Rcode])
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "search example.org\nnameserver 192.0.2.53\nnameserver 10.42.0.1\nnameserver 198.51.100.1\noptions ndots:1\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := UpstreamsFromResolvConf(path, "10.42.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"192.0.2.53:53", "198.51.100.1:53"}, got); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
	if _, err := UpstreamsFromResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: want an error")
	}
}

// TestServerListenRetry: a taken port is retried until it is free.
func TestServerListenRetry(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	s, err := New(Config{Store: &fakeStore{}, Addr: addr, RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if s.LocalAddr().IsValid() {
		t.Fatal("listening on a taken port")
	}
	pc.Close()
	deadline := time.Now().Add(2 * time.Second)
	for !s.LocalAddr().IsValid() {
		if time.Now().After(deadline) {
			t.Fatal("not listening 2 s after the port was freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := query(t, "udp", addr, "x.hello.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeNameError {
		t.Errorf("rcode = %s, want NXDOMAIN", mdns.RcodeToString[got.Rcode])
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
