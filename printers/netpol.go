package printers

import (
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func networkPolicyColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Pod-Selector", "string"), column("Age", "string")}
}

// networkPolicyRow prints a NetworkPolicy as kubectl does: its pod
// selector in label-selector syntax, "<none>" when it selects every pod
// of its namespace.
func networkPolicyRow(obj manifest.Object, now time.Time) ([]any, error) {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil, fmt.Errorf("not a network policy: %T", obj)
	}
	return []any{np.Name, formatPodSelector(&np.Spec.PodSelector), age(np.CreationTimestamp, now)}, nil
}

func formatPodSelector(sel *metav1.LabelSelector) string {
	s := metav1.FormatLabelSelector(sel)
	if s == "" {
		return "<none>"
	}
	return s
}
