package manifest

import (
	"strings"
	"testing"
)

const okQuota = `apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
spec:
  hard:
    pods: "10"
    requests.cpu: "4"
    limits.memory: 8Gi
    count/deployments.apps: "5"
    services: "3"
`

const okLimitRange = `apiVersion: v1
kind: LimitRange
metadata:
  name: limits
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 250m}
    min: {cpu: 100m}
    max: {cpu: "2", memory: 1Gi}
    maxLimitRequestRatio: {cpu: "4"}
  - type: Pod
    max: {cpu: "4"}
`

const okEndpoints = `apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  ports:
  - {name: pg, port: 5432}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: db
subsets:
- addresses:
  - ip: 192.0.2.10
  notReadyAddresses:
  - ip: 192.0.2.11
  ports:
  - {name: pg, port: 5432, protocol: TCP}
`

func TestValidateAdmission(t *testing.T) {
	const q, lr, ep = "ResourceQuota default/compute", "LimitRange default/limits", "Endpoints default/db"
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name:  "valid",
		files: map[string]string{"q.yaml": okQuota, "lr.yaml": okLimitRange, "ep.yaml": okEndpoints},
	}, {
		name:  "unsupported and negative quota names",
		files: map[string]string{"q.yaml": strings.NewReplacer(`pods: "10"`, `pods: "-1"`, `services: "3"`, `services.loadbalancers: "1"`).Replace(okQuota)},
		want: []wantErr{
			{File: "q.yaml", Line: 7, Object: q, Field: "spec.hard.pods", Msg: "must not be negative"},
			{File: "q.yaml", Line: 11, Object: q, Field: "spec.hard.services.loadbalancers", Msg: "not supported by tug"},
		},
	}, {
		name:  "quota scopes are refused by name",
		files: map[string]string{"q.yaml": okQuota + "  scopes: [BestEffort]\n"},
		want:  []wantErr{{File: "q.yaml", Line: 12, Object: q, Field: "spec.scopes", Msg: "not supported"}},
	}, {
		name: "limit range out of order",
		files: map[string]string{"lr.yaml": strings.NewReplacer(
			"min: {cpu: 100m}", "min: {cpu: 600m}",
			`maxLimitRequestRatio: {cpu: "4"}`, `maxLimitRequestRatio: {cpu: 500m}`,
			"max: {cpu: \"4\"}", "default: {cpu: \"1\"}").Replace(okLimitRange)},
		want: []wantErr{
			{File: "lr.yaml", Line: 8, Object: lr, Field: "spec.limits[0].default.cpu", Msg: "default 500m is less than min 600m"},
			{File: "lr.yaml", Line: 9, Object: lr, Field: "spec.limits[0].defaultRequest.cpu", Msg: "defaultRequest 250m is less than min 600m"},
			{File: "lr.yaml", Line: 12, Object: lr, Field: "spec.limits[0].maxLimitRequestRatio.cpu", Msg: "at least 1"},
			{File: "lr.yaml", Line: 14, Object: lr, Field: "spec.limits[1].default", Msg: "not allowed for type Pod"},
		},
	}, {
		name:  "limit range type and resource",
		files: map[string]string{"lr.yaml": strings.NewReplacer("type: Pod", "type: PersistentVolumeClaim", "memory: 256Mi", "ephemeral-storage: 1Gi").Replace(okLimitRange)},
		want: []wantErr{
			{File: "lr.yaml", Line: 8, Object: lr, Field: "spec.limits[0].default.ephemeral-storage", Msg: "use cpu or memory"},
			{File: "lr.yaml", Line: 13, Object: lr, Field: "spec.limits[1].type", Msg: "PersistentVolumeClaim is not supported"},
		},
	}, {
		name: "endpoint addresses and ports",
		files: map[string]string{"ep.yaml": strings.NewReplacer("192.0.2.10", "127.0.0.1", "192.0.2.11", "10.43.0.7",
			"{name: pg, port: 5432, protocol: TCP}", "{name: pg, port: 0, protocol: HTTP}").Replace(okEndpoints)},
		want: []wantErr{
			{File: "ep.yaml", Line: 15, Object: ep, Field: "subsets[0].addresses[0].ip", Msg: "loopback"},
			{File: "ep.yaml", Line: 17, Object: ep, Field: "subsets[0].notReadyAddresses[0].ip", Msg: "service CIDR"},
			{File: "ep.yaml", Line: 19, Object: ep, Field: "subsets[0].ports[0].port", Msg: "between 1 and 65535"},
			{File: "ep.yaml", Line: 19, Object: ep, Field: "subsets[0].ports[0].protocol", Msg: "TCP"},
		},
	}, {
		name:  "endpoints of a Service with a selector are computed, not committed",
		files: map[string]string{"ep.yaml": strings.Replace(okEndpoints, "spec:\n", "spec:\n  selector: {app: db}\n", 1)},
		want:  []wantErr{{File: "ep.yaml", Line: 13, Object: ep, Field: "metadata.name", Msg: "has a selector, so tug computes its Endpoints"}},
	}, {
		name:  "endpoint fields tug ignores are refused",
		files: map[string]string{"ep.yaml": strings.Replace(okEndpoints, "  - ip: 192.0.2.10\n", "  - ip: 192.0.2.10\n    targetRef: {kind: Pod, name: x}\n", 1)},
		want:  []wantErr{{File: "ep.yaml", Line: 16, Object: ep, Field: "subsets[0].addresses[0].targetRef", Msg: "not supported"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []Decoded
			for _, name := range sortedKeys(tt.files) {
				objs, err := DecodeFile(name, []byte(tt.files[name]))
				if err != nil {
					checkErrors(t, err, tt.want)
					return
				}
				all = append(all, objs...)
			}
			checkErrors(t, Validate(all), tt.want)
		})
	}
}

func TestCountResource(t *testing.T) {
	for kind, want := range map[string]string{
		KindPod: "count/pods", KindDeployment: "count/deployments.apps", KindJob: "count/jobs.batch", KindService: "count/services",
	} {
		if got := CountResource(kind); string(got) != want {
			t.Errorf("CountResource(%s) = %s, want %s", kind, got, want)
		}
		if !IsQuotaResource(CountResource(kind)) {
			t.Errorf("%s not a quota resource", want)
		}
	}
	if IsQuotaResource("count/widgets.example.com") || IsQuotaResource("requests.nvidia.com/gpu") {
		t.Error("unknown names accepted")
	}
}
