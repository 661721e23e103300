package routes

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/manifest"
)

// Store is what the loop reads: *state.Store satisfies it.
type Store interface {
	List(kind, namespace string) ([]manifest.Object, error)
	Notify(ctx context.Context, kinds ...string) <-chan struct{}
}

// RoutesApplier makes the kernel match a plan; *Applier is the real one.
type RoutesApplier interface {
	Apply(want []Route) error
}

// Config wires a Loop.
type Config struct {
	Store    Store
	Applier  RoutesApplier
	NodeName string // this node: it gets no route to itself
	Logger   *slog.Logger
	// Resync is the period of a pass that runs without a Node change (it
	// puts back routes someone deleted); default 30 s.
	Resync time.Duration
	// RetryInterval is the first wait after a failed pass; it doubles up to
	// 30 s. Default 1 s.
	RetryInterval time.Duration
}

// Loop keeps this node's host-gw routes in step with the Node objects.
type Loop struct {
	cfg Config
	log *slog.Logger
}

// NewLoop returns a Loop.
func NewLoop(cfg Config) *Loop {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	return &Loop{cfg: cfg, log: cfg.Logger}
}

const maxRetryInterval = 30 * time.Second

// Run syncs at start, on every Node change and every Resync, retrying
// failures with back-off, until ctx ends. It returns nil then and leaves
// the routes in place.
func (l *Loop) Run(ctx context.Context) error {
	changed := l.cfg.Store.Notify(ctx, manifest.KindNode)
	resync := time.NewTicker(l.cfg.Resync)
	defer resync.Stop()
	retry := l.cfg.RetryInterval
	var timer <-chan time.Time
	for {
		if err := l.Sync(); err != nil {
			l.log.Error("programming pod routes failed; retrying", "err", err, "in", retry)
			timer = time.After(retry)
			retry = min(2*retry, maxRetryInterval)
		} else {
			timer, retry = nil, l.cfg.RetryInterval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-resync.C:
		case <-timer:
		}
	}
}

// Sync reads the Nodes once and applies their routes.
func (l *Loop) Sync() error {
	objs, err := l.cfg.Store.List(manifest.KindNode, "")
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]*corev1.Node, 0, len(objs))
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok {
			nodes = append(nodes, n)
		}
	}
	return l.cfg.Applier.Apply(Plan(nodes, l.cfg.NodeName))
}
