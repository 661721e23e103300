package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// Store is what the proxy reads: *state.Store satisfies it.
type Store interface {
	List(kind, namespace string) ([]manifest.Object, error)
	Notify(ctx context.Context, kinds ...string) <-chan struct{}
}

// RulesApplier makes the kernel match a Ruleset; *Applier is the real one.
type RulesApplier interface {
	Apply(rs *Ruleset) error
}

// Config wires a Proxy.
type Config struct {
	Store       Store
	Applier     RulesApplier
	ServiceCIDR netip.Prefix // traffic to unallocated addresses in it is dropped
	// NodeName is this node's name: the node ports of externalTrafficPolicy
	// Local services go only to endpoints whose nodeName it is.
	NodeName string
	// ClusterDNS, when set, sends its IP:53 (UDP, TCP) to the node's DNS
	// server; see Ruleset.AddClusterDNS.
	ClusterDNS ClusterDNS
	Logger     *slog.Logger
	// RetryInterval is the first wait after a failed sync; it doubles up to
	// 30 s. Default 1 s.
	RetryInterval time.Duration
}

// Proxy keeps this node's nftables service rules in step with the store's
// Services and Endpoints.
type Proxy struct {
	cfg Config
	log *slog.Logger
}

// New returns a Proxy.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	return &Proxy{cfg: cfg, log: cfg.Logger}
}

const maxRetryInterval = 30 * time.Second

// Run syncs at start and after every change to Services or Endpoints
// (bursts coalesce into one sync), retrying failures with back-off, until
// ctx ends. It leaves the table in place when it returns, so connections
// keep flowing while tugd restarts; the next start rebuilds it atomically.
func (p *Proxy) Run(ctx context.Context) error {
	changed := p.cfg.Store.Notify(ctx, manifest.KindService, manifest.KindEndpoints)
	retry := p.cfg.RetryInterval
	var timer <-chan time.Time
	for {
		if err := p.Sync(); err != nil {
			p.log.Error("programming service rules failed; retrying", "err", err, "in", retry)
			timer = time.After(retry)
			retry = min(2*retry, maxRetryInterval)
		} else {
			timer, retry = nil, p.cfg.RetryInterval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer:
		}
	}
}

// Sync reads every Service and Endpoints object once and applies the
// rendered rules. Run calls it; it is not safe for concurrent use.
func (p *Proxy) Sync() error {
	objs, err := p.cfg.Store.List(manifest.KindService, "")
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	services := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			services = append(services, s)
		}
	}
	objs, err = p.cfg.Store.List(manifest.KindEndpoints, "")
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	endpoints := make([]*corev1.Endpoints, 0, len(objs))
	for _, o := range objs {
		if e, ok := o.(*corev1.Endpoints); ok {
			endpoints = append(endpoints, e)
		}
	}
	rs := RenderNode(p.cfg.ServiceCIDR, p.cfg.NodeName, services, endpoints)
	rs.AddClusterDNS(p.cfg.ClusterDNS)
	if err := p.cfg.Applier.Apply(rs); err != nil {
		return err
	}
	p.log.Debug("service rules in step", "servicePorts", len(rs.Ports))
	return nil
}
