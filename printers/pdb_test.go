package printers

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPDBTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-3 * time.Minute))
	pdb := func(name string, minAvail, maxUnavail *intstr.IntOrString, allowed int32) manifest.Object {
		p := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created},
			Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvail, MaxUnavailable: maxUnavail},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed}}
		manifest.SetTypeMeta(p)
		return p
	}
	two, half := intstr.FromInt32(2), intstr.FromString("50%")
	tbl, err := Table(manifest.KindPodDisruptionBudget, []manifest.Object{pdb("web", &two, nil, 1), pdb("db", nil, &half, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := PrintTable(&buf, tbl, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE
web    2               N/A               1                     3m
db     N/A             50%               0                     3m
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
