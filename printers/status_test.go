package printers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/health"
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

func TestPrintStatusHealth(t *testing.T) {
	unhealthy := func(n int) []health.Result {
		var out []health.Result
		for i := range n {
			out = append(out, health.Result{Kind: "Deployment", Namespace: "shop", Name: fmt.Sprintf("web%d", i), Status: health.Progressing})
		}
		return out
	}
	tests := []struct {
		name   string
		health api.Health
		want   string
	}{
		{
			name:   "healthy",
			health: api.Health{Status: health.Healthy, Counts: map[health.Status]int{health.Healthy: 12}},
			want:   "Health:      Healthy (12 objects)\n",
		},
		{
			name: "worst first with reasons",
			health: api.Health{Status: health.Degraded, Counts: map[health.Status]int{health.Healthy: 3, health.Degraded: 1, health.Progressing: 1},
				Unhealthy: []health.Result{
					{Kind: "Deployment", Namespace: "shop", Name: "web", Status: health.Degraded, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-abc" has timed out progressing.`},
					{Kind: "Deployment", Namespace: "shop", Name: "api", Status: health.Progressing, Reason: "FailedCreate", Message: `pods "api-def-" is forbidden: exceeded quota: compute`},
				}},
			want: `Health:      Degraded — Deployment shop/web: ProgressDeadlineExceeded: ReplicaSet "web-abc" has timed out progressing.
             Progressing — Deployment shop/api: FailedCreate: pods "api-def-" is forbidden: exceeded quota: compute
`,
		},
		{
			name:   "at most ten named",
			health: api.Health{Status: health.Progressing, Unhealthy: unhealthy(12)},
			want: "Health:      Progressing — Deployment shop/web0\n" + func() string {
				s := ""
				for i := 1; i < 10; i++ {
					s += fmt.Sprintf("             Progressing — Deployment shop/web%d\n", i)
				}
				return s
			}() + "             + 2 more not healthy (tug status --objects)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := PrintStatus(&buf, &api.Status{Repo: "/srv/git/cluster", Branch: "main", Health: &tt.health}, now); err != nil {
				t.Fatal(err)
			}
			const head = "Repository:  /srv/git/cluster (branch main)\nApplied:     nothing yet\n"
			const tail = "Objects:     none\nPods:        none\n"
			got := strings.TrimSuffix(strings.TrimPrefix(buf.String(), head), tail)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintHealth(t *testing.T) {
	var buf bytes.Buffer
	err := PrintHealth(&buf, []health.Result{
		{Kind: "Deployment", Namespace: "shop", Name: "web", Status: health.Progressing, Reason: "FailedCreate", Message: "pods \"web-abc-\" is forbidden"},
		{Kind: "Namespace", Name: "shop", Status: health.Healthy},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `KIND         NAMESPACE   NAME   HEALTH        REASON         MESSAGE
Deployment   shop        web    Progressing   FailedCreate   pods "web-abc-" is forbidden
Namespace    <none>      shop   Healthy       <none>         <none>
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
