package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files under the server's PKI directory (<data-dir>/pki) and in a node's
// certificate directory.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	NodeCert   = "node.crt"
	NodeKey    = "node.key"
)

// NodeUserPrefix and NodesGroup are how a node's client certificate names
// it, as the kubelet's does: CN=system:node:NAME, O=system:nodes.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// clockSkew back-dates NotBefore so a node whose clock is a little
	// behind accepts a fresh certificate.
	clockSkew = time.Hour
)

// CA is the cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // Cert, PEM-encoded
}

// LoadOrCreateCA reads ca.crt and ca.key from dir, creating both (and dir,
// mode 0700) when neither exists.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACert), filepath.Join(dir, CAKey)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pki %s: %w", dir, err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("pki: generate CA key: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: fmt.Sprintf("tug-ca@%d", now.Unix())},
			NotBefore:             now.Add(-clockSkew),
			NotAfter:              now.Add(caValidity),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, fmt.Errorf("pki: create CA certificate: %w", err)
		}
		if err := writeKey(keyPath, key); err != nil {
			return nil, err
		}
		if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA certificate: %w", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// issue signs a new leaf certificate for key.
func (ca *CA) issue(tmpl *x509.Certificate, key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
}

// ServerCertificate returns the agent listener's serving certificate from
// dir, issuing a new one (server.crt, server.key) when there is none, when
// it does not cover every name in hosts (IP addresses or DNS names), or
// when it expires within 30 days.
func (ca *CA) ServerCertificate(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "tugd"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	addHosts(tmpl, hosts)
	return ca.loadOrIssue(tmpl, filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey), now,
		func(c *x509.Certificate) bool { return covers(c, hosts) })
}

// loadOrIssue returns the key pair at certPath and keyPath while this CA
// signed it, it is valid for 30 more days and keep accepts it; otherwise
// it issues tmpl as a new pair there.
func (ca *CA) loadOrIssue(tmpl *x509.Certificate, certPath, keyPath string, now time.Time, keep func(*x509.Certificate) bool) (tls.Certificate, error) {
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && c.Leaf != nil && keep(c.Leaf) &&
		now.Add(30*24*time.Hour).Before(c.Leaf.NotAfter) && c.Leaf.CheckSignatureFrom(ca.Cert) == nil {
		return c, nil
	}
	if err := ca.issuePair(tmpl, certPath, keyPath, now); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// issuePair signs tmpl for a new P-256 key and writes the certificate to
// certPath and the key to keyPath.
func (ca *CA) issuePair(tmpl *x509.Certificate, certPath, keyPath string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate key for %s: %w", tmpl.Subject.CommonName, err)
	}
	der, err := ca.issue(tmpl, key, now)
	if err != nil {
		return fmt.Errorf("pki: issue certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

// addHosts puts each of hosts into tmpl's SANs: an IP address or a DNS
// name.
func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// IssueNode writes ca.crt, node.crt and node.key into outDir (created, mode
// 0700): a client certificate for node with CN=system:node:NAME and
// O=system:nodes; and node-serving.crt and node-serving.key, the serving
// certificate of the node's log listener (DNS SAN: the node's name; hosts:
// extra SANs).
func (ca *CA) IssueNode(node, outDir string, now time.Time, hosts ...string) error {
	if err := ValidNodeName(node); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := ca.issuePair(tmpl, filepath.Join(outDir, NodeCert), filepath.Join(outDir, NodeKey), now); err != nil {
		return err
	}
	if err := ca.issueNodeServing(node, outDir, hosts, now); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, CACert), ca.PEM, 0o644)
}

// ValidNodeName checks that name is a DNS subdomain, as Kubernetes requires
// of Node names.
func ValidNodeName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("node name %q: want 1 to 253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("node name %q: want lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("node name %q: want lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
			}
		}
	}
	return nil
}

// ServerTLS is the agent listener's TLS configuration: TLS 1.3, and a
// client certificate signed by ca required.
func ServerTLS(ca *CA, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	}
}

// ClientTLS reads ca.crt, node.crt and node.key from certDir (written by
// IssueNode) and returns a node's TLS configuration, trusting only that CA.
// It also returns the node name the certificate carries.
func ClientTLS(certDir string) (*tls.Config, string, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, NodeCert), filepath.Join(certDir, NodeKey))
	if err != nil {
		return nil, "", fmt.Errorf("pki: node certificate in %s: %w", certDir, err)
	}
	node, ok := NodeName(cert.Leaf)
	if !ok {
		return nil, "", fmt.Errorf("pki: %s is not a node certificate (want CN=%sNAME, O=%s)", filepath.Join(certDir, NodeCert), NodeUserPrefix, NodesGroup)
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, CACert))
	if err != nil {
		return nil, "", fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, "", fmt.Errorf("pki: %s holds no certificate", filepath.Join(certDir, CACert))
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}, node, nil
}

// NodeName returns the node a verified client certificate names:
// CN=system:node:NAME with O=system:nodes.
func NodeName(c *x509.Certificate) (string, bool) {
	if c == nil || !slices.Contains(c.Subject.Organization, NodesGroup) {
		return "", false
	}
	name, ok := strings.CutPrefix(c.Subject.CommonName, NodeUserPrefix)
	if !ok || ValidNodeName(name) != nil {
		return "", false
	}
	return name, true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("pki: crypto/rand: %v", err)) // crypto/rand never fails on Linux
	}
	return n
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: encode key %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("pki: %s: no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not an ECDSA key", path)
	}
	return ek, nil
}

// writePEM writes atomically (temporary file, then rename).
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}
