package main

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/nodeagent/routes"
)

// runPodRoutes keeps this node's host-gw routes to the other nodes' pod
// CIDRs (proto 0x74 in the main table) in step with the Node objects in st.
func runPodRoutes(ctx context.Context, g *errgroup.Group, st routes.Store, nodeName string, log *slog.Logger) {
	loop := routes.NewLoop(routes.Config{Store: st, Applier: routes.NewApplier(nil, log), NodeName: nodeName, Logger: log})
	g.Go(func() error { return loop.Run(ctx) })
}

// defaultNodeIP is --node-ip's default: the address of the interface
// holding the default route, else the first non-loopback address; the
// loopback address when the host has neither.
func defaultNodeIP(log *slog.Logger) string {
	ip, err := routes.NodeIP(nil)
	if err != nil {
		log.Warn("no address for this node; other nodes cannot reach its pods (set --node-ip)", "err", err)
		return "127.0.0.1"
	}
	return ip.String()
}
