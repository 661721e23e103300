package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestResolve asks for names /etc/hosts and the resolver settle without
// sending a query anywhere: localhost, and a malformed name.
func TestResolve(t *testing.T) {
	h := (&app{hostname: "pod-a"}).handler()
	tests := []struct {
		path       string
		wantStatus int
		wantLine   string
	}{
		{"/resolve?name=localhost", http.StatusOK, "127.0.0.1"},
		{"/resolve", http.StatusBadRequest, "name is required"},
		{"/resolve?name=" + strings.Repeat("x", 300) + ".invalid", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.wantStatus {
			t.Errorf("GET %.40s: status %d, want %d (%s)", tt.path, rec.Code, tt.wantStatus, rec.Body)
		}
		if tt.wantLine != "" && !strings.Contains("\n"+rec.Body.String(), "\n"+tt.wantLine+"\n") {
			t.Errorf("GET %s: body %q, want a line %q", tt.path, rec.Body, tt.wantLine)
		}
	}
}
