package printers

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/api"
)

func TestPrintStatusRefAndWebhooks(t *testing.T) {
	tests := []struct {
		name string
		st   api.Status
		want string
	}{
		{
			name: "tag with webhooks",
			st: api.Status{
				Repo: "https://git.example.com/acme/cluster.git", Tag: "v1.2.0",
				Webhooks: &api.WebhookStats{Triggered: 3, Ignored: 5, Duplicates: 2, Unauthorized: 1000, TooLarge: 1, BadRequests: 4, Panics: 1},
			},
			want: `Repository:  https://git.example.com/acme/cluster.git (tag v1.2.0)
Applied:     nothing yet
Webhooks:    triggered 3, ignored 5, duplicates 2
             refused: unauthorized 1000, too large 1, bad requests 4; panics 1
Objects:     none
Pods:        none
`,
		},
		{
			name: "fixed commit, webhooks disabled",
			st:   api.Status{Repo: "/srv/git/cluster", Commit: "0123456789abcdef0123456789abcdef01234567"},
			want: `Repository:  /srv/git/cluster (commit 0123456, fixed)
Applied:     nothing yet
Objects:     none
Pods:        none
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := PrintStatus(&buf, &tt.st, now); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
