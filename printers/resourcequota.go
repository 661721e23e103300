package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resourceQuotaColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Age", "string"), column("Request", "string"), column("Limit", "string")}
}

// resourceQuotaRow shows used/hard per limited name as kubectl does:
// limits.* names under LIMIT, the others under REQUEST.
func resourceQuotaRow(obj manifest.Object, now time.Time) ([]any, error) {
	q, ok := obj.(*corev1.ResourceQuota)
	if !ok {
		return nil, fmt.Errorf("not a resource quota: %T", obj)
	}
	names := make([]string, 0, len(q.Spec.Hard))
	for n := range q.Spec.Hard {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var req, lim []string
	for _, n := range names {
		hard := q.Spec.Hard[corev1.ResourceName(n)]
		used := "0"
		if u, ok := q.Status.Used[corev1.ResourceName(n)]; ok {
			used = u.String()
		}
		cell := fmt.Sprintf("%s: %s/%s", n, used, hard.String())
		if strings.HasPrefix(n, "limits.") {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return []any{q.Name, age(q.CreationTimestamp, now), strings.Join(req, ", "), strings.Join(lim, ", ")}, nil
}

func limitRangeColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Created At", "string")}
}

func limitRangeRow(obj manifest.Object, now time.Time) ([]any, error) {
	lr, ok := obj.(*corev1.LimitRange)
	if !ok {
		return nil, fmt.Errorf("not a limit range: %T", obj)
	}
	return []any{lr.Name, lr.CreationTimestamp.UTC().Format(time.RFC3339)}, nil
}
