package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files for the nodes' log listeners (the kubelet's port 10250): each node
// serves with node-serving.crt (written by IssueNode beside node.crt), and
// the server connects with server-client.crt from its PKI directory.
const (
	NodeServingCert  = "node-serving.crt"
	NodeServingKey   = "node-serving.key"
	ServerClientCert = "server-client.crt"
	ServerClientKey  = "server-client.key"
)

// ServerClientUser is the CN of the server's client certificate for the
// nodes' log listeners (as kube-apiserver's kubelet client certificate);
// ServerClientGroup its O.
const (
	ServerClientUser  = "system:tug-server"
	ServerClientGroup = "system:masters"
)

// issueNodeServing writes node-serving.crt and node-serving.key into
// outDir: CN=system:node:NAME, server-auth, the node's name as its DNS SAN
// (the server verifies a node's listener by name, not by address) plus
// any addresses in hosts.
func (ca *CA) issueNodeServing(node, outDir string, hosts []string, now time.Time) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{node},
	}
	addHosts(tmpl, hosts)
	return ca.issuePair(tmpl, filepath.Join(outDir, NodeServingCert), filepath.Join(outDir, NodeServingKey), now)
}

// ServerClientCertificate returns the server's client certificate for the
// nodes' log listeners from dir, issuing one (server-client.crt,
// server-client.key) when there is none, when it expires within 30 days,
// or when this CA did not sign it.
func (ca *CA) ServerClientCertificate(dir string, now time.Time) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerClientUser, Organization: []string{ServerClientGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.loadOrIssue(tmpl, filepath.Join(dir, ServerClientCert), filepath.Join(dir, ServerClientKey), now,
		func(*x509.Certificate) bool { return true })
}

// NodeLogClientTLS is the server's TLS configuration toward the nodes' log
// listeners: its client certificate, and only the cluster CA trusted. Set
// ServerName to the node's name for each connection.
func NodeLogClientTLS(ca *CA, cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool()}
}

// NodeServingTLS reads node-serving.crt, node-serving.key and ca.crt from
// certDir and returns the node's log listener's TLS configuration: a
// client certificate signed by the CA required (IsServerClient tells the
// server's apart). It also returns the node name the certificate carries.
func NodeServingTLS(certDir string) (*tls.Config, string, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, NodeServingCert), filepath.Join(certDir, NodeServingKey))
	if err != nil {
		return nil, "", fmt.Errorf("pki: node serving certificate in %s (issued by tugd issue-node-cert): %w", certDir, err)
	}
	node, ok := NodeName(cert.Leaf)
	if !ok {
		return nil, "", fmt.Errorf("pki: %s is not a node certificate", filepath.Join(certDir, NodeServingCert))
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, CACert))
	if err != nil {
		return nil, "", fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, "", fmt.Errorf("pki: %s holds no certificate", filepath.Join(certDir, CACert))
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, node, nil
}

// IsServerClient reports whether a verified client certificate is the
// server's (CN=system:tug-server, O=system:masters).
func IsServerClient(c *x509.Certificate) bool {
	return c != nil && c.Subject.CommonName == ServerClientUser && slices.Contains(c.Subject.Organization, ServerClientGroup)
}
