package manifest

import (
	"strings"
	"testing"
)

func TestPodSecurity(t *testing.T) {
	const web = "Deployment shop/web"
	nsYAML := func(level string) string {
		s := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
		if level != "" {
			s += "  labels:\n    pod-security.kubernetes.io/enforce: " + level + "\n"
		}
		return s
	}
	dep := func(podSpec string) string {
		return strings.Replace(deployment(podSpec), "name: web\nspec", "name: web\n  namespace: shop\nspec", 1)
	}
	privileged := dep("      containers:\n      - name: web\n        image: nginx\n        securityContext: {privileged: true}\n")
	sysTime := dep("      containers:\n      - name: web\n        image: nginx\n        securityContext: {capabilities: {add: [SYS_TIME], drop: [CHOWN]}}\n")
	unconfined := dep("      securityContext: {seccompProfile: {type: Unconfined}}\n      containers:\n      - name: web\n        image: nginx\n")
	hostPath := dep("      containers:\n      - name: web\n        image: nginx\n      volumes:\n      - name: host\n        hostPath: {path: /var/log, type: Directory}\n")
	plain := dep("      containers:\n      - name: web\n        image: nginx\n")
	hardened := dep("      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n" +
		"      initContainers:\n      - name: init\n        image: nginx\n        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n" +
		"      containers:\n      - name: web\n        image: nginx\n        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}\n")
	const f = "spec.template.spec.containers[0].securityContext."
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{
		{name: "privileged refused under the default level (baseline)", files: map[string]string{"a.yaml": nsYAML(""), "b.yaml": privileged},
			want: []wantErr{{File: "b.yaml", Line: 16, Object: web, Field: f + "privileged", Msg: `"baseline" of namespace shop (label pod-security.kubernetes.io/enforce): container "web" must not set privileged: true (control "Privileged Containers")`}}},
		{name: "privileged refused under baseline", files: map[string]string{"a.yaml": nsYAML("baseline"), "b.yaml": privileged},
			want: []wantErr{{File: "b.yaml", Line: 16, Object: web, Field: f + "privileged", Msg: `control "Privileged Containers"`}}},
		{name: "privileged accepted under privileged", files: map[string]string{"a.yaml": nsYAML("privileged"), "b.yaml": privileged}},
		{name: "SYS_TIME refused under baseline", files: map[string]string{"a.yaml": nsYAML(""), "b.yaml": sysTime},
			want: []wantErr{{File: "b.yaml", Line: 16, Object: web, Field: f + "capabilities.add[0]", Msg: `must not add SYS_TIME`}}},
		{name: "Unconfined refused under baseline", files: map[string]string{"a.yaml": nsYAML(""), "b.yaml": unconfined},
			want: []wantErr{{File: "b.yaml", Line: 13, Object: web, Field: "spec.template.spec.securityContext.seccompProfile.type", Msg: `control "Seccomp"`}}},
		{name: "hostPath refused under baseline", files: map[string]string{"a.yaml": nsYAML(""), "b.yaml": hostPath},
			want: []wantErr{{File: "b.yaml", Line: 18, Object: web, Field: "spec.template.spec.volumes[0].hostPath", Msg: `volume "host" must not be a hostPath (control "HostPath Volumes")`}}},
		{name: "hostPath accepted under privileged", files: map[string]string{"a.yaml": nsYAML("privileged"), "b.yaml": hostPath}},
		{name: "a plain pod is baseline", files: map[string]string{"a.yaml": nsYAML(""), "b.yaml": plain}},
		{name: "a plain pod breaks restricted", files: map[string]string{"a.yaml": nsYAML("restricted"), "b.yaml": plain},
			want: []wantErr{
				{File: "b.yaml", Line: 14, Object: web, Field: f + "allowPrivilegeEscalation", Msg: `control "Privilege Escalation"`},
				{File: "b.yaml", Line: 14, Object: web, Field: f + "capabilities.drop", Msg: `must drop ALL capabilities (control "Capabilities")`},
				{File: "b.yaml", Line: 14, Object: web, Field: f + "runAsNonRoot", Msg: `control "Running as Non-root"`},
				{File: "b.yaml", Line: 14, Object: web, Field: f + "seccompProfile.type", Msg: `control "Seccomp"`},
			}},
		{name: "a hardened pod is restricted", files: map[string]string{"a.yaml": nsYAML("restricted"), "b.yaml": hardened}},
		{name: "a bad level is refused on the namespace", files: map[string]string{"a.yaml": nsYAML("strict")},
			want: []wantErr{{File: "a.yaml", Line: 6, Object: "Namespace shop", Field: "metadata.labels.pod-security.kubernetes.io/enforce", Msg: "must be privileged, baseline or restricted"}}},
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
