package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/state"
)

// serveAgentAPI starts the agent listener (--agent-listen): the API over
// TLS with node client certificates required, signed by the CA under
// <data-dir>/pki (created at the first start).
func serveAgentAPI(ctx context.Context, g *errgroup.Group, o options, cfg api.Config, st *state.Store, logger *slog.Logger) error {
	host, _, err := net.SplitHostPort(o.agentListen)
	if err != nil {
		return fmt.Errorf("--agent-listen %q: %w", o.agentListen, err)
	}
	dir := filepath.Join(o.dataDir, "pki")
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		return err
	}
	cert, err := ca.ServerCertificate(dir, servingNames(host, o.tlsSANs), now)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.agentListen)
	if err != nil {
		return fmt.Errorf("--agent-listen %s: %w", o.agentListen, err)
	}
	srv := &http.Server{
		Handler:           api.NewAgentHandler(cfg, st),
		TLSConfig:         pki.ServerTLS(ca, cert),
		ReadHeaderTimeout: 10 * time.Second,
		// Refused handshakes (no or a foreign client certificate) land here.
		ErrorLog: log.New(slogWriter{logger}, "", 0),
	}
	serveHTTP(ctx, g, srv, ln)
	logger.Info("agent API listening (mutual TLS)", "addr", "https://"+ln.Addr().String(), "ca", filepath.Join(dir, pki.CACert))
	return nil
}

// servingNames are the SANs of the agent listener's certificate: its host
// (every local address when it is unspecified, and the host name), the
// loopback and the names in extra.
func servingNames(host string, extra []string) []string {
	names := []string{"127.0.0.1", "localhost"}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() || host == "" {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
					names = append(names, n.IP.String())
				}
			}
		}
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
	} else {
		names = append(names, host)
	}
	return append(names, extra...)
}

// slogWriter sends net/http's error log to slog at Debug: a refused
// handshake is the client's problem, not the server's.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("agent API", "msg", string(p))
	return len(p), nil
}

// nodeLogClient reads the logs of pods on remote nodes from their log
// listeners, presenting the server's client certificate (issued by the CA
// under <data-dir>/pki at the first start).
func nodeLogClient(dataDir string) (*api.NodeLogClient, error) {
	dir := filepath.Join(dataDir, "pki")
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		return nil, err
	}
	cert, err := ca.ServerClientCertificate(dir, now)
	if err != nil {
		return nil, err
	}
	return api.NewNodeLogClient(pki.NodeLogClientTLS(ca, cert)), nil
}
