package proxy

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestClusterDNSGolden(t *testing.T) {
	rs := Render(serviceCIDR, []*corev1.Service{
		service("default", "web", "ClusterIP", "10.43.0.20", port("", corev1.ProtocolTCP, 80, 8080, 0)),
		// Refused by the reconciler; dropped here should it ever appear.
		service("default", "squatter", "ClusterIP", "10.43.0.10", port("", corev1.ProtocolUDP, 53, 53, 0)),
	}, []*corev1.Endpoints{
		endpoints("default", "web", subset([]string{"10.42.0.11"}, epPort("", corev1.ProtocolTCP, 8080))),
	})
	rs.AddClusterDNS(ClusterDNS{IP: netip.MustParseAddr("10.43.0.10"), Server: netip.MustParseAddrPort("10.42.0.1:53")})
	got := rs.Text()
	path := filepath.Join("testdata", "cluster-dns.nft")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./proxy -run TestClusterDNSGolden -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}

	var names []string
	for _, p := range rs.Ports {
		names = append(names, p.String())
	}
	if diff := cmp.Diff([]string{"/cluster-dns:53/tcp", "/cluster-dns:53/udp", "default/web:80/tcp"}, names); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}

	// A zero ClusterDNS changes nothing.
	before := rs.Text()
	rs.AddClusterDNS(ClusterDNS{})
	if rs.Text() != before {
		t.Error("AddClusterDNS(zero) changed the ruleset")
	}
}
