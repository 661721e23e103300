package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestGRPCHealthHandler(t *testing.T) {
	a := &app{health: health.NewServer()}
	h := a.handler()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		resp, err := a.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("check %q: %v", service, err)
		}
		return resp.Status
	}
	for _, tt := range []struct {
		query   string
		code    int
		service string
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{query: "status=NOT_SERVING", code: 200, want: healthpb.HealthCheckResponse_NOT_SERVING},
		{query: "status=SERVING", code: 200, want: healthpb.HealthCheckResponse_SERVING},
		{query: "status=NOT_SERVING&service=ready", code: 200, service: "ready", want: healthpb.HealthCheckResponse_NOT_SERVING},
		{query: "status=BROKEN", code: http.StatusBadRequest, want: healthpb.HealthCheckResponse_SERVING},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/grpc-health?"+tt.query, nil))
		if rec.Code != tt.code {
			t.Errorf("%s: status %d, want %d (%s)", tt.query, rec.Code, tt.code, rec.Body)
		}
		if got := check(tt.service); got != tt.want {
			t.Errorf("%s: health of %q = %v, want %v", tt.query, tt.service, got, tt.want)
		}
	}
	rec := httptest.NewRecorder()
	(&app{}).handler().ServeHTTP(rec, httptest.NewRequest("GET", "/grpc-health?status=SERVING", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without GRPC_PORT: status %d, want 404", rec.Code)
	}
}
