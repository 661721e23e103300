package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeMux answers the paths the httpGet tests probe.
func probeMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Host != "example.test" || r.UserAgent() != "kube-probe/tug" {
			http.Error(w, "headers missing", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not yet", http.StatusServiceUnavailable) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "part one, ")
		w.(http.Flusher).Flush() // no Content-Length: chunked
		fmt.Fprint(w, "part two")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, strings.Repeat("x", 64<<10))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/moved-down", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/down", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:1/", http.StatusFound) // another host: never followed
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	return mux
}

// TestHTTPTargetMatchesClient runs every httpGet case through the
// hand-written check and through Go's http.Client (the kubelet's way,
// NewHTTPClient): results and messages must be the same.
func TestHTTPTargetMatchesClient(t *testing.T) {
	for _, tls := range []bool{false, true} {
		var srv *httptest.Server
		if tls {
			srv = httptest.NewTLSServer(probeMux())
		} else {
			srv = httptest.NewServer(probeMux())
		}
		defer srv.Close()
		host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
		port, _ := strconv.Atoi(portStr)
		c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
		headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}
		scheme := corev1.URISchemeHTTP
		if tls {
			scheme = corev1.URISchemeHTTPS
		}

		tests := []struct {
			path    string
			want    Result
			wantMsg string
		}{
			{"/ok", Success, ""},
			{"/plain", Success, ""},
			{"/moved", Success, ""},
			{"/away", Success, ""},
			{"/loop", Success, ""}, // the 11th redirect is the answer
			{"/down", Failure, "HTTP probe failed with statuscode: 503: not yet"},
			{"/moved-down", Failure, "HTTP probe failed with statuscode: 503: not yet"},
			{"/chunked", Failure, "HTTP probe failed with statuscode: 500: part one, part two"},
			{"/big", Failure, "HTTP probe failed with statuscode: 500: " + strings.Repeat("x", maxBody)},
			{"/missing", Failure, "HTTP probe failed with statuscode: 404: 404 page not found"},
		}
		client := NewHTTPClient()
		for _, tt := range tests {
			t.Run(fmt.Sprintf("tls=%v%s", tls, tt.path), func(t *testing.T) {
				g := &corev1.HTTPGetAction{Path: tt.path, Port: intstr.FromString("web"), HTTPHeaders: headers, Scheme: scheme}
				target, err := NewHTTPTarget(g, c, host)
				if err != nil {
					t.Fatal(err)
				}
				got, msg := target.Check(context.Background())
				if diff := cmp.Diff(fmt.Sprint(tt.want, " ", tt.wantMsg), fmt.Sprint(got, " ", msg)); diff != "" {
					t.Errorf("Check GET %s (-want +got):\n%s", tt.path, diff)
				}
				req, err := HTTPRequest(context.Background(), g, c, host)
				if err != nil {
					t.Fatal(err)
				}
				cgot, cmsg := HTTP(client, req)
				if cgot != got || cmsg != msg {
					t.Errorf("http.Client GET %s = %v %q; hand-written check = %v %q", tt.path, cgot, cmsg, got, msg)
				}
			})
		}
	}
}

func TestHTTPTargetErrors(t *testing.T) {
	srv := httptest.NewServer(probeMux())
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := &corev1.Container{Name: "app"}

	tests := []struct {
		name    string
		g       corev1.HTTPGetAction
		timeout time.Duration
		want    string // in the message
	}{
		{"nothing listening", corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(closedPort)}, time.Second,
			fmt.Sprintf(`Get "http://127.0.0.1:%d/ok": dial tcp 127.0.0.1:%d: connect: connection refused`, closedPort, closedPort)},
		{"timeout", corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt(port)}, 100 * time.Millisecond,
			fmt.Sprintf(`Get "http://127.0.0.1:%d/slow": context deadline exceeded`, port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := NewHTTPTarget(&tt.g, c, host)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			got, msg := target.Check(ctx)
			if got != Failure || msg != tt.want {
				t.Errorf("Check = %v %q, want Failure %q", got, msg, tt.want)
			}
			if took := time.Since(start); took > tt.timeout+500*time.Millisecond {
				t.Errorf("Check took %s, beyond its timeout %s", took, tt.timeout)
			}
		})
	}

	// A cancelled check ends at once.
	target, err := NewHTTPTarget(&corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt(port)}, c, host)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if got, msg := target.Check(ctx); got != Failure || !strings.HasSuffix(msg, "context canceled") {
		t.Errorf("cancelled Check = %v %q, want Failure ending in context canceled", got, msg)
	}
}

func TestNewHTTPTargetRefuses(t *testing.T) {
	c := &corev1.Container{Name: "app"}
	tests := []struct {
		name string
		g    corev1.HTTPGetAction
		want string
	}{
		{"header name", corev1.HTTPGetAction{Port: intstr.FromInt(80), HTTPHeaders: []corev1.HTTPHeader{{Name: "Bad Name", Value: "x"}}}, `invalid HTTP header name "Bad Name"`},
		{"header value", corev1.HTTPGetAction{Port: intstr.FromInt(80), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-A", Value: "a\r\nX-Injected: 1"}}}, `invalid HTTP header value for header "X-A"`},
		{"scheme", corev1.HTTPGetAction{Port: intstr.FromInt(80), Scheme: "ftp"}, `unsupported protocol scheme "ftp"`},
		{"port", corev1.HTTPGetAction{Port: intstr.FromString("web")}, `no port named "web"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPTarget(&tt.g, c, "10.0.0.1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewHTTPTarget error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHTTPTargetRequest(t *testing.T) {
	c := &corev1.Container{Name: "app"}
	g := &corev1.HTTPGetAction{Path: "healthz?full=1", Port: intstr.FromInt(8080),
		HTTPHeaders: []corev1.HTTPHeader{{Name: "x-token", Value: "abc"}, {Name: "host", Value: "svc.local"}}}
	target, err := NewHTTPTarget(g, c, "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := "GET /healthz?full=1 HTTP/1.1\r\nHost: svc.local\r\nUser-Agent: kube-probe/tug\r\nAccept: */*\r\nConnection: close\r\nX-Token: abc\r\n\r\n"
	if diff := cmp.Diff(want, string(target.req)); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if got := target.URL(); got != "http://10.1.2.3:8080/healthz?full=1" {
		t.Errorf("URL = %q", got)
	}
}
