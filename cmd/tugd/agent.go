package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/api/remote"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

type agentOptions struct {
	server, certDir     string
	dataDir, nodeName   string
	podCIDR, nodeIP     string
	containerdAddress   string
	cniBinDir, logLevel string
	serviceCIDR         string
	clusterDNS          string
	podCIDRWait         time.Duration
	logListen           string // the log listener; empty: <node-ip>:10250
}

// agentCommand is `tugd agent`: a remote node. It runs containerd, the node
// agent, the service proxy and cluster DNS against the server's agent API;
// no gitsync and no reconciler (the server runs those).
func agentCommand() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent --server https://HOST:7444 --cert-dir DIR",
		Short: "run this machine as a remote node of a tugd server, authenticated with mutual TLS",
		Long: `tugd agent joins this machine to the cluster of the tugd server at --server (its
--agent-listen address). --cert-dir holds ca.crt, node.crt and node.key written by
tugd issue-node-cert on the server. The node runs the pods the server binds to it
and reports their status; Git, the reconciler and the read-only API stay on the server.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.server == "" || o.certDir == "" {
				return errors.New("--server and --cert-dir are required")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runAgent(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "the server's agent API, https://HOST:7444 (its --agent-listen)")
	f.StringVar(&o.certDir, "cert-dir", "", "directory with ca.crt, node.crt and node.key (tugd issue-node-cert)")
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/tug", "where this node keeps containerd, images, pods and logs")
	f.StringVar(&o.nodeName, "node-name", "", "name of this node (default: the name in node.crt, which it must match)")
	f.StringVar(&o.podCIDR, "pod-cidr", "", "this node's pod address range, used while the Node has no spec.podCIDR (the server's allocation wins); empty: wait for the server to allocate one")
	f.DurationVar(&o.podCIDRWait, "pod-cidr-wait", 2*time.Minute, "how long to wait for the server to allocate spec.podCIDR when --pod-cidr is not given")
	f.StringVar(&o.nodeIP, "node-ip", "", "this node's InternalIP (default: the local address that reaches --server)")
	f.StringVar(&o.containerdAddress, "containerd-address", "", "socket of an existing containerd (empty: start and own one under --data-dir)")
	f.StringVar(&o.cniBinDir, "cni-bin-dir", "/usr/lib/cni", "directory of the CNI plugins")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.clusterDNS, "cluster-dns", "10.43.0.10", "cluster DNS address (see tugd --help); empty disables cluster DNS on this node")
	f.StringVar(&o.serviceCIDR, "service-cidr", "10.43.0.0/16", "service cluster IP range (as on the server)")
	f.StringVar(&o.logListen, "agent-log-listen", "", "serve this node's pod logs to the server here (HTTPS; only the server's client certificate is accepted), as the kubelet does (default <node-ip>:10250); \"off\" disables it")
	return cmd
}

func runAgent(ctx context.Context, o agentOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tlsCfg, certNode, err := pki.ClientTLS(o.certDir)
	if err != nil {
		return fmt.Errorf("--cert-dir: %w", err)
	}
	if o.nodeName == "" {
		o.nodeName = certNode
	}
	if o.nodeName != certNode {
		return fmt.Errorf("--node-name %q: the certificate in %s is for node %q; the server lets a node write only its own Node", o.nodeName, o.certDir, certNode)
	}
	if o.nodeIP == "" {
		ip, err := localAddrTo(o.server)
		if err != nil {
			return fmt.Errorf("--node-ip not given and %w", err)
		}
		o.nodeIP = ip
	}
	if serviceCIDR, err := netip.ParsePrefix(o.serviceCIDR); err != nil || !serviceCIDR.Addr().Is4() {
		return fmt.Errorf("--service-cidr %q: want an IPv4 prefix such as 10.43.0.0/16", o.serviceCIDR)
	}

	st, err := remote.New(remote.Config{Server: o.server, TLS: tlsCfg, Logger: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return st.Run(ctx) })
	defer func() { cancel(); _ = g.Wait() }() // a failed start stops what began

	// The first sync waits for the server as long as it takes: the store
	// retries with back-off and logs each failure, so an agent started
	// before its server joins when the server comes up.
	log.Info("connecting to the server", "server", o.server, "node", o.nodeName)
	if err := st.WaitSynced(ctx); err != nil {
		return fmt.Errorf("cannot read the cluster from %s: %w", o.server, err)
	}
	log.Info("connected to the server", "server", o.server, "node", o.nodeName)
	// The Node's spec.podCIDR (allocated by the server) wins over the flag.
	if obj, err := st.Get(manifest.Key{Kind: manifest.KindNode, Name: o.nodeName}); err == nil {
		if cidr := obj.(*corev1.Node).Spec.PodCIDR; cidr != "" {
			if o.podCIDR != "" && o.podCIDR != cidr {
				log.Warn("--pod-cidr differs from the Node's spec.podCIDR; using the Node's", "flag", o.podCIDR, "node", cidr)
			}
			o.podCIDR = cidr
		}
	}
	if o.podCIDR == "" {
		o.podCIDR, err = waitPodCIDR(ctx, st, o, log)
		if err != nil {
			return err
		}
	}

	nd, err := runNode(ctx, g, nodeDeps{
		store: st, nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, dataDir: o.dataDir,
		containerdAddress: o.containerdAddress, cniBinDir: o.cniBinDir, clusterDNS: o.clusterDNS,
		serviceCIDR: o.serviceCIDR, log: log,
	})
	if err != nil {
		return err
	}
	defer nd.Close()
	// Pod logs for the server's API, as the kubelet serves them.
	if err := serveNodeLogs(ctx, g, o, st, nd.agent, log.With("component", "log-listener")); err != nil {
		return err
	}

	log.Info("tugd agent started", "server", o.server, "node", o.nodeName, "nodeIP", o.nodeIP, "podCIDR", o.podCIDR, "containerd", nd.containerd)
	err = g.Wait()
	log.Info("tugd agent stopped; running containers keep running and are adopted at the next start")
	return err
}

// waitPodCIDR registers the Node when it is missing and waits for the
// server to allocate its spec.podCIDR.
func waitPodCIDR(ctx context.Context, st *remote.Store, o agentOptions, log *slog.Logger) (string, error) {
	key := manifest.Key{Kind: manifest.KindNode, Name: o.nodeName}
	err := st.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
		if cur != nil {
			return nil, nil
		}
		n := &corev1.Node{}
		n.Name = o.nodeName
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: o.nodeIP}}
		return n, nil
	})
	if err != nil {
		return "", fmt.Errorf("register node %s: %w", o.nodeName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.podCIDRWait)
	defer cancel()
	changed := st.Notify(ctx, manifest.KindNode)
	log.Info("waiting for the server to allocate this node's pod CIDR", "node", o.nodeName)
	for {
		if obj, err := st.Get(key); err == nil {
			if cidr := obj.(*corev1.Node).Spec.PodCIDR; cidr != "" {
				return cidr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("node %s has no spec.podCIDR after %v: give --pod-cidr, or run a server that allocates pod CIDRs", o.nodeName, o.podCIDRWait)
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

// localAddrTo returns the local address the kernel would use to reach the
// server in serverURL (a UDP "connect" sends nothing).
func localAddrTo(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("--server %q: %w", serverURL, err)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	c, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return "", fmt.Errorf("cannot find the local address toward %s: %w", u.Host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}
