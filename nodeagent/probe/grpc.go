package probe

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// GRPC runs one grpc check as the kubelet does: the grpc.health.v1
// Health/Check call for service on host:port, in plain text (no TLS), on a
// new connection. SERVING is Success; any other status, a server without
// the health service, or an error is Failure, with the kubelet's
// messages.
func GRPC(ctx context.Context, host string, port int, service string) (Result, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := grpc.DialContext(ctx, addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("kube-probe/tug"))
	if err != nil {
		return Failure, fmt.Sprintf("error: failed to connect service %q: %v", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		st, ok := status.FromError(err)
		switch {
		case ok && st.Code() == codes.Unimplemented:
			return Failure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())
		case ok && st.Code() == codes.DeadlineExceeded:
			return Failure, fmt.Sprintf("timeout: health rpc did not complete within the probe's timeout (service %q at %s)", service, addr)
		case ok && st.Code() == codes.Unavailable:
			return Failure, fmt.Sprintf("error: failed to connect service %q: %s", addr, st.Message())
		case ok:
			return Failure, fmt.Sprintf("error: health rpc probe failed: %s: %s", st.Code(), st.Message())
		}
		return Failure, fmt.Sprintf("error: health rpc probe failed: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return Success, ""
}
