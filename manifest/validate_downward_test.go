package manifest

import (
	"strings"
	"testing"
)

// TestValidateDownwardResourceFieldRef covers resourceFieldRef items of
// downwardAPI volumes and projected downwardAPI sources.
func TestValidateDownwardResourceFieldRef(t *testing.T) {
	const web = "Deployment default/web"
	const f = "spec.template.spec."
	withVolumes := func(volumes string) map[string]string {
		return map[string]string{"a.yaml": deployment("      initContainers:\n      - name: init\n        image: nginx\n" +
			"      containers:\n      - name: web\n        image: nginx\n      - name: side\n        image: nginx\n" +
			"      volumes:\n" + volumes)}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{
		{name: "valid items", files: withVolumes(
			"      - name: d\n        downwardAPI:\n          items:\n" +
				"          - {path: cpu, resourceFieldRef: {containerName: web, resource: limits.cpu, divisor: 1m}}\n" +
				"          - {path: mem, resourceFieldRef: {containerName: side, resource: requests.memory, divisor: 1Mi}}\n" +
				"          - {path: disk, resourceFieldRef: {containerName: init, resource: limits.ephemeral-storage}}\n" +
				"          - {path: name, fieldRef: {fieldPath: metadata.name}}\n" +
				"      - name: p\n        projected:\n          sources:\n" +
				"          - downwardAPI: {items: [{path: mem, resourceFieldRef: {containerName: web, resource: limits.memory, divisor: 1Gi}}]}\n")},
		{name: "containerName required", files: withVolumes(
			"      - name: d\n        downwardAPI:\n          items:\n" +
				"          - {path: cpu, resourceFieldRef: {resource: limits.cpu}}\n"),
			want: []wantErr{{File: "a.yaml", Line: 24, Object: web, Field: f + "volumes[0].downwardAPI.items[0].resourceFieldRef.containerName", Msg: "containerName is required in a volume"}}},
		{name: "unknown container, resource and divisor", files: withVolumes(
			"      - name: d\n        downwardAPI:\n          items:\n" +
				"          - {path: a, resourceFieldRef: {containerName: nope, resource: limits.cpu}}\n" +
				"          - {path: b, resourceFieldRef: {containerName: web, resource: limits.nvidia.com/gpu}}\n" +
				"          - {path: c, resourceFieldRef: {containerName: web, resource: limits.cpu, divisor: 2}}\n" +
				"          - {path: d, resourceFieldRef: {containerName: web, resource: requests.memory, divisor: 3Mi}}\n" +
				"      - name: p\n        projected:\n          sources:\n" +
				"          - downwardAPI: {items: [{path: e, resourceFieldRef: {containerName: gone, resource: limits.memory}}]}\n"),
			want: []wantErr{
				{File: "a.yaml", Line: 24, Object: web, Field: f + "volumes[0].downwardAPI.items[0].resourceFieldRef.containerName", Msg: `no container named "nope" in the pod`},
				{File: "a.yaml", Line: 25, Object: web, Field: f + "volumes[0].downwardAPI.items[1].resourceFieldRef.resource", Msg: "must be one of limits.cpu, limits.memory, limits.ephemeral-storage, requests.cpu, requests.memory, requests.ephemeral-storage"},
				{File: "a.yaml", Line: 26, Object: web, Field: f + "volumes[0].downwardAPI.items[2].resourceFieldRef.divisor", Msg: "must be 1m or 1 for limits.cpu"},
				{File: "a.yaml", Line: 27, Object: web, Field: f + "volumes[0].downwardAPI.items[3].resourceFieldRef.divisor", Msg: "must be 1, or 1 of a unit"},
				{File: "a.yaml", Line: 31, Object: web, Field: f + "volumes[1].projected.sources[0].downwardAPI.items[0].resourceFieldRef.containerName", Msg: `no container named "gone"`},
			}},
		{name: "neither or both refs", files: withVolumes(
			"      - name: d\n        downwardAPI:\n          items:\n" +
				"          - {path: a}\n" +
				"          - {path: b, fieldRef: {fieldPath: metadata.name}, resourceFieldRef: {containerName: web, resource: limits.cpu}}\n"),
			want: []wantErr{
				{File: "a.yaml", Line: 24, Object: web, Field: f + "volumes[0].downwardAPI.items[0].fieldRef", Msg: "fieldRef or resourceFieldRef is required"},
				{File: "a.yaml", Line: 25, Object: web, Field: f + "volumes[0].downwardAPI.items[1]", Msg: "not both"},
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

// TestValidatePullSecrets covers imagePullSecrets references and the
// dockerconfigjson and dockercfg Secrets they name.
func TestValidatePullSecrets(t *testing.T) {
	const web = "Deployment default/web"
	const f = "spec.template.spec."
	const value = "hunter2-SECRET"
	secret := func(typ, key, data string) map[string]string {
		return map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: " + typ +
			"\nstringData:\n  " + key + ": '" + data + "'\n"}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{
		{name: "valid reference", files: map[string]string{"a.yaml": deployment(
			"      imagePullSecrets:\n      - name: regcred\n      - name: other.registry\n      containers:\n      - name: web\n        image: nginx\n")}},
		{name: "missing and invalid names", files: map[string]string{"a.yaml": deployment(
			"      imagePullSecrets:\n      - name: \"\"\n      - {}\n      - name: Reg_Cred\n      containers:\n      - name: web\n        image: nginx\n")},
			want: []wantErr{
				{File: "a.yaml", Line: 13, Object: web, Field: f + "imagePullSecrets[0].name", Msg: "name is required"},
				{File: "a.yaml", Line: 14, Object: web, Field: f + "imagePullSecrets[1].name", Msg: "name is required"},
				{File: "a.yaml", Line: 15, Object: web, Field: f + "imagePullSecrets[2].name", Msg: "RFC 1123"},
			}},
		{name: "dockerconfigjson", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson",
			`{"auths":{"registry.example":{"auth":"`+value+`"}}}`)},
		{name: "dockerconfigjson empty auths", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", `{"auths":{}}`)},
		{name: "dockerconfigjson without its key", files: secret("kubernetes.io/dockerconfigjson", "config.json", `{"auths":{}}`),
			want: []wantErr{{File: "s.yaml", Line: 5, Object: "Secret default/regcred", Field: "type", Msg: `needs the key ".dockerconfigjson"`}}},
		{name: "dockerconfigjson not JSON", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", `{"auths": `+value),
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "stringData..dockerconfigjson", Msg: `key ".dockerconfigjson" of a Secret of type kubernetes.io/dockerconfigjson must hold valid JSON: syntax error at byte`}}},
		{name: "dockerconfigjson without auths", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", `{"registry.example":{"auth":"`+value+`"}}`),
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "stringData..dockerconfigjson", Msg: `must hold a JSON object with "auths"`}}},
		{name: "dockerconfigjson auths not an object", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", `{"auths":["`+value+`"]}`),
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "stringData..dockerconfigjson", Msg: `"auths" must be a JSON object`}}},
		{name: "dockerconfigjson a JSON string", files: secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", `"`+value+`"`),
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "stringData..dockerconfigjson", Msg: "must hold a JSON object"}}},
		{name: "dockercfg", files: secret("kubernetes.io/dockercfg", ".dockercfg", `{"registry.example":{"auth":"`+value+`"}}`)},
		{name: "dockercfg without its key", files: secret("kubernetes.io/dockercfg", ".dockerconfigjson", `{}`),
			want: []wantErr{{File: "s.yaml", Line: 5, Object: "Secret default/regcred", Field: "type", Msg: `needs the key ".dockercfg"`}}},
		{name: "dockercfg not JSON", files: secret("kubernetes.io/dockercfg", ".dockercfg", value),
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "stringData..dockercfg", Msg: "must hold valid JSON"}}},
		{name: "dockercfg in data", files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockercfg\ndata:\n  .dockercfg: aHVudGVyMi1TRUNSRVQ=\n"},
			want: []wantErr{{File: "s.yaml", Line: 7, Object: "Secret default/regcred", Field: "data..dockercfg", Msg: "must hold valid JSON"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeProbeFiles(tt.files)
			if err == nil {
				err = Validate(objs)
			}
			if err != nil && strings.Contains(err.Error(), value) {
				t.Errorf("error shows the Secret's value: %v", err)
			}
			checkErrors(t, err, tt.want)
		})
	}
}
