package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd"
	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/dns"
	"github.com/tug-dev/tug/nodeagent"
	"github.com/tug-dev/tug/nodeagent/containerdproc"
	"github.com/tug-dev/tug/nodeagent/images"
	"github.com/tug-dev/tug/proxy"
)

// nodeDeps is what one node runs against: the store it reads and reports
// to (the server's *state.Store in server mode, a *remote.Store in agent
// mode), its identity and its address ranges.
type nodeDeps struct {
	store             nodeagent.Store
	nodeName, nodeIP  string
	podCIDR           string // this node's /24
	dataDir           string
	containerdAddress string // empty: start and own containerd under dataDir
	cniBinDir         string
	clusterDNS        string // empty: no cluster DNS on this node
	serviceCIDR       string
	log               *slog.Logger
}

// node is a running node: containerd (a child process unless given), the
// image importer, cluster DNS, the node agent, host-gw routes and the
// service proxy, each a goroutine of the errgroup runNode was given.
type node struct {
	agent      *nodeagent.Agent
	containerd string // containerd's address
	client     *containerd.Client
	applier    *proxy.Applier
}

// Close releases what outlives the goroutines: call it after they ended.
func (n *node) Close() {
	n.applier.Close()
	n.client.Close()
}

// runNode starts every part of a node in g, the same in server and agent
// mode. It returns once they are started; they run until ctx ends.
func runNode(ctx context.Context, g *errgroup.Group, d nodeDeps) (*node, error) {
	log := d.log
	serviceCIDR, err := netip.ParsePrefix(d.serviceCIDR)
	if err != nil || !serviceCIDR.Addr().Is4() {
		return nil, fmt.Errorf("--service-cidr %q: want an IPv4 prefix such as 10.43.0.0/16", d.serviceCIDR)
	}
	if err := os.MkdirAll(filepath.Join(d.dataDir, "images"), 0o755); err != nil {
		return nil, err
	}

	// containerd: our own child process unless told to use an existing one.
	address, runcRoot := d.containerdAddress, ""
	if address == "" {
		proc := containerdproc.New(containerdproc.Config{Dir: filepath.Join(d.dataDir, "containerd"), Logger: log})
		address, runcRoot = proc.Address(), proc.RuncRoot()
		g.Go(func() error { return proc.Run(ctx) })
		readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := proc.WaitReady(readyCtx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("containerd did not start: %w (see %s)", err, filepath.Join(d.dataDir, "containerd"))
		}
	}
	client, err := containerd.New(address, containerd.WithDefaultNamespace(containerdNamespace))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	ok := false
	defer func() {
		if !ok {
			client.Close()
		}
	}()

	importer := &images.Importer{Client: client, Dir: filepath.Join(d.dataDir, "images"), Namespace: containerdNamespace, Logger: log.With("component", "images")}
	// Archives import in the background: pods whose images are present
	// start meanwhile, the others wait for it (nodeagent Config.Imports).
	g.Go(func() error { return importer.Run(ctx) })

	// Cluster DNS: served on the pod bridge gateway, reached as --cluster-dns.
	var clusterDNS proxy.ClusterDNS
	if d.clusterDNS != "" {
		ip, err := netip.ParseAddr(d.clusterDNS)
		podNet, perr := netip.ParsePrefix(d.podCIDR)
		if err != nil || !ip.Is4() || perr != nil || !podNet.Addr().Is4() {
			return nil, fmt.Errorf("--cluster-dns %q with pod CIDR %q: want IPv4 addresses such as 10.43.0.10 and 10.42.0.0/24", d.clusterDNS, d.podCIDR)
		}
		clusterDNS = proxy.ClusterDNS{IP: ip, Server: netip.AddrPortFrom(podNet.Masked().Addr().Next(), 53)}
		upstreams, err := dns.UpstreamsFromResolvConf("/etc/resolv.conf", clusterDNS.Server.String(), ip.String())
		if err != nil {
			log.Warn("cluster DNS forwards nothing", "err", err)
		}
		dnsServer, err := dns.New(dns.Config{Store: d.store, Addr: clusterDNS.Server.String(), Upstreams: upstreams,
			ServiceCIDR: serviceCIDR.Masked(), Logger: log.With("component", "dns")})
		if err != nil {
			return nil, err
		}
		g.Go(func() error { return dnsServer.Run(ctx) })
	}

	agent, err := nodeagent.New(nodeagent.Config{
		NodeName: d.nodeName, DataDir: d.dataDir, PodCIDR: d.podCIDR, CNIBinDir: d.cniBinDir, NodeIP: d.nodeIP,
		Client: client, Namespace: containerdNamespace, RuncRoot: runcRoot, Store: d.store, Logger: log, Clock: time.Now,
		ClusterDNS: d.clusterDNS, LogDriver: logDriverExe(),
		Imports: importer,
	})
	if err != nil {
		return nil, err
	}
	g.Go(func() error { return agent.Run(ctx) })
	// host-gw routes to the other nodes' pod CIDRs (routes.go).
	runPodRoutes(ctx, g, d.store, d.nodeName, log.With("component", "routes"))

	// The service proxy, with network policy between pods on this node's
	// bridge too (BridgeNetfilter).
	applier := proxy.NewApplier(nil, log.With("component", "proxy"))
	svcProxy := proxy.New(proxy.Config{Store: d.store, Applier: applier, ServiceCIDR: serviceCIDR.Masked(), Logger: log.With("component", "proxy"),
		ClusterDNS: clusterDNS, NodeName: d.nodeName, BridgeNetfilter: true})
	g.Go(func() error { return svcProxy.Run(ctx) })
	ok = true
	return &node{agent: agent, containerd: address, client: client, applier: applier}, nil
}
