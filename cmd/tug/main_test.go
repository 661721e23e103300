package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/printers"
	"github.com/tug-dev/tug/state"
)

var (
	created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now     = created.Add(5 * time.Minute)
)

// recordingLogs serves a fixed text and remembers the options it got.
type recordingLogs struct {
	mu   sync.Mutex
	last corev1.PodLogOptions
}

func (l *recordingLogs) Logs(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	l.mu.Lock()
	l.last = *opts
	l.mu.Unlock()
	return io.NopCloser(strings.NewReader("line 1 of " + pod + "/" + opts.Container + "\nline 2\n")), nil
}

func (l *recordingLogs) lastOpts() corev1.PodLogOptions {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

const secretValue = "correct-horse-battery-staple"

// newCluster starts a real API over a real state store holding a small
// cluster, and returns the server URL.
func newCluster(t *testing.T) (string, *recordingLogs) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Clock: func() time.Time { return created }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	two := int32(2)
	objs := []manifest.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "tug"}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec:   appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-2", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app"}, {Name: "log"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
				{Name: "log", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-1"},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "api"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
			Data: map[string][]byte{"password": []byte(secretValue)}},
	}
	if _, err := st.Apply(objs, nil, &manifest.SyncRecord{SHA: "1a2b3c4d5e6f7a8b", Author: "Alice <alice@example.com>",
		Message: "Add web\n\nDetails.", Trigger: "poll", Outcome: manifest.OutcomeApplied, Finished: created}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordSync(manifest.SyncRecord{SHA: "9f8e7d6c5b4a3f2e", Author: "Bob <bob@example.com>",
		Message: "Break web", Trigger: "webhook", Outcome: manifest.OutcomeRejected, Finished: created.Add(time.Minute),
		Errors: []string{"apps/web.yaml:7: Deployment web: spec.replicas: must be ≥ 0"}}); err != nil {
		t.Fatal(err)
	}
	logs := &recordingLogs{}
	srv := httptest.NewServer(api.NewHandler(api.Config{
		Store: st, Logs: logs, Table: printers.Table,
		IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
		Repo:       "https://git.example.com/acme/cluster.git", Branch: "main",
		SyncStatus: func() api.SyncStatus {
			return api.SyncStatus{LastFetch: now.Add(-10 * time.Second), LastFetchedSHA: "9f8e7d6c5b4a3f2e", LastSuccess: now.Add(-10 * time.Second)}
		},
	}))
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

func runTug(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, func(k string) string { return env[k] }, func() time.Time { return now })
	return out.String(), errb.String(), code
}

