package printers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNetworkPolicyRow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-90 * time.Second))
	tests := []struct {
		name string
		sel  metav1.LabelSelector
		want []any
	}{
		{"every pod", metav1.LabelSelector{}, []any{"np", "<none>", "90s"}},
		{"labels", metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}, []any{"np", "app=web,tier=fe", "90s"}},
		{"expression", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}},
			[]any{"np", "app in (a,b)", "90s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "np", CreationTimestamp: created},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: tt.sel}}
			got, err := networkPolicyRow(np, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}
