package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// Two-node test network: the server's namespace and the agent's, joined by
// one veth pair on 10.99.0.0/24 and with no other route.
const (
	twoNodeServerIP = "10.99.0.1"
	twoNodeAgentIP  = "10.99.0.2"
	agentAPIPort    = "7444"
)

// twoNodeServerURL is the server's agent listener as the agent sees it.
var twoNodeServerURL = "https://" + twoNodeServerIP + ":" + agentAPIPort

// joinNetNS links a and b with a veth pair (tugv-a in a, tugv-b in b) and
// gives them ipA/24 and ipB/24. Deleting the namespaces removes the pair.
func joinNetNS(t testing.TB, a, b *testenv.NetNS, ipA, ipB string) {
	t.Helper()
	steps := [][]string{
		{a.Path, "ip", "link", "add", "tugv-a", "type", "veth", "peer", "name", "tugv-b"},
		{a.Path, "ip", "link", "set", "tugv-b", "netns", b.Name},
		{a.Path, "ip", "addr", "add", ipA + "/24", "dev", "tugv-a"},
		{a.Path, "ip", "link", "set", "tugv-a", "up"},
		{b.Path, "ip", "addr", "add", ipB + "/24", "dev", "tugv-b"},
		{b.Path, "ip", "link", "set", "tugv-b", "up"},
	}
	for _, s := range steps {
		out, err := exec.Command("nsenter", append([]string{"--net=" + s[0], "--"}, s[1:]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(s[1:], " "), err, out)
		}
	}
}

// issueNodeCert runs tugd issue-node-cert against the server's data
// directory and returns the directory holding ca.crt, node.crt, node.key.
func issueNodeCert(t testing.TB, serverDataDir, node string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "certs-"+node)
	cmd := exec.Command(filepath.Join(binaries(t), "tugd"), "issue-node-cert", "--data-dir", serverDataDir, "--node", node, "--out", out)
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tugd issue-node-cert: %v: %s", err, data)
	}
	return out
}

// remoteAgent is one `tugd agent` under test, in its own network namespace
// with its own data directory and containerd.
type remoteAgent struct {
	t       testing.TB
	ns      *testenv.NetNS
	name    string
	dataDir string
	certDir string
	logPath string
	cmd     *exec.Cmd
	done    chan error
}

func newRemoteAgent(t testing.TB, ns *testenv.NetNS, name, certDir string) *remoteAgent {
	t.Helper()
	a := &remoteAgent{t: t, ns: ns, name: name, dataDir: t.TempDir(), certDir: certDir,
		logPath: filepath.Join(t.TempDir(), "tugd-agent.log")}
	if err := os.MkdirAll(filepath.Join(a.dataDir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	v1, v2 := testenv.HelloImages(t)
	for _, img := range []string{v1, v2} {
		copyFile(t, img, filepath.Join(a.dataDir, "images", filepath.Base(img)))
	}
	t.Cleanup(a.cleanup)
	return a
}

// start runs tugd agent in the agent's namespace against server.
func (a *remoteAgent) start(server string, extra ...string) {
	a.t.Helper()
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	args := append([]string{"--net=" + a.ns.Path, "--", filepath.Join(binaries(a.t), "tugd"), "agent",
		"--server", server, "--cert-dir", a.certDir, "--node-name", a.name, "--data-dir", a.dataDir,
		"--log-level", "debug"}, extra...)
	a.cmd = exec.Command("nsenter", args...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("start tugd agent: %v", err)
	}
	a.done = make(chan error, 1)
	go func(cmd *exec.Cmd) { a.done <- cmd.Wait(); logf.Close() }(a.cmd)
}

// stop ends the agent with sig (SIGKILL: a node failure) and waits for it.
func (a *remoteAgent) stop(sig syscall.Signal) {
	a.t.Helper()
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("tugd agent did not stop within 30s of %v", sig)
	}
	a.cmd = nil
}

func (a *remoteAgent) cleanup() {
	a.stop(syscall.SIGTERM)
	if a.t.Failed() {
		if data, err := os.ReadFile(a.logPath); err == nil {
			lines := strings.Split(string(data), "\n")
			if len(lines) > 150 {
				lines = lines[len(lines)-150:]
			}
			a.t.Logf("tugd agent %s log (last lines):\n%s", a.name, strings.Join(lines, "\n"))
		}
	}
	testenv.CleanupDataDir(a.t, a.dataDir)
}

// exited reports whether the agent process has ended.
func (a *remoteAgent) exited() (error, bool) {
	select {
	case err := <-a.done:
		a.done <- err
		return err, true
	default:
		return nil, false
	}
}

// nodeReady returns the Ready condition of node as the server stores it.
func (c *cluster) nodeReady(name string) (corev1.ConditionStatus, string) {
	obj, err := c.client.Get(context.Background(), manifest.KindNode, "", name)
	if err != nil {
		return "", err.Error()
	}
	for _, cond := range obj.(*corev1.Node).Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status, fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}
	}
	return "", "no Ready condition"
}

// agentAPIClient is an HTTPS client of the agent listener from inside ns,
// presenting the node certificate in certDir (tls.Config edits allowed
// through modify).
func agentAPIClient(t testing.TB, ns *testenv.NetNS, certDir string, modify func(*tls.Config)) *http.Client {
	t.Helper()
	cfg, _, err := pki.ClientTLS(certDir)
	if err != nil {
		t.Fatal(err)
	}
	if modify != nil {
		modify(cfg)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: ns.DialContext, TLSClientConfig: cfg, DisableKeepAlives: true,
	}}
}
