package probe

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullListener listens on 127.0.0.1 with an accept queue of one and
// never accepts: once the queue is full the kernel drops new SYNs, so a
// connect stays in progress (SYN_SENT). accept takes one connection off
// the queue. Only loopback traffic.
func fullListener(t *testing.T) (port int, accept func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port, func() {
		if nfd, _, err := unix.Accept(fd); err == nil {
			unix.Close(nfd)
		}
	}
}

// TestDialInProgress covers the path of a handshake that is still under
// way when connect returns: it is waited for on the poller until the
// check's deadline, and it succeeds when the handshake completes later.
func TestDialInProgress(t *testing.T) {
	port, accept := fullListener(t)
	// Fill the accept queue.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		c, err := dial(ctx, "127.0.0.1", port)
		cancel()
		if err != nil {
			break // the queue is full
		}
		held = append(held, c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, msg := TCP(ctx, "127.0.0.1", port)
	want := fmt.Sprintf("dial tcp 127.0.0.1:%d: i/o timeout", port)
	if got != Failure || msg != want {
		t.Errorf("TCP to a full accept queue = %v %q, want Failure %q", got, msg, want)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > time.Second {
		t.Errorf("TCP check took %s, want its timeout (300ms)", took)
	}

	// Room in the queue again: the SYN's retransmission (after 1 s)
	// completes the handshake while dial waits.
	time.AfterFunc(100*time.Millisecond, accept)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if got, msg := TCP(ctx2, "127.0.0.1", port); got != Success {
		t.Errorf("TCP once the queue has room = %v %q, want Success", got, msg)
	}

	// A cancelled check ends at once.
	ctx3, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel3)
	if got, msg := TCP(ctx3, "127.0.0.1", port); got != Failure || !strings.HasSuffix(msg, "operation was canceled") {
		t.Errorf("cancelled TCP = %v %q, want Failure ending in operation was canceled", got, msg)
	}
}

func TestDialAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "::ffff:127.0.0.1", "localhost"} {
		c, err := dial(context.Background(), host, port)
		if err != nil {
			t.Errorf("dial %s: %v", host, err)
			continue
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.Port != port {
			t.Errorf("dial %s: remote address %v", host, c.RemoteAddr())
		}
		c.Close()
	}
}
