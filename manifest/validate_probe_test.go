package manifest

import "testing"

func TestValidateProbes(t *testing.T) {
	const web = "Deployment default/web"
	withProbes := func(probes string) map[string]string {
		return map[string]string{"a.yaml": okDeployment + "        ports:\n        - {name: http, containerPort: 8080}\n" + probes}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name: "all three kinds and handlers",
		files: withProbes("        readinessProbe:\n          httpGet: {path: /ready, port: http, httpHeaders: [{name: X-A, value: b}]}\n          periodSeconds: 1\n          successThreshold: 2\n" +
			"        livenessProbe:\n          tcpSocket: {port: 8080}\n          initialDelaySeconds: 5\n          failureThreshold: 1\n          timeoutSeconds: 2\n" +
			"        startupProbe:\n          exec: {command: [cat, /tmp/ok]}\n"),
	}, {
		name: "handler count, ports, thresholds",
		files: withProbes("        readinessProbe:\n          periodSeconds: -1\n" +
			"        livenessProbe:\n          tcpSocket: {port: metrics}\n          httpGet: {port: 0, scheme: FTP, path: ready}\n          successThreshold: 2\n" +
			"        startupProbe:\n          exec: {command: []}\n"),
		want: []wantErr{
			{File: "a.yaml", Line: 17, Object: web, Field: "spec.template.spec.containers[0].readinessProbe", Msg: "needs one of exec, httpGet, tcpSocket or grpc"},
			{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.containers[0].readinessProbe.periodSeconds", Msg: "must be 0 or more"},
			{File: "a.yaml", Line: 19, Object: web, Field: "spec.template.spec.containers[0].livenessProbe", Msg: "only one of exec, httpGet, tcpSocket or grpc, not httpGet and tcpSocket"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].livenessProbe.tcpSocket.port", Msg: `no port named "metrics"`},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].livenessProbe.httpGet.path", Msg: "absolute path"},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].livenessProbe.httpGet.port", Msg: "between 1 and 65535"},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].livenessProbe.httpGet.scheme", Msg: "HTTP or HTTPS"},
			{File: "a.yaml", Line: 22, Object: web, Field: "spec.template.spec.containers[0].livenessProbe.successThreshold", Msg: "must be 1"},
			{File: "a.yaml", Line: 24, Object: web, Field: "spec.template.spec.containers[0].startupProbe.exec.command", Msg: "command is required"},
		},
	}, {
		name:  "gRPC probes",
		files: withProbes("        livenessProbe:\n          grpc: {port: 9000, service: live}\n"),
	}}
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

func decodeProbeFiles(files map[string]string) ([]Decoded, error) {
	var all []Decoded
	for _, name := range sortedKeys(files) {
		objs, err := DecodeFile(name, []byte(files[name]))
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}

func TestValidateInitContainers(t *testing.T) {
	const web = "Deployment default/web"
	withInits := func(inits string) map[string]string {
		return map[string]string{"a.yaml": deployment("      initContainers:\n" + inits + "      containers:\n      - name: web\n        image: nginx\n")}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name:  "valid",
		files: withInits("      - name: migrate\n        image: x\n        command: [/migrate]\n        env: [{name: A, value: b}]\n"),
	}, {
		name:  "names unique across init and regular containers",
		files: withInits("      - name: web\n        image: x\n      - name: web\n        image: z\n"),
		want: []wantErr{
			{File: "a.yaml", Line: 15, Object: web, Field: "spec.template.spec.initContainers[1].name", Msg: "also used by initContainers[0]"},
			{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.containers[0].name", Msg: "also used by initContainers[0]"},
		},
	}, {
		name:  "no probes and no restartPolicy on init containers",
		files: withInits("      - name: init\n        image: x\n        restartPolicy: Always\n        readinessProbe:\n          tcpSocket: {port: 80}\n"),
		want: []wantErr{
			{File: "a.yaml", Line: 15, Object: web, Field: "spec.template.spec.initContainers[0].restartPolicy", Msg: "not supported"},
			{File: "a.yaml", Line: 16, Object: web, Field: "spec.template.spec.initContainers[0].readinessProbe", Msg: "not supported"},
		},
	}}
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

func TestValidateSecurityContext(t *testing.T) {
	const web = "Deployment default/web"
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name: "valid",
		files: map[string]string{"a.yaml": deployment("      securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, supplementalGroups: [3000], runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n" +
			"      containers:\n      - name: web\n        image: nginx\n        securityContext:\n          readOnlyRootFilesystem: true\n          allowPrivilegeEscalation: false\n" +
			"          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}\n")},
	}, {
		name: "rules",
		files: map[string]string{"a.yaml": deployment("      securityContext: {runAsUser: -1, seccompProfile: {type: Localhost}}\n" +
			"      containers:\n      - name: web\n        image: nginx\n        securityContext:\n          runAsNonRoot: true\n          runAsUser: 0\n          privileged: true\n          allowPrivilegeEscalation: false\n" +
			"          capabilities: {add: [\"sys-time\"]}\n")},
		want: []wantErr{
			{File: "a.yaml", Line: 12, Object: web, Field: "spec.template.spec.securityContext.runAsUser", Msg: "must be 0 or more"},
			{File: "a.yaml", Line: 12, Object: web, Field: "spec.template.spec.securityContext.seccompProfile.type", Msg: "Localhost profiles are not supported"},
			{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.containers[0].securityContext.runAsUser", Msg: "could never start"},
			{File: "a.yaml", Line: 19, Object: web, Field: "spec.template.spec.containers[0].securityContext.privileged", Msg: `Pod Security level "baseline"`},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation", Msg: "privileged is true"},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].securityContext.capabilities.add[0]", Msg: "not a Linux capability"},
			{File: "a.yaml", Line: 21, Object: web, Field: "spec.template.spec.containers[0].securityContext.capabilities.add[0]", Msg: `control "Capabilities"`},
		},
	}}
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
