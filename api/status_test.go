package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
