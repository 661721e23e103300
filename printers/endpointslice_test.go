package printers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// golden compares got with testdata/name; TUG_UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("TUG_UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with TUG_UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func printKind(t *testing.T, kind string, objs ...manifest.Object) string {
	t.Helper()
	tbl, err := Table(kind, objs, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := PrintTable(&buf, tbl, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestPrintAdmissionKinds(t *testing.T) {
	ep := func(ip string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	}
	port := func(p int32) discoveryv1.EndpointPort { return discoveryv1.EndpointPort{Port: &p} }
	slices := []manifest.Object{
		&discoveryv1.EndpointSlice{ObjectMeta: objMeta("shop", "web-x7k2p", time.Hour), AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{port(8080)}, Endpoints: []discoveryv1.Endpoint{ep("10.42.0.2", true), ep("10.42.0.3", false)}},
		&discoveryv1.EndpointSlice{ObjectMeta: objMeta("shop", "api-9fj3k", 2*time.Minute), AddressType: discoveryv1.AddressTypeIPv4,
			Ports:     []discoveryv1.EndpointPort{port(80), port(443), port(8443), {}},
			Endpoints: []discoveryv1.Endpoint{ep("10.42.0.4", true), ep("10.42.0.5", true), ep("10.42.0.6", true), ep("10.42.0.7", true)}},
		&discoveryv1.EndpointSlice{ObjectMeta: objMeta("shop", "empty-a1b2c", 5*time.Second), AddressType: discoveryv1.AddressTypeIPv4},
	}
	q := &corev1.ResourceQuota{ObjectMeta: objMeta("shop", "compute", 3*time.Hour),
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("1"), "limits.memory": resource.MustParse("1Gi")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("100m")}}}
	lr := &corev1.LimitRange{ObjectMeta: objMeta("shop", "limits", 3*time.Hour)}
	got := printKind(t, manifest.KindEndpointSlice, slices...) + "\n" +
		printKind(t, manifest.KindResourceQuota, q) + "\n" +
		printKind(t, manifest.KindLimitRange, lr)
	golden(t, "admission_kinds.golden", got)
}
