package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxRedirects is how many same-host redirects a check follows, as Go's
// http.Client (and so the kubelet) does.
const maxRedirects = 10

// HTTPTarget is an httpGet probe prepared once for a container run: the
// URL, the Host header and the request bytes are built when the run's
// probes start, and every check writes them on a new connection. A check
// is what the kubelet's prober does with Go's http.Client (no keep-alive,
// no certificate verification, redirects followed on the same host only)
// without the client's transport goroutines: dial, write the request,
// read the response with http.ReadResponse, read at most 10 KiB of body,
// close.
type HTTPTarget struct {
	url     *url.URL
	host    string              // the Host header
	headers []corev1.HTTPHeader // the probe's headers but Host
	req     []byte              // the request for url
}

// NewHTTPTarget prepares the httpGet probe g of container c; podIP is the
// host when the probe gives none. Header names and values that cannot be
// sent are refused, as http.Client refuses them.
func NewHTTPTarget(g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*HTTPTarget, error) {
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
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("unsupported protocol scheme %q", scheme)
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
	t := &HTTPTarget{url: u, host: u.Host}
	for _, h := range g.HTTPHeaders {
		if !validHeaderName(h.Name) {
			return nil, fmt.Errorf("invalid HTTP header name %q", h.Name)
		}
		if !validHeaderValue(h.Value) {
			return nil, fmt.Errorf("invalid HTTP header value for header %q", h.Name)
		}
		if strings.EqualFold(h.Name, "Host") {
			t.host = h.Value
			continue
		}
		t.headers = append(t.headers, h)
	}
	t.req = renderRequest(u, t.host, t.headers)
	return t, nil
}

// URL is the probe's URL.
func (t *HTTPTarget) URL() string { return t.url.String() }

// renderRequest is the GET request for u, with the Host header host and
// the probe's headers after tug's own (a probe header named like one of
// them is sent as well, as http.Header.Add does).
func renderRequest(u *url.URL, host string, headers []corev1.HTTPHeader) []byte {
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(host)
	b.WriteString("\r\nUser-Agent: kube-probe/tug\r\nAccept: */*\r\nConnection: close\r\n")
	for _, h := range headers {
		b.WriteString(http.CanonicalHeaderKey(h.Name))
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Check runs one check: a final status from 200 to 399 is Success, any
// other status or an error Failure, with the message saying why. ctx bounds
// the whole check (the probe's timeout).
func (t *HTTPTarget) Check(ctx context.Context) (Result, string) {
	u, req := t.url, t.req
	for redirects := 0; ; redirects++ {
		code, location, body, err := roundTrip(ctx, u, req)
		if err != nil {
			return Failure, fmt.Sprintf("Get %q: %v", u.String(), err)
		}
		if isRedirect(code) && location != "" && redirects < maxRedirects {
			next, err := u.Parse(location)
			if err != nil {
				return Failure, fmt.Sprintf("Get %q: failed to parse Location header %q: %v", u.String(), location, err)
			}
			if next.Hostname() == t.url.Hostname() && (next.Scheme == "http" || next.Scheme == "https") {
				host := next.Host
				if !strings.Contains(location, "://") && !strings.HasPrefix(location, "//") {
					host = t.host // a relative redirect keeps the Host header
				}
				u, req = next, renderRequest(next, host, t.headers)
				continue
			}
			// Another host: never followed; the redirect is the answer.
		}
		if code >= 200 && code < 400 {
			return Success, ""
		}
		msg := fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
		if b := strings.TrimSpace(string(body)); b != "" {
			msg += ": " + b
		}
		return Failure, msg
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// readers recycles the buffered readers of responses.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// pastDeadline unblocks a connection's reads and writes at once.
var pastDeadline = time.Unix(1, 0)

// roundTrip sends req (the request for u) on a new connection and reads
// the response: its status code, its Location header and the first 10 KiB
// of its body. The body is only kept for a failing status (the message).
func roundTrip(ctx context.Context, u *url.URL, req []byte) (code int, location string, body []byte, err error) {
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return 0, "", nil, fmt.Errorf("invalid port %q", p)
		}
	}
	conn, err := dial(ctx, u.Hostname(), port)
	if err != nil {
		return 0, "", nil, unwrapCtx(ctx, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(pastDeadline) })
	defer stop()

	var rw net.Conn = conn
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}) //nolint:gosec // the kubelet does not verify probe targets
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, "", nil, unwrapCtx(ctx, err)
		}
		rw = tc
	}
	if _, err := rw.Write(req); err != nil {
		return 0, "", nil, unwrapCtx(ctx, err)
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(rw)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, "", nil, unwrapCtx(ctx, err)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // informational: the real answer follows
		}
		code, location = resp.StatusCode, resp.Header.Get("Location")
		// Read the body as the kubelet does (at most 10 KiB; an error
		// reading it fails the check); keep it only for a failure message.
		if code >= 200 && code < 400 {
			_, err = io.CopyN(io.Discard, resp.Body, maxBody)
		} else {
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, "", nil, unwrapCtx(ctx, err)
		}
		return code, location, body, nil
	}
}

// unwrapCtx reports an error after ctx ended (its deadline, the probe's
// timeout, passed or it was cancelled) as ctx's error, the way http.Client
// does, rather than as the connection's i/o timeout.
func unwrapCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded // the connection's deadline is ctx's
	}
	return err
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
