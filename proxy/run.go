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
	// BridgeNetfilter makes Run set net.bridge.bridge-nf-call-iptables=1
	// in its network namespace at start, so that network policy also
	// filters traffic between pods on the same bridge (see doc.go).
	BridgeNetfilter bool
	// RetryInterval is the first wait after a failed sync; it doubles up to
	// 30 s. Default 1 s.
	RetryInterval time.Duration
}

// Proxy keeps this node's nftables service rules in step with the store's
// Services and Endpoints.
type Proxy struct {
	cfg Config
	log *slog.Logger

	ports  []ServicePort // last rendered service ports (nil: render at the next sync)
	render Renderer      // re-renders only changed Services (render_cache.go)
	policy *PolicyRules  // last compiled network policy (nil: compile at the next sync)
}

// New returns a Proxy.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	return &Proxy{cfg: cfg, log: cfg.Logger, render: Renderer{Node: cfg.NodeName}}
}

const maxRetryInterval = 30 * time.Second

// Run syncs at start and after every change to Services or Endpoints
// (bursts coalesce into one sync), retrying failures with back-off, until
// ctx ends. It leaves the table in place when it returns, so connections
// keep flowing while tugd restarts; the next start rebuilds it atomically.
func (p *Proxy) Run(ctx context.Context) error {
	if p.cfg.BridgeNetfilter {
		if err := EnableBridgeNetfilter(); err != nil {
			p.log.Error("network policy will not filter traffic between pods on the same node", "err", err)
		}
	}
	changed := p.cfg.Store.Notify(ctx, manifest.KindService, manifest.KindEndpoints)
	// Pods, Namespaces and NetworkPolicies only recompile the policy part,
	// so service changes stay as cheap as without policies (a Store that
	// returns one channel for every call gets full syncs).
	policyChanged := p.cfg.Store.Notify(ctx, policyKinds...)
	retry := p.cfg.RetryInterval
	var timer <-chan time.Time
	for {
		if err := p.sync(); err != nil {
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
			p.ports = nil
			if changed == policyChanged {
				p.policy = nil
			}
		case <-policyChanged:
			p.policy = nil
			if changed == policyChanged {
				p.ports = nil
			}
		case <-timer:
		}
	}
}

// Sync reads every Service, Endpoints, NetworkPolicy, Pod and Namespace
// object once and applies the rendered rules. It is not safe for
// concurrent use.
func (p *Proxy) Sync() error {
	p.ports, p.policy = nil, nil
	return p.sync()
}

// sync renders the service part if p.ports is nil and compiles the policy
// part if p.policy is nil, then applies both. Run calls it.
func (p *Proxy) sync() error {
	if p.ports == nil {
		rs, err := p.renderServices()
		if err != nil {
			return err
		}
		p.ports = rs.Ports
	}
	if p.policy == nil {
		pr, err := p.compilePolicies()
		if err != nil {
			return err
		}
		p.policy = pr
	}
	rs := &Ruleset{ServiceCIDR: p.cfg.ServiceCIDR, Ports: p.ports, Policy: p.policy}
	if err := p.cfg.Applier.Apply(rs); err != nil {
		p.ports, p.policy = nil, nil
		return err
	}
	p.log.Debug("service rules in step", "servicePorts", len(rs.Ports), "ingressRules", len(p.policy.Ingress), "egressRules", len(p.policy.Egress))
	return nil
}

// renderServices lists Services and Endpoints and renders them.
func (p *Proxy) renderServices() (*Ruleset, error) {
	objs, err := p.cfg.Store.List(manifest.KindService, "")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	services := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			services = append(services, s)
		}
	}
	objs, err = p.cfg.Store.List(manifest.KindEndpoints, "")
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	endpoints := make([]*corev1.Endpoints, 0, len(objs))
	for _, o := range objs {
		if e, ok := o.(*corev1.Endpoints); ok {
			endpoints = append(endpoints, e)
		}
	}
	rs := p.render.Render(p.cfg.ServiceCIDR, services, endpoints)
	rs.AddClusterDNS(p.cfg.ClusterDNS)
	if rs.Ports == nil {
		rs.Ports = []ServicePort{} // rendered, none
	}
	return rs, nil
}
