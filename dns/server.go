package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// Store is what the server reads: *state.Store satisfies it.
type Store interface {
	List(kind, namespace string) ([]manifest.Object, error)
	Notify(ctx context.Context, kinds ...string) <-chan struct{}
}

// Config wires a Server.
type Config struct {
	Store Store
	// Addr is where to listen, UDP and TCP, e.g. "10.42.0.1:53". The
	// address need not exist yet (the sockets are bound with IP_FREEBIND):
	// the pod bridge's gateway address appears with the first pod.
	Addr string
	// Domain is the cluster domain; default DefaultDomain.
	Domain string
	// ServiceCIDR: reverse names inside it that are not a cluster IP do
	// not exist (instead of being forwarded).
	ServiceCIDR netip.Prefix
	// Upstreams are the resolvers (host:port) other names are forwarded
	// to, tried in order; see UpstreamsFromResolvConf. None: SERVFAIL.
	Upstreams []string
	// ForwardTimeout bounds each upstream exchange; default 2 s.
	ForwardTimeout time.Duration
	Logger         *slog.Logger
	// RetryInterval is the wait after a failed index rebuild; default 1 s.
	RetryInterval time.Duration
}

// Server is the node's cluster DNS server. See the package documentation.
type Server struct {
	cfg   Config
	log   *slog.Logger
	index atomic.Pointer[Index]

	mu  sync.Mutex
	pc  net.PacketConn
	ln  net.Listener
	fwd [2]*mdns.Client // udp, tcp
}

// New checks cfg and returns a Server that answers NXDOMAIN for every
// cluster name until its first Rebuild (Run does one at start).
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("dns: Store is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dns: listen address %q: %w", cfg.Addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.fwd[0] = &mdns.Client{Net: "udp", Timeout: cfg.ForwardTimeout, UDPSize: mdns.DefaultMsgSize}
	s.fwd[1] = &mdns.Client{Net: "tcp", Timeout: cfg.ForwardTimeout}
	s.index.Store(BuildIndex(cfg.Domain, cfg.ServiceCIDR, nil, nil))
	return s, nil
}

// UpstreamsFromResolvConf reads the nameservers of a resolv.conf file (the
// host's /etc/resolv.conf) as host:port, leaving out skip (the server's own
// addresses, so it never forwards to itself).
func UpstreamsFromResolvConf(path string, skip ...string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	var out []string
	for _, ns := range cc.Servers {
		addr := net.JoinHostPort(ns, cc.Port)
		skipped := false
		for _, s := range skip {
			if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().String() == ns {
				skipped = true
			}
			if s == ns {
				skipped = true
			}
		}
		if !skipped {
			out = append(out, addr)
		}
	}
	return out, nil
}

// Listen binds the UDP and TCP sockets (Run calls it when it has not been
// called). With a port of 0, both get the same free port.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc != nil {
		return nil
	}
	lc := net.ListenConfig{Control: freebind}
	var lastErr error
	for range 10 { // port 0: the free UDP port may be taken for TCP; retry
		pc, err := lc.ListenPacket(context.Background(), "udp4", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("dns: listen on udp %s: %w", s.cfg.Addr, err)
		}
		ln, err := lc.Listen(context.Background(), "tcp4", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = fmt.Errorf("dns: listen on tcp %s: %w", pc.LocalAddr(), err)
			if _, port, _ := net.SplitHostPort(s.cfg.Addr); port == "0" {
				continue
			}
			return lastErr
		}
		s.pc, s.ln = pc, ln
		return nil
	}
	return lastErr
}

// freebind lets a socket bind an address the node does not have yet.
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	return serr
}

// LocalAddr is the bound UDP (and TCP) address, once Listen has returned.
func (s *Server) LocalAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc == nil {
		return netip.AddrPort{}
	}
	return s.pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Run serves DNS on UDP and TCP and rebuilds the index at start and after
