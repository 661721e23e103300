package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/api/remote"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// serveNodeLogs starts the agent's log listener (--agent-log-listen,
// default <node-ip>:10250): this node's pod logs over TLS for the server's
// client certificate only, with node-serving.crt from --cert-dir. The port
// is published in the Node's status.daemonEndpoints.kubeletEndpoint.port,
// where the server looks for it.
func serveNodeLogs(ctx context.Context, g *errgroup.Group, o agentOptions, st *remote.Store, logs api.Logs, logger *slog.Logger) error {
	if o.logListen == "off" {
		return nil
	}
	addr := o.logListen
	if addr == "" {
		addr = net.JoinHostPort(o.nodeIP, strconv.Itoa(api.DefaultNodeLogPort))
	}
	tlsCfg, certNode, err := pki.NodeServingTLS(o.certDir)
	if errors.Is(err, os.ErrNotExist) {
		logger.Warn("no log listener: the server cannot show logs of this node's pods; issue this node's certificates again (tugd issue-node-cert writes "+pki.NodeServingCert+")",
			"certDir", o.certDir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("--cert-dir: %w", err)
	}
	if certNode != o.nodeName {
		return fmt.Errorf("--cert-dir: %s is for node %q, not %q", filepath.Join(o.certDir, pki.NodeServingCert), certNode, o.nodeName)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--agent-log-listen %s: %w", addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler: api.NewNodeLogHandler(api.NodeLogConfig{NodeName: o.nodeName, Store: st, Logs: logs, Logger: logger,
			IsNotFound: func(err error) bool { return errors.Is(err, remote.ErrNotFound) }}),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
	}
	serveHTTP(ctx, g, srv, ln)
	g.Go(func() error { publishLogPort(ctx, st, o.nodeName, int32(port), logger); return nil })
	logger.Info("log listener serving pod logs to the server (mutual TLS)", "addr", "https://"+ln.Addr().String())
	return nil
}

// publishLogPort keeps the Node's status.daemonEndpoints.kubeletEndpoint.port
// at port: set once the Node exists, and again whenever the Node changes
// without it (the node agent's heartbeats keep what is there).
func publishLogPort(ctx context.Context, st *remote.Store, nodeName string, port int32, logger *slog.Logger) {
	key := manifest.Key{Kind: manifest.KindNode, Name: nodeName}
	changed := st.Notify(ctx, manifest.KindNode)
	for {
		err := st.Mutate(key, func(cur manifest.Object) (manifest.Object, error) {
			n, ok := cur.(*corev1.Node)
			if !ok || n.Status.DaemonEndpoints.KubeletEndpoint.Port == port {
				return nil, nil // not registered yet, or published
			}
			n = n.DeepCopy()
			n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
			return n, nil
		})
		if err != nil && ctx.Err() == nil {
			logger.Warn("publish the log listener's port in the Node", "node", nodeName, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(30 * time.Second):
		}
	}
}
