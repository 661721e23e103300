package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serveGRPC starts a gRPC server on 127.0.0.1, with the health service
// when hs is not nil, and returns its port.
func serveGRPC(t testing.TB, hs *health.Server) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	if hs != nil {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

func TestGRPC(t *testing.T) {
	hs := health.NewServer() // "" is SERVING
	hs.SetServingStatus("ready", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	port := serveGRPC(t, hs)
	bare := serveGRPC(t, nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name    string
		port    int
		service string
		want    Result
		msg     string
	}{
		{name: "server serving", port: port, want: Success},
		{name: "service serving", port: port, service: "ready", want: Success},
		{name: "service not serving", port: port, service: "down", want: Failure, msg: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", port: port, service: "nope", want: Failure, msg: "NotFound"},
		{name: "no health service", port: bare, want: Failure, msg: "does not implement the grpc health protocol"},
		{name: "nothing listening", port: closedPort, want: Failure, msg: "failed to connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, msg := GRPC(ctx, "127.0.0.1", tt.port, tt.service)
			if got != tt.want || !strings.Contains(msg, tt.msg) {
				t.Errorf("GRPC = %v %q, want %v containing %q", got, msg, tt.want, tt.msg)
			}
		})
	}
	// A status change shows at the next check.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if got, _ := GRPC(context.Background(), "127.0.0.1", port, ""); got != Failure {
		t.Errorf("after NOT_SERVING: %v, want Failure", got)
	}
}