// every change to Services or Endpoints (bursts coalesce), until ctx ends.
// A failed Listen (the port taken) is logged and retried with back-off:
// the rest of the node keeps running without cluster DNS meanwhile.
func (s *Server) Run(ctx context.Context) error {
	for wait := s.cfg.RetryInterval; ; wait = min(2*wait, 30*time.Second) {
		err := s.Listen()
		if err == nil {
			break
		}
		s.log.Error("cluster DNS cannot listen; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	changed := s.cfg.Store.Notify(ctx, manifest.KindService, manifest.KindEndpoints)
	s.mu.Lock()
	servers := []*mdns.Server{
		{PacketConn: s.pc, Handler: s, UDPSize: mdns.DefaultMsgSize},
		{Listener: s.ln, Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second},
	}
	s.mu.Unlock()
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	s.log.Info("cluster DNS serving", "addr", s.LocalAddr(), "domain", s.cfg.Domain, "upstreams", s.cfg.Upstreams)
	var timer <-chan time.Time
	var err error
loop:
	for {
		if rerr := s.Rebuild(); rerr != nil {
			s.log.Error("rebuilding the DNS index failed; retrying", "err", rerr, "in", s.cfg.RetryInterval)
			timer = time.After(s.cfg.RetryInterval)
		} else {
			timer = nil
		}
		select {
		case <-ctx.Done():
			break loop
		case <-changed:
		case <-timer:
		case err = <-errc:
			err = fmt.Errorf("dns: serving on %s: %w", s.LocalAddr(), err)
			break loop
		}
	}
	for _, srv := range servers {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.ShutdownContext(sctx)
		cancel()
	}
	return err
}

// Rebuild lists Services and Endpoints and replaces the index.
func (s *Server) Rebuild() error {
	objs, err := s.cfg.Store.List(manifest.KindService, "")
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	services := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if v, ok := o.(*corev1.Service); ok {
			services = append(services, v)
		}
	}
	objs, err = s.cfg.Store.List(manifest.KindEndpoints, "")
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	endpoints := make([]*corev1.Endpoints, 0, len(objs))
	for _, o := range objs {
		if v, ok := o.(*corev1.Endpoints); ok {
			endpoints = append(endpoints, v)
		}
	}
	s.index.Store(BuildIndex(s.cfg.Domain, s.cfg.ServiceCIDR, services, endpoints))
	s.log.Debug("DNS index rebuilt", "services", len(services))
	return nil
}

// ServeDNS answers one query: from the index, or by forwarding it.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	if r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 {
		m.SetRcode(r, mdns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	ans := s.index.Load().Lookup(r.Question[0])
	if ans.Forward {
		s.forward(w, r)
		return
	}
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Rcode = ans.Rcode
	m.Answer, m.Ns, m.Extra = ans.Answer, ans.Ns, ans.Extra
	if ans.Chase != "" {
		s.chase(w, r, m, ans.Chase)
	}
	size := mdns.MaxMsgSize
	o := r.IsEdns0()
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = mdns.MinMsgSize
		if o != nil {
			size = int(max(o.UDPSize(), mdns.MinMsgSize))
		}
	}
	if o != nil {
		m.SetEdns0(max(o.UDPSize(), mdns.MinMsgSize), false)
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

// chase completes m, whose answer ends in a CNAME to target outside the
// cluster (an ExternalName service), with the upstreams' answer for target
// and the question's type. When no upstream answers, m keeps just the
// CNAME: the client may still resolve the target itself.
func (s *Server) chase(w mdns.ResponseWriter, r, m *mdns.Msg, target string) {
	c := s.fwd[0]
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		c = s.fwd[1]
	}
	q := new(mdns.Msg)
	q.SetQuestion(target, r.Question[0].Qtype)
	q.RecursionDesired = true
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.Exchange(q, up)
		if err != nil {
			s.log.Debug("chasing an ExternalName failed", "name", r.Question[0].Name, "target", target, "upstream", up, "err", err)
			continue
		}
		m.Authoritative = false
		m.Rcode = resp.Rcode
		m.Answer = append(m.Answer, resp.Answer...)
		m.Ns = resp.Ns
		return
	}
}

// forward relays r to the upstreams in order over the transport it came
// on; SERVFAIL when none answers.
func (s *Server) forward(w mdns.ResponseWriter, r *mdns.Msg) {
	c := s.fwd[0]
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		c = s.fwd[1]
	}
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.Exchange(r, up)
		if err != nil {
			s.log.Debug("forwarding failed", "name", r.Question[0].Name, "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		_ = w.WriteMsg(resp)
		return
	}
	m := new(mdns.Msg)
	m.SetRcode(r, mdns.RcodeServerFailure)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
}
