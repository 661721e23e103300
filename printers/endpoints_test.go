package printers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFormatEndpoints(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name string
		ep   corev1.Endpoints
		want string
	}{
		{"none", corev1.Endpoints{}, "<none>"},
		{"not ready only", corev1.Endpoints{Subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.42.0.2"), Ports: []corev1.EndpointPort{{Port: 80}}}}}, "<none>"},
		{"two", corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.42.0.2", "10.42.0.3"), Ports: []corev1.EndpointPort{{Port: 8080}}}}}, "10.42.0.2:8080,10.42.0.3:8080"},
		{"more than three", corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.42.0.2", "10.42.0.3", "10.42.0.4"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			"10.42.0.2:80,10.42.0.3:80,10.42.0.4:80 + 3 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatEndpoints(&tt.ep); got != tt.want {
				t.Errorf("formatEndpoints = %q, want %q", got, tt.want)
			}
		})
	}
}
