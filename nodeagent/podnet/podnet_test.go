package podnet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

func TestConfList(t *testing.T) {
	data, err := ConfList("10.42.3.0/24", "/d/cni/ipam")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "tug",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "tug0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  []any{[]any{map[string]any{"subnet": "10.42.3.0/24"}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": "/d/cni/ipam",
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conflist (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadCIDR(t *testing.T) {
	if _, err := New(Config{DataDir: t.TempDir(), PodCIDR: "10.42.0.0"}); err == nil {
		t.Error("New accepted a CIDR without a prefix length")
	}
}

// TestPods checks that every trace a pod can leave is found: a netns file, a
// cached CNI result and a host-local allocation.
func TestPods(t *testing.T) {
	dir := t.TempDir()
	n, err := New(Config{DataDir: dir, PodCIDR: "10.42.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "netns", "uid-a"), "")
	write(filepath.Join(dir, "cni", "cache", "results", "tug-uid-b-eth0"), "{}")
	write(filepath.Join(dir, "cni", "ipam", "tug", "10.42.0.5"), "uid-c\r\neth0")
	write(filepath.Join(dir, "cni", "ipam", "tug", "last_reserved_ip.0"), "10.42.0.5")
	write(filepath.Join(dir, "cni", "ipam", "tug", "lock"), "")
	got, err := n.Pods()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]types.UID{"uid-a", "uid-b", "uid-c"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := n.Ready("uid-a"); ok {
		t.Error("a plain file counts as a mounted netns")
	}
}

// TestReleaseByHand checks that the allocations CNI DEL would leave (any
// line ending, any interface) are removed for their pod only.
func TestReleaseByHand(t *testing.T) {
	dir := t.TempDir()
	n, err := New(Config{DataDir: dir, PodCIDR: "10.42.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	ipam := filepath.Join(dir, "cni", "ipam", "tug")
	if err := os.MkdirAll(ipam, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"10.42.0.5":          "uid-a\r\neth0",
		"10.42.0.6":          "uid-a\nnet1",
		"10.42.0.7":          "uid-b\r\neth0",
		"last_reserved_ip.0": "uid-a",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(ipam, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.releaseByHand("uid-a"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(ipam)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff([]string{"10.42.0.7", "last_reserved_ip.0", "lock"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
