package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serveGRPCHealth serves the gRPC health service (grpc.health.v1) hs on
// port, for gRPC probes; the returned function stops it.
func serveGRPCHealth(log *slog.Logger, port string, hs *health.Server) (stop func(), err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return nil, fmt.Errorf("listen on :%s (GRPC_PORT): %w", port, err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	log.Info("hello serving grpc.health.v1", "addr", ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	return srv.Stop, nil
}

// grpcHealth sets the status the gRPC health service gives for service S
// (default "", the whole server): GET /grpc-health?status=NOT_SERVING&service=S.
func (a *app) grpcHealth(w http.ResponseWriter, r *http.Request) {
	if a.health == nil {
		http.Error(w, "GRPC_PORT is not set", http.StatusNotFound)
		return
	}
	name := r.URL.Query().Get("status")
	v, ok := healthpb.HealthCheckResponse_ServingStatus_value[name]
	if !ok {
		http.Error(w, fmt.Sprintf("status %q: want SERVING or NOT_SERVING", name), http.StatusBadRequest)
		return
	}
	service := r.URL.Query().Get("service")
	a.health.SetServingStatus(service, healthpb.HealthCheckResponse_ServingStatus(v))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "grpc health of %q: %s\n", service, name)
}
