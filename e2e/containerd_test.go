package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/tug-dev/tug/nodeagent/containerdproc"
)

// countContainers counts the containers tug's containerd holds, asking
// containerd directly rather than tug.
func countContainers(t testing.TB, c *cluster) int {
	t.Helper()
	addr := containerdproc.New(containerdproc.Config{Dir: filepath.Join(c.dataDir, "containerd")}).Address()
	client, err := containerd.New(addr, containerd.WithDefaultNamespace("tug"), containerd.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd %s: %v", addr, err)
	}
	defer client.Close()
	ctrs, err := client.Containers(context.Background())
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return len(ctrs)
}
