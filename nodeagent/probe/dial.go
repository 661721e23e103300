package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dialer is the dialer of checks whose host is a name, not an address: no
// TCP keep-alive (a probe's connection lives for one check; Go's default
// would set four socket options on each).
var dialer = &net.Dialer{KeepAlive: -1}

// dial opens a TCP connection to host:port for one check, bounded by ctx.
//
// Probe targets are nearly always pod IPs on the node's own bridge, where
// the whole handshake runs inside connect(2): dial then checks the socket
// at once instead of parking on the runtime's poller and being woken again,
// which costs more than the connection itself when hundreds of probes run
// every second. A handshake still under way when connect returns is waited
// for on the poller, with ctx's deadline. Errors read like net.Dialer's
// ("dial tcp 10.42.0.5:8080: connect: connection refused").
func dial(ctx context.Context, host string, port int) (net.Conn, error) {
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	s, err := connect(ctx, ip, port)
	if err != nil {
		return nil, err
	}
	c := s.conn()
	if s.inProgress {
		if err := c.waitConnected(ctx); err != nil {
			c.Close()
			return nil, s.opError(err)
		}
	}
	return c, nil
}

// socket is a TCP socket that connect opened.
type socket struct {
	fd         int
	raddr      *net.TCPAddr
	inProgress bool // the handshake is under way
}

// connect opens a non-blocking TCP socket to ip:port. Unless the
// handshake is still under way (inProgress) the socket is connected.
func connect(ctx context.Context, ip netip.Addr, port int) (socket, error) {
	ip = ip.Unmap()
	s := socket{fd: -1, raddr: &net.TCPAddr{IP: ip.AsSlice(), Port: port}}
	if err := ctx.Err(); err != nil {
		return s, s.opError(mapCtxErr(err))
	}
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: port, Addr: ip.As4()})
	if ip.Is6() {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return s, s.opError(os.NewSyscallError("socket", err))
	}
	err = unix.Connect(fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(fd, sa)
	}
	switch err {
	case nil:
	case unix.EINPROGRESS, unix.EALREADY:
		// Done already (the usual case on the node's bridge), refused, or
		// really under way: ask the socket without waiting.
		err = connectResult(fd)
	default:
		err = os.NewSyscallError("connect", err)
	}
	if err == unix.EINPROGRESS {
		s.fd, s.inProgress = fd, true
		return s, nil
	}
	if err != nil {
		unix.Close(fd)
		return s, s.opError(err)
	}
	s.fd = fd
	return s, nil
}

// conn hands the socket to the runtime's poller as a net.Conn.
func (s socket) conn() *fileConn {
	return &fileConn{File: os.NewFile(uintptr(s.fd), "probe"), raddr: s.raddr} // pollable: fd is non-blocking
}

func (s socket) opError(err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: s.raddr, Err: err}
}

// connectResult is the outcome of a non-blocking connect on fd: nil once
// connected, EINPROGRESS while the handshake is under way, else the
// connect error.
func connectResult(fd int) error {
	for {
		n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("getsockopt", err)
		}
		switch e := unix.Errno(n); e {
		case 0:
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return unix.EINPROGRESS
		default:
			return os.NewSyscallError("connect", e)
		}
		if _, err := unix.Getpeername(fd); err != nil {
			if err == unix.ENOTCONN {
				return unix.EINPROGRESS
			}
			return os.NewSyscallError("getpeername", err)
		}
		return nil
	}
}

// waitConnected waits on the runtime's poller until the handshake of c's
// socket ends, or ctx does.
func (c *fileConn) waitConnected(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(pastDeadline) })
	defer stop()
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var res error
	werr := rc.Write(func(fd uintptr) bool {
		res = connectResult(int(fd))
		return res != unix.EINPROGRESS
	})
	if werr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return mapCtxErr(cerr)
		}
		if errors.Is(werr, os.ErrDeadlineExceeded) {
			return mapCtxErr(context.DeadlineExceeded)
		}
		return werr
	}
	_ = c.SetWriteDeadline(time.Time{})
	return res
}

// mapCtxErr turns ctx's error into the one net.Dialer reports.
func mapCtxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded // "i/o timeout"
	}
	return errCanceled
}

var errCanceled = errors.New("operation was canceled")

// fileConn is a connected TCP socket as a net.Conn: an os.File on the
// runtime's poller (reads, writes and deadlines) with the peer's address.
type fileConn struct {
	*os.File
	raddr *net.TCPAddr
}

func (c *fileConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *fileConn) RemoteAddr() net.Addr { return c.raddr }

func (c *fileConn) Read(b []byte) (int, error) {
	n, err := c.File.Read(b)
	return n, c.opError("read", err)
}

func (c *fileConn) Write(b []byte) (int, error) {
	n, err := c.File.Write(b)
	return n, c.opError("write", err)
}

// opError words the os.File's errors like a net.Conn's.
func (c *fileConn) opError(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return &net.OpError{Op: op, Net: "tcp", Addr: c.raddr, Err: pe.Err}
	}
	return err
}
