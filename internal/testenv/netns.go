package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/var/run/netns"

// netnsLock serializes "ip netns add" across test processes: the first one
// on a host turns netnsDir into a shared mount point, and two doing it at
// once would stack two mounts.
const netnsLock = "/run/tugtest-netns.lock"

// NetNS is a named network namespace created for one test.
type NetNS struct {
	Name string // e.g. tugtest-1a2b3c4d
	Path string // /var/run/netns/<Name>
}

// NewNetNS creates a network namespace with a unique name tugtest-<rand>,
// sets its loopback up and leaves it without any other link or route.
// t.Cleanup deletes it. It needs root and the ip command.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	Require(t, "ip")
	name := "tugtest-" + RandomSuffix()
	if err := withFileLock(netnsLock, func() error {
		return run("ip", "netns", "add", name)
	}); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	n := &NetNS{Name: name, Path: filepath.Join(netnsDir, name)}
	t.Cleanup(func() {
		if err := run("ip", "netns", "delete", name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	if err := n.Do(setLoopbackUp); err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	return n
}

// RandomSuffix returns 8 random hex digits for names that must be unique on
// the host (netns names, container IDs).
func RandomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// setLoopbackUp sets IFF_UP on lo in the current network namespace.
func setLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: set flags: %w", err)
	}
	return nil
}

// Do runs fn on an OS thread switched into the namespace and waits for it.
// fn runs on a goroutine of its own, locked to that thread; goroutines fn
// starts do not run in the namespace. If the thread cannot be switched back
// it is discarded rather than reused.
func (n *NetNS) Do(fn func() error) error {
	target, err := netns.GetFromPath(n.Path)
	if err != nil {
		return fmt.Errorf("netns %s: open: %w", n.Name, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: open current netns: %w", n.Name, err)
			return
		}
		defer origin.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: enter: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(origin); err != nil {
			// Stay locked: the thread ends with this goroutine instead of
			// running other goroutines inside the test namespace.
			errc <- errors.Join(ferr, fmt.Errorf("netns %s: leave: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContext connects from a socket created inside the namespace. The host
// must be an IP literal or "localhost" (127.0.0.1): names are not resolved,
// so no lookup leaves the test's namespaces.
func (n *NetNS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netns %s: dial %s: %w", n.Name, addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("netns %s: dial %s: host must be an IP literal, names are not resolved", n.Name, addr)
	}
	addr = net.JoinHostPort(host, port)
	var conn net.Conn
	err = n.Do(func() error {
		// One literal address: the dialer connects on this goroutine,
		// so the socket is created on the thread inside the namespace.
		d := net.Dialer{Timeout: 5 * time.Second, FallbackDelay: -1}
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// HTTPClient returns a client whose connections are made inside the
// namespace; it ignores proxy settings, keeps no idle connections and gives
// up on a request after 10 s.
func (n *NetNS) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           n.DialContext,
			DisableKeepAlives:     true,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
		},
	}
}

// Command returns a command that runs name inside the namespace through
// nsenter --net (which, unlike "ip netns exec", keeps /sys/fs/cgroup
// visible).
func (n *NetNS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path, "--", name}, args...)...)
}
