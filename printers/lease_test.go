package printers

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLeaseTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lease := func(name string, holder *string) manifest.Object {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-node-lease",
			CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Hour))}, Spec: coordinationv1.LeaseSpec{HolderIdentity: holder}}
		manifest.SetTypeMeta(l)
		return l
	}
	n1 := "n1"
	tbl, err := Table(manifest.KindLease, []manifest.Object{lease("n1", &n1), lease("orphan", nil)}, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := PrintTable(&buf, tbl, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `NAME     HOLDER   AGE
n1       n1       120m
orphan            120m
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
