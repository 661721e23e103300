package nodeagent

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodResolvConf(t *testing.T) {
	const host = "# from the host\nnameserver 192.0.2.53\nnameserver 192.0.2.54 ; second\nsearch old.example\nsearch corp.example lab.example\noptions edns0 ndots:1\n"
	value := func(s string) *string { return &s }
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("%s%02d.example", strings.Repeat("x", 60), i)) // 70 characters
	}
	tests := []struct {
		name       string
		policy     corev1.DNSPolicy
		hostNet    bool
		config     *corev1.PodDNSConfig
		clusterDNS string
		want       string
		wantErr    string
	}{
		{name: "ClusterFirst by default", clusterDNS: "10.43.0.10",
			want: "search hello.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst", policy: corev1.DNSClusterFirst, clusterDNS: "10.43.0.10",
			want: "search hello.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst without a cluster DNS falls back to the host's", policy: corev1.DNSClusterFirst,
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:1\n"},
		{name: "ClusterFirst on the host network is Default", hostNet: true, clusterDNS: "10.43.0.10",
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:1\n"},
		{name: "ClusterFirstWithHostNet", policy: corev1.DNSClusterFirstWithHostNet, hostNet: true, clusterDNS: "10.43.0.10",
			want: "search hello.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{name: "Default", policy: corev1.DNSDefault, clusterDNS: "10.43.0.10",
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:1\n"},
		{name: "None with dnsConfig", policy: corev1.DNSNone, clusterDNS: "10.43.0.10",
			config: &corev1.PodDNSConfig{Nameservers: []string{"198.51.100.1"}, Searches: []string{"my.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: value("2")}, {Name: "edns0"}}},
			want: "search my.example\nnameserver 198.51.100.1\noptions ndots:2 edns0\n"},
		{name: "None without dnsConfig is empty", policy: corev1.DNSNone, want: ""},
		{name: "dnsConfig merged into ClusterFirst", clusterDNS: "10.43.0.10",
			config: &corev1.PodDNSConfig{Nameservers: []string{"10.43.0.10", "198.51.100.1"}, Searches: []string{"svc.cluster.local", "my.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: value("3")}, {Name: "single-request-reopen"}}},
			want: "search hello.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example my.example\nnameserver 10.43.0.10\nnameserver 198.51.100.1\noptions ndots:3 single-request-reopen\n"},
		{name: "dnsConfig merged into Default", policy: corev1.DNSDefault,
			config: &corev1.PodDNSConfig{Nameservers: []string{"198.51.100.1", "198.51.100.2"}, Options: []corev1.PodDNSConfigOption{{Name: "edns0"}}},
			want:   "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 198.51.100.1\noptions ndots:1 edns0\n"},
		{name: "searches cut to 2048 characters", policy: corev1.DNSNone, config: &corev1.PodDNSConfig{Searches: many},
			want: "search " + strings.Join(many[:28], " ") + "\n"}, // 28×71-1 = 1987 ≤ 2048 < 29×71-1
		{name: "unknown policy", policy: "Sometimes", wantErr: `pod hello/web: dnsPolicy "Sometimes": want ClusterFirst, ClusterFirstWithHostNet, Default or None`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "hello", Name: "web"},
				Spec:       corev1.PodSpec{DNSPolicy: tt.policy, HostNetwork: tt.hostNet, DNSConfig: tt.config},
			}
			got, err := podResolvConf(pod, []byte(host), tt.clusterDNS, "cluster.local")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("resolv.conf mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