func TestCLI(t *testing.T) {
	server, logs := newCluster(t)
	env := map[string]string{"TUG_SERVER": server}
	tests := []struct {
		name       string
		args       []string
		wantOut    string // exact, unless wantOutHas is used
		wantOutHas []string
		wantErr    string // exact stderr
		wantCode   int
	}{
		{
			name: "get pods",
			args: []string{"get", "pods"},
			wantOut: "NAME    READY   STATUS              RESTARTS   AGE\n" +
				"web-1   1/1     Running             0          5m\n" +
				"web-2   0/2     ContainerCreating   0          5m\n",
		},
		{
			name: "get po in all namespaces, wide",
			args: []string{"get", "po", "-A", "-o", "wide"},
			wantOut: "NAMESPACE   NAME    READY   STATUS              RESTARTS   AGE   IP          NODE\n" +
				"default     web-1   1/1     Running             0          5m    10.42.0.5   node-1\n" +
				"default     web-2   0/2     ContainerCreating   0          5m    <none>      node-1\n" +
				"shop        api-1   0/1     Pending             0          5m    <none>      <none>\n",
		},
		{
			name:    "get pods in a namespace by name",
			args:    []string{"-n", "shop", "get", "pod", "api-1", "--no-headers"},
			wantOut: "api-1   0/1   Pending   0     5m\n",
		},
		{
			name:    "get by label selector, names",
			args:    []string{"get", "pods", "-l", "app=web", "-o", "name"},
			wantOut: "pod/web-1\npod/web-2\n",
		},
		{
			name:    "TYPE/NAME form",
			args:    []string{"get", "deploy/web", "-o", "name"},
			wantOut: "deployment.apps/web\n",
		},
		{
			name: "get deployments",
			args: []string{"get", "deployments"},
			wantOut: "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n" +
				"web    1/2     2            1           5m\n",
		},
		{
			name: "nodes ignore -A",
			args: []string{"get", "no", "-A"},
			wantOut: "NAME     STATUS   ROLES    AGE   VERSION\n" +
				"node-1   Ready    <none>   5m    tug\n",
		},
		{
			name: "namespaces",
			args: []string{"get", "ns"},
			wantOut: "NAME      STATUS   AGE\n" +
				"default   Active   5m\n" +
				"shop      Active   5m\n",
		},
		{
			name:       "one object as yaml",
			args:       []string{"get", "deploy", "web", "-o", "yaml"},
			wantOutHas: []string{"apiVersion: apps/v1\n", "kind: Deployment\n", "  name: web\n", "  replicas: 2\n"},
		},
		{
			name:       "list as json",
			args:       []string{"get", "pods", "-o", "json"},
			wantOutHas: []string{"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n", "\"name\": \"web-1\"", "\"name\": \"web-2\"", "\"kind\": \"List\""},
		},
		{
			name:       "secret values never print",
			args:       []string{"get", "secret", "db", "-o", "json"},
			wantOutHas: []string{`"password": ""`, `"tug.dev/redacted": "true"`},
		},
		{
			name:    "secrets table still counts keys",
			args:    []string{"get", "secrets"},
			wantOut: "NAME   TYPE     DATA   AGE\ndb     Opaque   1      5m\n",
		},
		{
			name:    "empty list",
			args:    []string{"get", "services"},
			wantErr: "No resources found in default namespace.\n",
		},
		{
			name:    "empty list in all namespaces",
			args:    []string{"get", "rs", "-A"},
			wantErr: "No resources found\n",
		},
		{
			name:       "empty list as json is an empty List",
			args:       []string{"get", "cm", "-o", "json"},
			wantOutHas: []string{`"items": []`},
		},
		{
			name:     "missing object",
			args:     []string{"get", "pods", "nope"},
			wantErr:  "error: pods \"nope\" not found\n",
			wantCode: 1,
		},
		{
			name:     "some names missing: the others still print",
			args:     []string{"get", "pods", "web-1", "nope", "-o", "name"},
			wantOut:  "pod/web-1\n",
			wantErr:  "error: pods \"nope\" not found\n",
			wantCode: 1,
		},
		{
			name:     "unknown type",
			args:     []string{"get", "widgets"},
			wantErr:  "error: the server doesn't have a resource type \"widgets\" (tug serves " + getTypes + ")\n",
			wantCode: 1,
		},
		{
			name:     "no type",
			args:     []string{"get"},
			wantErr:  "error: you must specify the type of resource to get: " + getTypes + "\n",
			wantCode: 1,
		},
		{
			name:     "name and selector",
			args:     []string{"get", "pods", "web-1", "-l", "app=web"},
			wantErr:  "error: name cannot be provided when a selector is specified\n",
			wantCode: 1,
		},
		{
			name:     "bad output format",
			args:     []string{"get", "pods", "-o", "jsonpath={.items}"},
			wantErr:  "error: unknown output format \"jsonpath={.items}\": use one of wide, json, yaml, name\n",
			wantCode: 1,
		},
		{
			name:     "bad selector",
			args:     []string{"get", "pods", "-l", "a==="},
			wantCode: 1,
		},
		{
			name: "status",
			args: []string{"status"},
			wantOut: "Repository:  https://git.example.com/acme/cluster.git (branch main)\n" +
				"Applied:     1a2b3c4 Add web\n" +
				"             by Alice <alice@example.com>, applied 2026-03-01 12:00:00 UTC (5m ago)\n" +
				"Rejected:    9f8e7d6 Break web\n" +
				"             by Bob <bob@example.com>, rejected 2026-03-01 12:01:00 UTC (4m ago); the applied commit stays in force\n" +
				"               apps/web.yaml:7: Deployment web: spec.replicas: must be ≥ 0\n" +
				"Health:      Healthy (0 objects)\n" +
				"Fetch:       last fetch 10s ago, head 9f8e7d6\n" +
				"Objects:     Deployment 1, Namespace 2, Node 1, Pod 3, Secret 1\n" +
				"Pods:        Running 1, Pending 2\n",
		},
		{
			name: "history",
			args: []string{"history"},
			wantOut: "SHA       OUTCOME    TRIGGER   AGE   MESSAGE\n" +
				"9f8e7d6   Rejected   webhook   4m    Break web\n" +
				"1a2b3c4   Applied    poll      5m    Add web\n",
		},
		{
			name:       "history as json",
			args:       []string{"history", "--limit", "1", "-o", "json"},
			wantOutHas: []string{`"sha": "9f8e7d6c5b4a3f2e"`},
		},
		{
			name:    "logs of a one-container pod",
			args:    []string{"logs", "web-1"},
			wantOut: "line 1 of web-1/app\nline 2\n",
		},
		{
			name:     "logs of a two-container pod need -c",
			args:     []string{"logs", "web-2"},
			wantErr:  "error: a container name must be specified for pod web-2, choose one of: [app log]\n",
			wantCode: 1,
		},
		{
			name:    "logs with -c",
			args:    []string{"logs", "pod/web-2", "-c", "log"},
			wantOut: "line 1 of web-2/log\nline 2\n",
		},
		{
			name:     "logs of a missing pod",
			args:     []string{"logs", "nope"},
			wantErr:  "error: pods \"nope\" not found\n",
			wantCode: 1,
		},
		{
			name:     "logs without a pod",
			args:     []string{"logs"},
			wantErr:  "error: expected 'logs POD [-c CONTAINER] [-f] [--previous] [--tail N]': give exactly one pod name\n",
			wantCode: 1,
		},
	}
	for _, verb := range []string{"apply", "delete", "edit", "scale", "create", "patch", "rollout"} {
		tests = append(tests, struct {
			name       string
			args       []string
			wantOut    string
			wantOutHas []string
			wantErr    string
			wantCode   int
		}{
			name:     "write verb " + verb,
			args:     []string{verb, "-f", "web.yaml", "--replicas=3"},
			wantErr:  "error: unknown command \"" + verb + "\" for \"tug\": tug is read-only: change the cluster by committing to Git\n",
			wantCode: 1,
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runTug(t, env, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if code != 0 {
				// Every failure is one line on stderr, starting with "error: ".
				if !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
					t.Errorf("stderr = %q, want one line starting with \"error: \"", errOut)
				}
			}
			if tt.wantErr != "" || code == 0 {
				if diff := cmp.Diff(tt.wantErr, errOut); diff != "" {
					t.Errorf("stderr (-want +got):\n%s", diff)
				}
			}
			if tt.wantOutHas != nil {
				for _, s := range tt.wantOutHas {
					if !strings.Contains(out, s) {
						t.Errorf("stdout does not contain %q:\n%s", s, out)
					}
				}
			} else if diff := cmp.Diff(tt.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if strings.Contains(out+errOut, secretValue) {
				t.Errorf("a secret value was printed")
			}
		})
	}

	t.Run("log options reach the server", func(t *testing.T) {
		if _, errOut, code := runTug(t, env, "logs", "web-2", "-c", "app", "--tail", "5", "-p", "-f"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		tail := int64(5)
		want := corev1.PodLogOptions{Container: "app", TailLines: &tail, Previous: true, Follow: true}
		if diff := cmp.Diff(want, logs.lastOpts()); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
	})

	t.Run("time options reach the server", func(t *testing.T) {
		if _, errOut, code := runTug(t, env, "logs", "web-1", "--timestamps", "--since-time", "2025-03-01T12:00:00.5Z"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		since := metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 5e8, time.UTC))
		want := corev1.PodLogOptions{Container: "app", Timestamps: true, SinceTime: &since}
		if diff := cmp.Diff(want, logs.lastOpts(), cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
		if _, errOut, code := runTug(t, env, "logs", "web-1", "--since", "90s"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		secs := int64(90)
		if diff := cmp.Diff(corev1.PodLogOptions{Container: "app", SinceSeconds: &secs}, logs.lastOpts()); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
		if _, errOut, code := runTug(t, env, "logs", "web-1", "--since", "1m", "--since-time", "2025-03-01T12:00:00Z"); code == 0 || !strings.Contains(errOut, "at most one") {
			t.Errorf("both since flags: exit %d, %q", code, errOut)
		}
	})
}

func TestServerFlagAndEnv(t *testing.T) {
	server, _ := newCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	// --server beats TUG_SERVER.
	out, errOut, code := runTug(t, map[string]string{"TUG_SERVER": dead}, "--server", server, "get", "ns", "-o", "name")
	if code != 0 || out != "namespace/default\nnamespace/shop\n" {
		t.Errorf("--server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// TUG_SERVER is used, and an unreachable server says what to do.
	_, errOut, code = runTug(t, map[string]string{"TUG_SERVER": dead}, "status")
	if code != 1 || !strings.HasPrefix(errOut, "error: cannot reach the tug server at "+dead) ||
		!strings.HasSuffix(errOut, "start tugd or set --server/TUG_SERVER\n") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("unreachable: exit %d, stderr %q", code, errOut)
	}
}

func TestUnknownCommands(t *testing.T) {
	tests := map[string]string{
		"stauts": "error: unknown command \"stauts\" for \"tug\"; did you mean \"status\"?\n",
		"frob":   "error: unknown command \"frob\" for \"tug\"; run 'tug --help' for the commands\n",
	}
	for cmd, want := range tests {
		_, errOut, code := runTug(t, nil, cmd)
		if code != 1 || errOut != want {
			t.Errorf("tug %s: exit %d, stderr %q, want %q", cmd, code, errOut, want)
		}
	}
	out, _, code := runTug(t, nil)
	if code != 0 || !strings.Contains(out, "committing to Git") || !strings.Contains(out, "Available Commands") {
		t.Errorf("tug without arguments: exit %d, stdout %q", code, out)
	}
}

// followLogs writes one line and then holds the stream open until the
// request ends, as a followed log does.
type followLogs struct{ ended chan struct{} }

func (f followLogs) Logs(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "first line\n")
		<-ctx.Done()
		close(f.ended)
		pw.CloseWithError(ctx.Err())
	}()
	return pr, nil
}

func TestLogsFollowStopsCleanlyOnInterrupt(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if _, err := st.Apply([]manifest.Object{pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	logs := followLogs{ended: make(chan struct{})}
	srv := httptest.NewServer(api.NewHandler(api.Config{Store: st, Logs: logs,
		IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) }}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--server", srv.URL, "logs", "-f", "web-1"}, pw, &errb, func(string) string { return "" }, time.Now)
		pw.Close()
	}()
	buf := make([]byte, len("first line\n"))
	if _, err := io.ReadFull(pr, buf); err != nil || string(buf) != "first line\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cancel() // what SIGINT does through signal.NotifyContext
	select {
	case code := <-done:
		if code != 0 || errb.Len() != 0 {
			t.Errorf("interrupted follow: exit %d, stderr %q; want 0 and nothing", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tug logs -f did not stop after the interrupt")
	}
	select {
	case <-logs.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the server kept the log stream open after the client left")
	}
}
