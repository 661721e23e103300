package podenv

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestResourceValue(t *testing.T) {
	q := resource.MustParse
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "web", Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")},
			}},
			{Name: "side"},
		},
		InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}}},
	}}
	alloc := corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("8Gi"), corev1.ResourceEphemeralStorage: q("100G")}
	tests := []struct {
		name, container, resource, divisor, want, wantErr string
	}{
		{name: "cpu limit rounds up to cores", resource: "limits.cpu", want: "2"},
		{name: "cpu limit in millicores", resource: "limits.cpu", divisor: "1m", want: "1500"},
		{name: "memory limit in bytes", resource: "limits.memory", want: "67108864"},
		{name: "memory limit in Mi", resource: "limits.memory", divisor: "1Mi", want: "64"},
		{name: "cpu request", resource: "requests.cpu", divisor: "1m", want: "250"},
		{name: "memory request defaults to the limit", resource: "requests.memory", divisor: "1Mi", want: "64"},
		{name: "no limit: node allocatable", container: "side", resource: "limits.memory", divisor: "1Gi", want: "8"},
		{name: "no storage limit: node allocatable", resource: "limits.ephemeral-storage", divisor: "1G", want: "100"},
		{name: "no request nor limit: 0", container: "side", resource: "requests.cpu", want: "0"},
		{name: "other container", container: "init", resource: "requests.ephemeral-storage", divisor: "1Mi", want: "1024"},
		{name: "no such container", container: "nope", resource: "limits.cpu", wantErr: `no container named "nope"`},
		{name: "unknown resource", resource: "limits.gpu", wantErr: `resource "limits.gpu" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{ContainerName: tt.container, Resource: tt.resource}
			if tt.divisor != "" {
				ref.Divisor = q(tt.divisor)
			}
			got, err := ResourceValue(pod, &pod.Spec.Containers[0], ref, alloc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResourceValue = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnvResourceFieldRef(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
		Env: []corev1.EnvVar{
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "MSG", Value: "mem=$(MEM)"},
		}}}}}
	vars, err := Env(pod, &pod.Spec.Containers[0], Sources{}, Runtime{})
	if err != nil {
		t.Fatal(err)
	}
	got := Strings(vars)
	if len(got) != 2 || got[0] != "MEM=32" || got[1] != "MSG=mem=32" {
		t.Errorf("env = %q", got)
	}
}
