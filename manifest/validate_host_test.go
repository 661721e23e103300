package manifest

import (
	"strings"
	"testing"
)

// TestValidateHostAndSysctls covers host namespaces, sysctls,
// resourceFieldRef env vars and gRPC probes.
func TestValidateHostAndSysctls(t *testing.T) {
	const web = "Deployment shop/web"
	nsYAML := func(level string) string {
		return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    pod-security.kubernetes.io/enforce: " + level + "\n"
	}
	dep := func(podSpec string) string {
		return strings.Replace(deployment(podSpec), "name: web\nspec", "name: web\n  namespace: shop\nspec", 1)
	}
	const f = "spec.template.spec."
	hostNS := dep("      hostNetwork: true\n      hostPID: true\n      hostIPC: true\n      containers:\n      - name: web\n        image: nginx\n")
	safe := dep("      securityContext:\n        sysctls:\n        - {name: net.ipv4.ip_local_port_range, value: \"1024 65000\"}\n        - {name: kernel/shm_rmid_forced, value: \"1\"}\n" +
		"      containers:\n      - name: web\n        image: nginx\n")
	unsafe := dep("      securityContext:\n        sysctls:\n        - {name: net.core.somaxconn, value: \"1024\"}\n        - {name: kernel.shm_rmid_forced, value: \"1\"}\n        - {name: kernel.shm_rmid_forced, value: \"0\"}\n        - {name: \"Bad Name\", value: \"1\"}\n" +
		"      containers:\n      - name: web\n        image: nginx\n")
	hostSysctls := dep("      hostNetwork: true\n      hostIPC: true\n      securityContext:\n        sysctls:\n        - {name: net.ipv4.tcp_syncookies, value: \"1\"}\n        - {name: kernel.shm_rmid_forced, value: \"1\"}\n" +
		"      containers:\n      - name: web\n        image: nginx\n")
	resEnv := dep("      containers:\n      - name: web\n        image: nginx\n        env:\n" +
		"        - name: A\n          valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}\n" +
		"        - name: B\n          valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m, containerName: side}}\n" +
		"        - name: C\n          valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage}}\n" +
		"      - name: side\n        image: nginx\n")
	badResEnv := dep("      containers:\n      - name: web\n        image: nginx\n        env:\n" +
		"        - name: A\n          valueFrom: {resourceFieldRef: {resource: limits.gpu}}\n" +
		"        - name: B\n          valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 2}}\n" +
		"        - name: C\n          valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 3Mi, containerName: nope}}\n")
	grpc := dep("      containers:\n      - name: web\n        image: nginx\n" +
		"        livenessProbe: {grpc: {port: 9000}}\n        readinessProbe: {grpc: {port: 9000, service: ready}}\n        startupProbe: {grpc: {port: 0}}\n")
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{
		{name: "host namespaces refused under baseline", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": hostNS},
			want: []wantErr{
				{File: "b.yaml", Line: 13, Object: web, Field: f + "hostNetwork", Msg: `hostNetwork must not be true (control "Host Namespaces")`},
				{File: "b.yaml", Line: 14, Object: web, Field: f + "hostPID", Msg: `hostPID must not be true (control "Host Namespaces")`},
				{File: "b.yaml", Line: 15, Object: web, Field: f + "hostIPC", Msg: `hostIPC must not be true (control "Host Namespaces")`},
			}},
		{name: "host namespaces accepted under privileged", files: map[string]string{"a.yaml": nsYAML("privileged"), "b.yaml": hostNS}},
		{name: "safe sysctls accepted under baseline", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": safe}},
		{name: "unsafe sysctls refused even under privileged", files: map[string]string{"a.yaml": nsYAML("privileged"), "b.yaml": unsafe},
			want: []wantErr{
				{File: "b.yaml", Line: 15, Object: web, Field: f + "securityContext.sysctls[0].name", Msg: `sysctl "net.core.somaxconn" is not in the safe set (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, net.ipv4.ip_unprivileged_port_start, net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes); unsafe sysctls need the kubelet's --allowed-unsafe-sysctls, which tug does not support`},
				{File: "b.yaml", Line: 17, Object: web, Field: f + "securityContext.sysctls[2].name", Msg: `also set by sysctls[1]`},
				{File: "b.yaml", Line: 18, Object: web, Field: f + "securityContext.sysctls[3].name", Msg: `is not a sysctl name`},
			}},
		{name: "unsafe sysctls break baseline", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": unsafe},
			want: []wantErr{
				{File: "b.yaml", Line: 15, Object: web, Field: f + "securityContext.sysctls[0].name", Msg: "not in the safe set (kernel"},
				{File: "b.yaml", Line: 15, Object: web, Field: f + "securityContext.sysctls[0].name", Msg: `control "Sysctls"`},
				{File: "b.yaml", Line: 17, Object: web, Field: f + "securityContext.sysctls[2].name", Msg: `also set by sysctls[1]`},
				{File: "b.yaml", Line: 18, Object: web, Field: f + "securityContext.sysctls[3].name", Msg: `is not a sysctl name`},
				{File: "b.yaml", Line: 18, Object: web, Field: f + "securityContext.sysctls[3].name", Msg: `control "Sysctls"`},
			}},
		{name: "node sysctls with host namespaces refused", files: map[string]string{"a.yaml": nsYAML("privileged"), "b.yaml": hostSysctls},
			want: []wantErr{
				{File: "b.yaml", Line: 17, Object: web, Field: f + "securityContext.sysctls[0].name", Msg: "cannot be set with hostNetwork"},
				{File: "b.yaml", Line: 18, Object: web, Field: f + "securityContext.sysctls[1].name", Msg: "cannot be set with hostIPC"},
			}},
		{name: "resourceFieldRef", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": resEnv}},
		{name: "bad resourceFieldRef", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": badResEnv},
			want: []wantErr{
				{File: "b.yaml", Line: 18, Object: web, Field: f + "containers[0].env[0].valueFrom.resourceFieldRef.resource", Msg: "must be one of limits.cpu"},
				{File: "b.yaml", Line: 20, Object: web, Field: f + "containers[0].env[1].valueFrom.resourceFieldRef.divisor", Msg: "must be 1m or 1"},
				{File: "b.yaml", Line: 22, Object: web, Field: f + "containers[0].env[2].valueFrom.resourceFieldRef.containerName", Msg: `no container named "nope"`},
				{File: "b.yaml", Line: 22, Object: web, Field: f + "containers[0].env[2].valueFrom.resourceFieldRef.divisor", Msg: "must be 1, or 1 of a unit"},
			}},
		{name: "gRPC probes", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": grpc},
			want: []wantErr{
				{File: "b.yaml", Line: 18, Object: web, Field: f + "containers[0].startupProbe.grpc.port", Msg: "between 1 and 65535"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeProbeFiles(tt.files)
			if err != nil {
				checkErrors(t, err, tt.want)
				return
			}
			checkErrors(t, Validate(objs), tt.want)
		})
	}
}

func TestNormalizeSysctl(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.tcp_syncookies":          "net.ipv4.tcp_syncookies",
		"net/ipv4/tcp_syncookies":          "net.ipv4.tcp_syncookies",
		"net/ipv4/conf/eno2.100/rp_filter": "net.ipv4.conf.eno2/100.rp_filter",
		"kernel":                           "kernel",
	} {
		if got := NormalizeSysctl(in); got != want {
			t.Errorf("NormalizeSysctl(%q) = %q, want %q", in, got, want)
		}
	}
}
