package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/health"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestStatusTrackedRefAndWebhooks(t *testing.T) {
	tests := []struct {
		name       string
		modify     func(*Config)
		wantRef    [3]string // branch, tag, commit
		wantHooks  *WebhookStats
		wantTarget string
	}{
		{
			name:       "branch, no webhooks",
			modify:     func(*Config) {},
			wantRef:    [3]string{"main", "", ""},
			wantTarget: "(branch main)",
		},
		{
			name: "tag with webhooks",
			modify: func(c *Config) {
				c.Branch, c.Tag = "", "v1.2.0"
				c.Webhooks = func() WebhookStats { return WebhookStats{Triggered: 3, Unauthorized: 1000, Duplicates: 2, Panics: 1} }
			},
			wantRef:    [3]string{"", "v1.2.0", ""},
			wantHooks:  &WebhookStats{Triggered: 3, Unauthorized: 1000, Duplicates: 2, Panics: 1},
			wantTarget: "(tag v1.2.0)",
		},
		{
			name:       "fixed commit",
			modify:     func(c *Config) { c.Branch, c.Commit = "", strings.Repeat("ab", 20) },
			wantRef:    [3]string{"", "", strings.Repeat("ab", 20)},
			wantTarget: "(commit " + strings.Repeat("ab", 20) + ")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.modify)
			code, _, body := ts.do(t, http.MethodGet, "/tug/v1/status", nil)
			if code != http.StatusOK {
				t.Fatalf("status = %d %s", code, body)
			}
			var got Status
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantRef, [3]string{got.Branch, got.Tag, got.Commit}); diff != "" {
				t.Errorf("tracked ref (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantHooks, got.Webhooks); diff != "" {
				t.Errorf("webhooks (-want +got):\n%s", diff)
			}
			if hasKey := strings.Contains(string(body), `"webhooks"`); hasKey != (tt.wantHooks != nil) {
				t.Errorf("webhooks key present = %v in %s", hasKey, body)
			}
			_, _, refusal := ts.do(t, http.MethodPost, "/tug/v1/status", nil)
			if !strings.Contains(string(refusal), tt.wantTarget) {
				t.Errorf("refusal %s does not name %q", refusal, tt.wantTarget)
			}
		})
	}
}

// The status rolls up the health of the Git objects, lists the unhealthy
// ones with their reasons, and lists every object only when asked.
func TestStatusHealth(t *testing.T) {
	src := map[string]string{manifest.SourceAnnotation: "web.yaml:1"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "d-web", Generation: 1, Annotations: src},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", OwnerReferences: []metav1.OwnerReference{
			{Kind: "Deployment", Name: "web", UID: "d-web", Controller: ptr.To(true)}}},
		Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure,
			Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: `pods "web-abc-" is forbidden: exceeded quota: compute`}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: src}}
	ts := newTestServer(t, nil)
	ts.store.put(d)
	ts.store.put(rs)
	ts.store.put(svc)

	want := &Health{
		Status: health.Progressing,
		Counts: map[health.Status]int{health.Healthy: 1, health.Progressing: 1},
		Unhealthy: []health.Result{{Kind: "Deployment", Namespace: "shop", Name: "web", Status: health.Progressing,
			Reason: "FailedCreate", Message: `pods "web-abc-" is forbidden: exceeded quota: compute`}},
	}
	c := &Client{BaseURL: ts.URL, HTTP: ts.Client()}
	st, err := c.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, st.Health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	st, err = c.StatusObjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, r := range st.Health.Objects {
		objs = append(objs, r.Key().String()+" "+string(r.Status))
	}
	if diff := cmp.Diff([]string{"Deployment/shop/web Progressing", "Service/shop/web Healthy"}, objs); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}
