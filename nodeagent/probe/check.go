package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxBody is how much of a response body is read (and kept for the
// failure message), as the kubelet limits it.
const maxBody = 10 << 10

// ResolvePort turns a probe port (a number or the name of one of the
// container's ports) into a port number.
func ResolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return 0, fmt.Errorf("port %d is out of range", port.IntVal)
		}
		return int(port.IntVal), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil && n > 0 && n < 65536 {
		return n, nil
	}
	return 0, fmt.Errorf("container %q has no port named %q", c.Name, port.StrVal)
}

// HTTPRequest builds the request of an httpGet probe; podIP is the host
// when the probe gives none.
func HTTPRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	p := g.Path
	if p == "" {
		p = "/"
	} else if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + p)
	if err != nil {
		return nil, fmt.Errorf("probe URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "kube-probe/tug")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	return req, nil
}

// NewHTTPClient returns the client httpGet probes use: no keep-alive (every
// check opens a new connection, as the kubelet's does), no certificate
// verification for HTTPS (as the kubelet), and redirects followed only on
// the same host; a redirect elsewhere counts as success.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probe targets
			Proxy:             nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 || req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// HTTP runs one httpGet check: a status from 200 to 399 is Success, any
// other status or an error Failure. The message says why it failed.
func HTTP(client *http.Client, req *http.Request) (Result, string) {
	resp, err := client.Do(req)
	if err != nil {
		return Failure, fmt.Sprintf("Get %q: %v", req.URL.String(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Success, ""
	}
	msg := fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += ": " + b
	}
	return Failure, msg
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// TCP runs one tcpSocket check: a connection that opens is Success. A
// connection to an address that is done within connect(2) (a pod on the
// node's bridge) is closed without ever reaching the runtime's poller.
func TCP(ctx context.Context, host string, port int) (Result, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	fail := func(err error) (Result, string) {
		return Failure, fmt.Sprintf("dial tcp %s: %v", addr, unwrapOpError(err))
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		s, err := connect(ctx, ip, port)
		if err != nil {
			return fail(err)
		}
		if !s.inProgress {
			_ = unix.Close(s.fd)
			return Success, ""
		}
		c := s.conn()
		defer c.Close()
		if err := c.waitConnected(ctx); err != nil {
			return fail(s.opError(err))
		}
		return Success, ""
	}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(err)
	}
	_ = conn.Close()
	return Success, ""
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
