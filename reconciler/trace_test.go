package reconciler

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata/")

// TestRolloutTraces records rollouts pass by pass — each ReplicaSet's
// replicas, the live and available pods, and the Deployment's conditions —
// and compares them with the golden traces in testdata/. Run with -update
// after an intended change, and read the diff.
func TestRolloutTraces(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		strategy appsv1.DeploymentStrategy
		steps    []string // image per commit; each commit runs until settled
	}{
		{"rolling-4-surge1-unavail1", 4, rolling(intstr.FromInt32(1), intstr.FromInt32(1)), []string{"v2"}},
		{"rolling-10-default", 10, appsv1.DeploymentStrategy{}, []string{"v2"}},
		{"rolling-5-surge0-unavail40pct", 5, rolling(intstr.FromInt32(0), intstr.FromString("40%")), []string{"v2"}},
		{"recreate-3", 3, appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, []string{"v2"}},
		{"revert-3", 3, appsv1.DeploymentStrategy{}, []string{"v2", "v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment("web", tt.replicas, "v1")
			d.Spec.Strategy = tt.strategy
			m := newSim(t, d)
			m.settle()
			var b strings.Builder
			rng := rand.New(rand.NewPCG(1, 1))
			for _, img := range tt.steps {
				fmt.Fprintf(&b, "commit image %s\n", img)
				m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
				for pass := 1; pass <= 30; pass++ {
					m.pass()
					fmt.Fprintf(&b, "  pass %2d: %s\n", pass, traceLine(m))
					before := len(m.s.Pods)
					readyBefore := countReady(m.s.Pods)
					m.agent(rng, 1, 1)
					if m.w.Empty() && len(m.s.Pods) == before && countReady(m.s.Pods) == readyBefore {
						break
					}
				}
			}
			path := filepath.Join("testdata", "rollout-"+tt.name+".trace")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("trace differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func traceLine(m *sim) string {
	var rs []string
	for _, r := range m.s.ReplicaSets {
		rs = append(rs, fmt.Sprintf("%s=%d", r.Spec.Template.Spec.Containers[0].Image, ptr.Deref(r.Spec.Replicas, 0)))
	}
	sort.Strings(rs)
	live, avail := m.counts()
	st := m.deployment().Status
	var conds []string
	for _, c := range st.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	sort.Strings(conds)
	return fmt.Sprintf("rs[%s] pods live=%d available=%d  status updated=%d available=%d  %s",
		strings.Join(rs, " "), live, avail, st.UpdatedReplicas, st.AvailableReplicas, strings.Join(conds, " "))
}
