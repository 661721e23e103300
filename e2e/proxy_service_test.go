package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// TestServiceProxy checks the nftables proxy inside tugd on real pods: a
// ClusterIP reaches every ready pod; an unallocated service address is
// dropped; scaling to zero makes the address refuse at once.
func TestServiceProxy(t *testing.T) {
	repo := newRepo(t)
	repo.copyExample()
	repo.commit("hello: first deploy")
	c := newCluster(t, repo)
	c.start()
	pods := c.runningPods(helloNS, 2, 90*time.Second)
	c.waitEndpoints(pods)
	ip, err := netip.ParseAddr(c.service().Spec.ClusterIP)
	if err != nil || !netip.MustParsePrefix("10.43.0.0/16").Contains(ip) {
		t.Fatalf("service clusterIP %q: want an address in 10.43.0.0/16 (%v)", c.service().Spec.ClusterIP, err)
	}
	// The test namespace has no default route; a route for the service
	// range over the pod bridge stands in for it (nothing leaves the
	// namespace: tug0 only reaches its pods).
	if out, err := c.ns.Command(context.Background(), "ip", "route", "add", "10.43.0.0/16", "dev", "tug0").CombinedOutput(); err != nil {
		t.Fatalf("ip route add: %v: %s", err, out)
	}
	url := fmt.Sprintf("http://%s:80/", ip)

	seen := map[string]int{}
	c.waitFor("the ClusterIP answering", 10*time.Second, func() (bool, string) {
		_, err := c.get(url)
		return err == nil, fmt.Sprint(err)
	})
	for range 100 {
		body, err := c.get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		host, _, _ := strings.Cut(strings.TrimPrefix(body, "hello from "), " ")
		seen[host]++
	}
	if len(seen) != 2 {
		t.Errorf("answers by pod over 100 requests via %s = %v, want both pods", url, seen)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	conn, err := c.ns.DialContext(ctx, "tcp4", "10.43.255.254:80")
	cancel()
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) && !os.IsTimeout(err) {
		t.Errorf("dial an unallocated service address: %v, want a time-out (dropped)", err)
	}

	repo.write("deployment.yaml", strings.Replace(repo.read("deployment.yaml"), "replicas: 2", "replicas: 0", 1))
	repo.commit("hello: scale to zero")
	c.waitFor("endpoints emptied", 60*time.Second, func() (bool, string) {
		obj, err := c.client.Get(context.Background(), manifest.KindEndpoints, helloNS, "hello")
		if err != nil {
			return false, err.Error()
		}
		ep := obj.(*corev1.Endpoints)
		n := 0
		for _, s := range ep.Subsets {
			n += len(s.Addresses)
		}
		return n == 0, fmt.Sprintf("%d ready addresses", n)
	})
	c.waitFor("the ClusterIP refusing", 5*time.Second, func() (bool, string) {
		start := time.Now()
		_, err := c.get(url)
		took := time.Since(start)
		return errors.Is(err, syscall.ECONNREFUSED) && took < 100*time.Millisecond, fmt.Sprintf("%v after %v", err, took)
	})
}
