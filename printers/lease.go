package printers

import (
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func leaseColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Holder", "string"), column("Age", "string")}
}

// leaseRow prints a Lease as kubectl does: its holder ("" when none).
func leaseRow(obj manifest.Object, now time.Time) ([]any, error) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil, fmt.Errorf("not a lease: %T", obj)
	}
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []any{l.Name, holder, age(l.CreationTimestamp, now)}, nil
}
