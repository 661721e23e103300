package printers

import (
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pdbColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Min Available", "string"), column("Max Unavailable", "string"),
		column("Allowed Disruptions", "integer"), column("Age", "string")}
}

// pdbRow prints a PodDisruptionBudget as kubectl does: the bound it sets
// ("N/A" for the one it leaves out) and the disruptions its status allows.
func pdbRow(obj manifest.Object, now time.Time) ([]any, error) {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil, fmt.Errorf("not a pod disruption budget: %T", obj)
	}
	return []any{pdb.Name, intOrNA(pdb.Spec.MinAvailable), intOrNA(pdb.Spec.MaxUnavailable),
		int64(pdb.Status.DisruptionsAllowed), age(pdb.CreationTimestamp, now)}, nil
}

func intOrNA(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}
