package pki_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tug-dev/tug/api/pki"
)

func TestCAIssuesNodeAndServerCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Error("second LoadOrCreateCA made a new CA, want the stored one")
	}
	if fi, err := os.Stat(filepath.Join(dir, pki.CAKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	out := filepath.Join(t.TempDir(), "n2")
	if err := ca.IssueNode("n2", out, now); err != nil {
		t.Fatal(err)
	}
	cfg, node, err := pki.ClientTLS(out)
	if err != nil {
		t.Fatal(err)
	}
	if node != "n2" {
		t.Errorf("node = %q, want n2", node)
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf.Subject.CommonName != "system:node:n2" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject = %v, want CN=system:node:n2, O=system:nodes", leaf.Subject)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node certificate does not verify as a client of the CA: %v", err)
	}
	if err := ca.IssueNode("Bad_Name", t.TempDir(), now); err == nil {
		t.Error("IssueNode accepted an invalid node name")
	}

	srv, err := ca.ServerCertificate(dir, []string{"10.99.0.1", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"10.99.0.1", "127.0.0.1"} {
		if err := srv.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("server certificate for %s: %v", h, err)
		}
	}
	same, _ := ca.ServerCertificate(dir, []string{"10.99.0.1"}, now)
	if !same.Leaf.Equal(srv.Leaf) {
		t.Error("server certificate re-issued though it covers the names")
	}
	moved, _ := ca.ServerCertificate(dir, []string{"10.99.0.7"}, now)
	if moved.Leaf.Equal(srv.Leaf) || moved.Leaf.VerifyHostname("10.99.0.7") != nil {
		t.Error("server certificate not re-issued for a new address")
	}
}

func TestNodeName(t *testing.T) {
	tests := []struct {
		cn, o  string
		want   string
		wantOK bool
	}{
		{"system:node:n1", "system:nodes", "n1", true},
		{"system:node:n1", "system:masters", "", false},
		{"n1", "system:nodes", "", false},
		{"system:node:", "system:nodes", "", false},
	}
	for _, tt := range tests {
		c := &x509.Certificate{}
		c.Subject.CommonName, c.Subject.Organization = tt.cn, []string{tt.o}
		got, ok := pki.NodeName(c)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NodeName(CN=%s, O=%s) = %q, %v; want %q, %v", tt.cn, tt.o, got, ok, tt.want, tt.wantOK)
		}
	}
}
