package manifest

import "testing"

func TestValidateExternalNameAndAffinityConfig(t *testing.T) {
	svc := func(name, spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n" + spec
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name: "ExternalName aliases and affinity timeouts that are fine",
		files: map[string]string{
			"a.yaml": svc("db", "  type: ExternalName\n  externalName: db.example.com\n"),
			"b.yaml": svc("api", "  type: ExternalName\n  externalName: api.example.com.\n  ports:\n  - {name: https, port: 443}\n"),
			"c.yaml": svc("web", "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 60\n  ports:\n  - {port: 80}\n"),
			"d.yaml": svc("web2", "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP: {}\n  ports:\n  - {port: 80}\n"),
		},
	}, {
		name: "ExternalName mistakes",
		files: map[string]string{
			"a.yaml": svc("a", "  type: ExternalName\n"),
			"b.yaml": svc("b", "  type: ExternalName\n  externalName: Db.Example.com\n  clusterIP: 10.43.0.50\n  selector: {app: db}\n"),
			"c.yaml": svc("c", "  type: ExternalName\n  externalName: db_1.example.com\n  ports:\n  - {port: 5432, nodePort: 30432}\n"),
			"d.yaml": svc("d", "  externalName: db.example.com\n  ports:\n  - {port: 80}\n"),
		},
		want: []wantErr{
			{File: "a.yaml", Line: 5, Object: "Service default/a", Field: "spec.externalName", Msg: "is required for type ExternalName"},
			{File: "b.yaml", Line: 7, Object: "Service default/b", Field: "spec.externalName", Msg: "lower case"},
			{File: "b.yaml", Line: 8, Object: "Service default/b", Field: "spec.clusterIP", Msg: "no cluster IP"},
			{File: "b.yaml", Line: 9, Object: "Service default/b", Field: "spec.selector", Msg: "selects no pods"},
			{File: "c.yaml", Line: 7, Object: "Service default/c", Field: "spec.externalName", Msg: "RFC 1123 subdomain"},
			{File: "c.yaml", Line: 9, Object: "Service default/c", Field: "spec.ports[0].nodePort", Msg: "needs type: NodePort"},
			{File: "d.yaml", Line: 6, Object: "Service default/d", Field: "spec.externalName", Msg: "applies only to type ExternalName"},
		},
	}, {
		name: "affinity timeout out of range, or without ClientIP",
		files: map[string]string{
			"a.yaml": svc("a", "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 86401\n  ports:\n  - {port: 80}\n"),
			"b.yaml": svc("b", "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 0\n  ports:\n  - {port: 80}\n"),
			"c.yaml": svc("c", "  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 60\n  ports:\n  - {port: 80}\n"),
		},
		want: []wantErr{
			{File: "a.yaml", Line: 9, Object: "Service default/a", Field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds", Msg: "between 1 and 86400"},
			{File: "b.yaml", Line: 9, Object: "Service default/b", Field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds", Msg: "between 1 and 86400"},
			{File: "c.yaml", Line: 6, Object: "Service default/c", Field: "spec.sessionAffinityConfig", Msg: "only with sessionAffinity: ClientIP"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, Validate(decodeAll(t, tt.files)), tt.want)
		})
	}
}
