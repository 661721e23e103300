package e2e

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkNodeagentStart100Pods measures, per iteration, one commit of a
// Deployment of 100 pods until every pod answers HTTP (timed from the start
// of the sync, so scheduling is included), beside 100 pods started at once
// directly through containerd and CNI in the same run, on this machine's
// cores.
func BenchmarkNodeagentStart100Pods(b *testing.B) { benchCommitToServing(b, 100, 1.5) }

// BenchmarkNodeagentRestart100Pods kills tugd (kill -9) with 100 pods
// running and starts it again, per iteration: the time from the new
// process's start until its node agent's first pass is done (every
// container adopted), and the restarts and replaced containers this caused
// (goal 0), checked once the agent has run a few more passes.
func BenchmarkNodeagentRestart100Pods(b *testing.B) {
	const n = 100
	repo := newRepo(b)
	repo.write("app.yaml", deploymentYAML("steady", n))
	repo.commit("bench: 100 pods")
	c := newCluster(b, repo)
	c.start()
	c.serveAll("steady", n, 10*time.Minute)
	before := snapshotPods(c.runningPods("default", n, time.Minute))

	var adopt []time.Duration
	restarts, replaced := 0, 0
	for b.Loop() {
		b.StopTimer()
		c.stop(syscall.SIGKILL)
		seen := adoptedCount(b, c.logPath)
		b.StartTimer()
		start := time.Now()
		c.start()
		c.waitFor("the agent's first pass", 2*time.Minute, func() (bool, string) {
			return adoptedCount(b, c.logPath) > seen, "not yet"
		})
		adopt = append(adopt, time.Since(start))
		b.StopTimer()
		time.Sleep(6 * time.Second) // a resync and a heartbeat: anything restarted would show
		after := snapshotPods(c.runningPods("default", n, time.Minute))
		for name, w := range before {
			g, ok := after[name]
			switch {
			case !ok:
				replaced++
			case g.uid != w.uid || fmt.Sprint(g.containerIDs) != fmt.Sprint(w.containerIDs):
				replaced++
			default:
				restarts += int(g.restarts - w.restarts)
			}
		}
		before = after
		b.StartTimer()
	}
	a := median(adopt)
	b.ReportMetric(ms(a), "adopt-ms")
	b.ReportMetric(float64(restarts), "restarts(goal=0)")
	b.ReportMetric(float64(replaced), "replaced(goal=0)")
	b.Logf("tugd kill -9 and restart with %d running pods: adopted in %.0f ms (median of %v; from process start to the agent's first pass), %d restarts and %d replaced pods caused (goal 0)",
		n, ms(a), roundAll(adopt), restarts, replaced)
}

// adoptedCount counts the node agent's first passes in tugd's log.
func adoptedCount(t testing.TB, logPath string) int {
	data, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("first pass done: running containers adopted"))
}
