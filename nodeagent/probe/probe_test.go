package probe

import (
	"context"
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

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSpecOfDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.Probe
		want Spec
	}{
		{"all defaults", corev1.Probe{}, Spec{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}},
		{"all set", corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, TimeoutSeconds: 3, SuccessThreshold: 2, FailureThreshold: 1},
			Spec{InitialDelay: 5 * time.Second, Period: 2 * time.Second, Timeout: 3 * time.Second, SuccessThreshold: 2, FailureThreshold: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SpecOf(&tt.in)); diff != "" {
				t.Errorf("SpecOf (-want +got):\n%s", diff)
			}
		})
	}
}

// step is one check of a machine driven by a fake clock: at is the offset
// from the container's start.
type step struct {
	at      time.Duration
	outcome Result
	// expectations after recording the outcome
	result  Result
	changed bool
	next    time.Duration // offset of Next(); -1: zero (done)
}

func TestMachine(t *testing.T) {
	spec := Spec{InitialDelay: 3 * time.Second, Period: time.Second, Timeout: time.Second, SuccessThreshold: 2, FailureThreshold: 3}
	tests := []struct {
		name    string
		kind    Kind
		spec    Spec
		initial Result
		steps   []step
	}{
		{
			name: "readiness starts failed and needs successThreshold successes", kind: Readiness, spec: spec, initial: Failure,
			steps: []step{
				{at: 3 * time.Second, outcome: Failure, result: Failure, next: 4 * time.Second},
				{at: 4 * time.Second, outcome: Success, result: Failure, next: 5 * time.Second},
				{at: 5 * time.Second, outcome: Success, result: Success, changed: true, next: 6 * time.Second},
				{at: 6 * time.Second, outcome: Failure, result: Success, next: 7 * time.Second},
				{at: 7 * time.Second, outcome: Success, result: Success, next: 8 * time.Second},
				{at: 8 * time.Second, outcome: Failure, result: Success, next: 9 * time.Second},
				{at: 9 * time.Second, outcome: Failure, result: Success, next: 10 * time.Second},
				{at: 10 * time.Second, outcome: Failure, result: Failure, changed: true, next: 11 * time.Second},
				{at: 11 * time.Second, outcome: Unknown, result: Failure, next: 12 * time.Second},
			},
		},
		{
			name: "liveness starts healthy and stops after failureThreshold failures", kind: Liveness,
			spec: Spec{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 2}, initial: Success,
			steps: []step{
				{at: 0, outcome: Failure, result: Success, next: 10 * time.Second},
				{at: 10 * time.Second, outcome: Success, result: Success, next: 20 * time.Second},
				{at: 20 * time.Second, outcome: Failure, result: Success, next: 30 * time.Second},
				{at: 30 * time.Second, outcome: Failure, result: Failure, changed: true, next: -1},
			},
		},
		{
			name: "startup settles on its first success", kind: Startup, spec: spec, initial: Unknown,
			steps: []step{
				{at: 3 * time.Second, outcome: Failure, result: Unknown, next: 4 * time.Second},
				{at: 4 * time.Second, outcome: Success, result: Unknown, next: 5 * time.Second},
				{at: 5 * time.Second, outcome: Success, result: Success, changed: true, next: -1},
			},
		},
		{
			name: "startup fails after failureThreshold", kind: Startup, spec: spec, initial: Unknown,
			steps: []step{
				{at: 3 * time.Second, outcome: Failure, result: Unknown, next: 4 * time.Second},
				{at: 4 * time.Second, outcome: Failure, result: Unknown, next: 5 * time.Second},
				{at: 5 * time.Second, outcome: Failure, result: Failure, changed: true, next: -1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.kind, tt.spec, t0)
			if m.Result != tt.initial {
				t.Fatalf("initial result %v, want %v", m.Result, tt.initial)
			}
			if got, want := m.Next(), t0.Add(tt.spec.InitialDelay); !got.Equal(want) {
				t.Fatalf("first check due at %v, want %v (initialDelay)", got.Sub(t0), want.Sub(t0))
			}
			for i, s := range tt.steps {
				changed := m.Record(s.outcome, "msg "+strconv.Itoa(i), t0.Add(s.at))
				got := step{at: s.at, outcome: s.outcome, result: m.Result, changed: changed, next: -1}
				if n := m.Next(); !n.IsZero() {
					got.next = n.Sub(t0)
				}
				if diff := cmp.Diff(s, got, cmp.AllowUnexported(step{})); diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestMachineMessage(t *testing.T) {
	m := NewMachine(Readiness, Spec{Period: time.Second, SuccessThreshold: 1, FailureThreshold: 1}, t0)
	m.Record(Failure, "HTTP probe failed with statuscode: 503", t0)
	if m.Message != "HTTP probe failed with statuscode: 503" {
		t.Errorf("message after failure = %q", m.Message)
	}
	m.Record(Success, "", t0.Add(time.Second))
	if m.Message != "" {
		t.Errorf("message after success = %q, want empty", m.Message)
	}
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	tests := []struct {
		port    intstr.IntOrString
		want    int
		wantErr string
	}{
		{intstr.FromInt32(9000), 9000, ""},
		{intstr.FromString("http"), 8080, ""},
		{intstr.FromString("metrics"), 0, `no port named "metrics"`},
		{intstr.FromInt32(0), 0, "out of range"},
	}
	for _, tt := range tests {
		got, err := ResolvePort(tt.port, c)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ResolvePort(%v) error = %v, want %q", tt.port.String(), err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolvePort(%v) = %d, %v; want %d", tt.port.String(), got, err, tt.want)
		}
	}
}

func TestHTTPAndTCPChecks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Host != "example.test" {
			http.Error(w, "headers missing", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not yet", http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:1/", http.StatusFound) // another host: never followed
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}

	tests := []struct {
		path    string
		want    Result
		wantMsg string
	}{
		{"/ok", Success, ""},
		{"/moved", Success, ""},
		{"/away", Success, ""},
		{"/down", Failure, "HTTP probe failed with statuscode: 503: not yet"},
		{"/missing", Failure, "HTTP probe failed with statuscode: 404: 404 page not found"},
	}
	client := NewHTTPClient()
	for _, tt := range tests {
		req, err := HTTPRequest(context.Background(), &corev1.HTTPGetAction{Path: tt.path, Port: intstr.FromString("web"), HTTPHeaders: headers}, c, host)
		if err != nil {
			t.Fatal(err)
		}
		got, msg := HTTP(client, req)
		if got != tt.want || msg != tt.wantMsg {
			t.Errorf("GET %s = %v %q, want %v %q", tt.path, got, msg, tt.want, tt.wantMsg)
		}
	}

	if got, msg := TCP(context.Background(), host, port); got != Success {
		t.Errorf("TCP to a listening port = %v %q", got, msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if got, msg := TCP(context.Background(), "127.0.0.1", closedPort); got != Failure || !strings.Contains(msg, "refused") {
		t.Errorf("TCP to a closed port = %v %q, want Failure (refused)", got, msg)
	}
}
