package manifest

import "testing"

func TestValidateLifecycleHooks(t *testing.T) {
	const web = "Deployment default/web"
	withHooks := func(hooks string) map[string]string {
		return map[string]string{"a.yaml": okDeployment + "        ports:\n        - {name: http, containerPort: 8080}\n" + hooks}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name: "valid",
		files: withHooks("        lifecycle:\n          postStart:\n            exec: {command: [/bin/warm-up]}\n" +
			"          preStop:\n            httpGet: {path: /drain, port: http}\n"),
	}, {
		name: "bad handlers",
		files: withHooks("        lifecycle:\n          postStart: {}\n" +
			"          preStop:\n            httpGet: {path: drain, port: metrics}\n"),
		want: []wantErr{
			{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.containers[0].lifecycle.postStart", Msg: "needs exec or httpGet"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].lifecycle.preStop.httpGet.path", Msg: "absolute path"},
			{File: "a.yaml", Line: 20, Object: web, Field: "spec.template.spec.containers[0].lifecycle.preStop.httpGet.port", Msg: `no port named "metrics"`},
		},
	}, {
		name:  "sleep and tcpSocket hooks are refused by name",
		files: withHooks("        lifecycle:\n          preStop:\n            sleep: {seconds: 5}\n"),
		want: []wantErr{
			{File: "a.yaml", Line: 19, Object: web, Field: "spec.template.spec.containers[0].lifecycle.preStop.sleep", Msg: "not supported"},
		},
	}, {
		name: "no hooks on init containers",
		files: map[string]string{"a.yaml": deployment("      initContainers:\n      - name: migrate\n        image: x\n" +
			"        lifecycle:\n          postStart:\n            exec: {command: [/x]}\n" +
			"      containers:\n      - name: web\n        image: nginx\n")},
		want: []wantErr{
			{File: "a.yaml", Line: 15, Object: web, Field: "spec.template.spec.initContainers[0].lifecycle", Msg: "not supported"},
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
