package printers

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

func objMeta(ns, name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ago(age)}
}

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}}
}

func waiting(name, reason string, restarts int32, lastExit time.Duration) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: name, RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	if lastExit > 0 {
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(lastExit)}
	}
	return cs
}

func containers(names ...string) []corev1.Container {
	var out []corev1.Container
	for _, n := range names {
		out = append(out, corev1.Container{Name: n, Image: "example/" + n + ":1"})
	}
	return out
}

func TestSummarizePod(t *testing.T) {
	deleting := metav1.NewTime(now)
	tests := []struct {
		name string
		pod  corev1.Pod
		want PodSummary
	}{
		{
			name: "pending, nothing reported",
			pod:  corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}},
			want: PodSummary{Ready: "0/1", Status: "", Restarts: "0"},
		},
		{
			name: "running and ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app", "side")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					running("app", true, 0), running("side", true, 0)}}},
			want: PodSummary{Ready: "2/2", Status: "Running", Restarts: "0"},
		},
		{
			name: "creating",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
					waiting("app", "ContainerCreating", 0, 0)}}},
			want: PodSummary{Ready: "0/1", Status: "ContainerCreating", Restarts: "0"},
		},
		{
			name: "crash loop with the last restart's age",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app", "side")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					waiting("app", "CrashLoopBackOff", 4, 90*time.Second), running("side", true, 1)}}},
			want: PodSummary{Ready: "1/2", Status: "CrashLoopBackOff", Restarts: "5 (90s ago)"},
		},
		{
			name: "terminated without a reason shows the exit code",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}}},
			want: PodSummary{Ready: "0/1", Status: "ExitCode:3", Restarts: "0"},
		},
		{
			name: "completed with another container still running",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("job", "side")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
					ContainerStatuses: []corev1.ContainerStatus{
						{Name: "job", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
						running("side", true, 0)}}},
			want: PodSummary{Ready: "1/2", Status: "NotReady", Restarts: "0"},
		},
		{
			name: "init container running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("migrate", "seed"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
						running("seed", false, 0)},
					ContainerStatuses: []corev1.ContainerStatus{waiting("app", "PodInitializing", 0, 0)}}},
			want: PodSummary{Ready: "0/1", Status: "Init:1/2", Restarts: "0"},
		},
		{
			name: "init container crashing",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{waiting("migrate", "CrashLoopBackOff", 2, 10*time.Minute)}}},
			want: PodSummary{Ready: "0/1", Status: "Init:CrashLoopBackOff", Restarts: "2 (10m ago)"},
		},
		{
			name: "started sidecar counts as a container",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}},
					Containers:     containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptr(true),
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
					ContainerStatuses: []corev1.ContainerStatus{running("app", true, 0)}}},
			want: PodSummary{Ready: "2/2", Status: "Running", Restarts: "0"},
		},
		{
			name: "being deleted",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting},
				Spec: corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					running("app", true, 0)}}},
			want: PodSummary{Ready: "1/1", Status: "Terminating", Restarts: "0"},
		},
		{
			name: "deleted after it finished keeps its phase",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting},
				Spec:   corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
			want: PodSummary{Ready: "0/1", Status: "Succeeded", Restarts: "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SummarizePod(&tt.pod, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SummarizePod (-want +got):\n%s", diff)
			}
		})
	}
}

func testPods() []manifest.Object {
	web := &corev1.Pod{ObjectMeta: objMeta("default", "web-7d9f-abcde", 5*time.Minute),
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: containers("app")},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}},
			ContainerStatuses: []corev1.ContainerStatus{running("app", true, 0)}}}
	crash := &corev1.Pod{ObjectMeta: objMeta("shop", "api-0", 26*time.Hour),
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: containers("api")},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.12"}},
			ContainerStatuses: []corev1.ContainerStatus{waiting("api", "CrashLoopBackOff", 12, 3*time.Minute)}}}
	pending := &corev1.Pod{ObjectMeta: objMeta("shop", "worker-1", 30*time.Second),
		Spec:   corev1.PodSpec{Containers: containers("work")},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	return []manifest.Object{web, crash, pending}
}

func TestPrintList(t *testing.T) {
	two := int32(2)
	tests := []struct {
		name string
		kind string
		objs []manifest.Object
		opts Options
		want string
	}{
		{
			name: "pods",
			kind: manifest.KindPod,
			objs: testPods(),
			want: `NAME             READY   STATUS             RESTARTS      AGE
web-7d9f-abcde   1/1     Running            0             5m
api-0            0/1     CrashLoopBackOff   12 (3m ago)   26h
worker-1         0/1     Pending            0             30s
`,
		},
		{
			name: "pods wide in all namespaces",
			kind: manifest.KindPod,
			objs: testPods(),
			opts: Options{Output: OutputWide, WithNamespace: true},
			want: `NAMESPACE   NAME             READY   STATUS             RESTARTS      AGE   IP           NODE
default     web-7d9f-abcde   1/1     Running            0             5m    10.42.0.7    node-1
shop        api-0            0/1     CrashLoopBackOff   12 (3m ago)   26h   10.42.0.12   node-1
shop        worker-1         0/1     Pending            0             30s   <none>       <none>
`,
		},
		{
			name: "pods without headers",
			kind: manifest.KindPod,
			objs: testPods()[:1],
			opts: Options{NoHeaders: true},
			want: "web-7d9f-abcde   1/1   Running   0     5m\n",
		},
		{
			name: "deployments",
			kind: manifest.KindDeployment,
			objs: []manifest.Object{
				&appsv1.Deployment{ObjectMeta: objMeta("default", "web", 50*time.Hour),
					Spec:   appsv1.DeploymentSpec{Replicas: &two},
					Status: appsv1.DeploymentStatus{ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1}},
				&appsv1.Deployment{ObjectMeta: objMeta("default", "defaulted", 10*24*time.Hour)},
			},
			want: `NAME        READY   UP-TO-DATE   AVAILABLE   AGE
web         1/2     2            1           2d2h
defaulted   0/1     0            0           10d
`,
		},
		{
			name: "deployments wide",
			kind: manifest.KindDeployment,
			objs: []manifest.Object{
				&appsv1.Deployment{ObjectMeta: objMeta("default", "web", time.Hour),
					Spec: appsv1.DeploymentSpec{Replicas: &two,
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
						Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers("app", "log")}}},
					Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}},
			},
			opts: Options{Output: OutputWide},
			want: `NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES                        SELECTOR
web    2/2     2            2           60m   app,log      example/app:1,example/log:1   app=web
`,
		},
		{
			name: "replicasets",
			kind: manifest.KindReplicaSet,
			objs: []manifest.Object{
				&appsv1.ReplicaSet{ObjectMeta: objMeta("default", "web-7d9f", 3*time.Hour),
					Spec:   appsv1.ReplicaSetSpec{Replicas: &two},
					Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}},
			},
			want: `NAME       DESIRED   CURRENT   READY   AGE
web-7d9f   2         2         1       3h
`,
		},
		{
			name: "services",
			kind: manifest.KindService,
			objs: []manifest.Object{
				&corev1.Service{ObjectMeta: objMeta("default", "web", time.Minute),
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"},
						Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}},
				&corev1.Service{ObjectMeta: objMeta("default", "shop", time.Minute),
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.43.0.21"},
						Ports: []corev1.ServicePort{{Port: 8080, NodePort: 30080}}}},
				&corev1.Service{ObjectMeta: objMeta("default", "lb", time.Minute),
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.22"}}},
				&corev1.Service{ObjectMeta: objMeta("default", "db", time.Minute),
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			},
			want: `NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)          AGE
web    ClusterIP      10.43.0.20   <none>           80/TCP,53/UDP    60s
shop   NodePort       10.43.0.21   <none>           8080:30080/TCP   60s
lb     LoadBalancer   10.43.0.22   <pending>        <none>           60s
db     ExternalName   <none>       db.example.com   <none>           60s
`,
		},
		{
			name: "configmaps and secrets",
			kind: manifest.KindConfigMap,
			objs: []manifest.Object{
				&corev1.ConfigMap{ObjectMeta: objMeta("default", "web-config", 9*time.Minute+30*time.Second),
					Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			},
			want: `NAME         DATA   AGE
web-config   3      9m30s
`,
		},
		{
			name: "secrets",
			kind: manifest.KindSecret,
			objs: []manifest.Object{
				&corev1.Secret{ObjectMeta: objMeta("default", "db-password", time.Hour),
					Data: map[string][]byte{"password": nil}, StringData: map[string]string{"user": "", "password": ""}},
				&corev1.Secret{ObjectMeta: objMeta("default", "tls", time.Hour), Type: corev1.SecretTypeTLS},
			},
			want: `NAME          TYPE                DATA   AGE
db-password   Opaque              2      60m
tls           kubernetes.io/tls   0      60m
`,
		},
		{
			name: "nodes wide",
			kind: manifest.KindNode,
			objs: []manifest.Object{
				&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: ago(400 * 24 * time.Hour),
					Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
					Status: corev1.NodeStatus{
						Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
						Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.5"}},
						NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "tug-0.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)",
							KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "containerd://1.6.20"}}},
				&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2", CreationTimestamp: ago(time.Hour)},
					Spec: corev1.NodeSpec{Unschedulable: true},
					Status: corev1.NodeStatus{
						Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}},
			},
			opts: Options{Output: OutputWide},
			want: `NAME     STATUS                        ROLES                  AGE    VERSION     INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-1   Ready                         control-plane,worker   400d   tug-0.1.0   192.168.1.5   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   containerd://1.6.20
node-2   NotReady,SchedulingDisabled   <none>                 60m                <none>        <none>        <unknown>                        <unknown>        <unknown>
`,
		},
		{
			name: "namespaces",
			kind: manifest.KindNamespace,
			objs: []manifest.Object{
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(3 * time.Hour)}},
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			},
			want: `NAME      STATUS        AGE
default   Active        3h
old       Terminating   <unknown>
`,
		},
		{
			name: "names",
			kind: manifest.KindDeployment,
			objs: []manifest.Object{&appsv1.Deployment{ObjectMeta: objMeta("default", "web", 0)}, &appsv1.Deployment{ObjectMeta: objMeta("default", "api", 0)}},
			opts: Options{Output: OutputName},
			want: "deployment.apps/web\ndeployment.apps/api\n",
		},
		{
			name: "empty table prints nothing",
			kind: manifest.KindPod,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = now
			var buf bytes.Buffer
			if err := PrintList(&buf, tt.kind, tt.objs, tt.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintJSONAndYAML(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", ResourceVersion: "7"},
		Data: map[string]string{"k": "v"}}

	var buf bytes.Buffer
	if err := PrintObject(&buf, cm, Options{Output: OutputJSON}); err != nil {
		t.Fatal(err)
	}
	wantObj := `{
    "apiVersion": "v1",
    "data": {
        "k": "v"
    },
    "kind": "ConfigMap",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "resourceVersion": "7"
    }
}
`
	if diff := cmp.Diff(wantObj, buf.String()); diff != "" {
		t.Errorf("json object (-want +got):\n%s", diff)
	}
	if cm.APIVersion != "" {
		t.Errorf("PrintObject changed its argument: apiVersion %q", cm.APIVersion)
	}

	buf.Reset()
	if err := PrintList(&buf, manifest.KindConfigMap, []manifest.Object{cm}, Options{Output: OutputYAML}); err != nil {
		t.Fatal(err)
	}
	wantList := `apiVersion: v1
items:
- apiVersion: v1
  data:
    k: v
  kind: ConfigMap
  metadata:
    name: web
    namespace: default
    resourceVersion: "7"
kind: List
metadata:
  resourceVersion: ""
`
	if diff := cmp.Diff(wantList, buf.String()); diff != "" {
		t.Errorf("yaml list (-want +got):\n%s", diff)
	}

	buf.Reset()
	if err := PrintList(&buf, manifest.KindConfigMap, nil, Options{Output: OutputJSON}); err != nil {
		t.Fatal(err)
	}
	wantEmpty := "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"
	if diff := cmp.Diff(wantEmpty, buf.String()); diff != "" {
		t.Errorf("empty json list (-want +got):\n%s", diff)
	}
}

func TestValidateOutput(t *testing.T) {
	for _, ok := range []string{"", "wide", "json", "yaml", "name"} {
		if err := ValidateOutput(ok); err != nil {
			t.Errorf("ValidateOutput(%q) = %v", ok, err)
		}
	}
	if err := ValidateOutput("jsonpath"); err == nil || !strings.Contains(err.Error(), `"jsonpath"`) {
		t.Errorf("ValidateOutput(jsonpath) = %v, want an error naming the format", err)
	}
}

func TestTableRejectsMixedKinds(t *testing.T) {
	_, err := Table(manifest.KindPod, []manifest.Object{&corev1.ConfigMap{}}, now)
	if err == nil {
		t.Fatal("Table of pods accepted a ConfigMap")
	}
}

func TestCellEscapesControlCharacters(t *testing.T) {
	tests := map[string]string{"plain": "plain", "a\tb\nc": "a b c", "bell\x07": "bell^G"}
	for in, want := range tests {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	tests := []struct {
		name string
		st   api.Status
		want string
	}{
		{
			name: "applied, newer commit rejected, fetch failing",
			st: api.Status{
				Repo: "https://git.example.com/acme/cluster.git", Branch: "main",
				Applied: &manifest.SyncRecord{SHA: "1a2b3c4d5e6f", Message: "Add web deployment\n\nLonger text.",
					Author: "Alice <alice@example.com>", Outcome: manifest.OutcomeApplied, Finished: now.Add(-5 * time.Minute)},
				Rejected: &manifest.SyncRecord{SHA: "9f8e7d6c5b4a", Message: "Scale web", Author: "Bob <bob@example.com>",
					Outcome: manifest.OutcomeRejected, Finished: now.Add(-2 * time.Minute),
					Errors: []string{"apps/web.yaml:12: Deployment web: spec.replicas: must be ≥ 0", "apps/web.yaml:20: unknown field \"spec.foo\""}},
				Sync: &api.SyncStatus{LastFetch: now.Add(-30 * time.Second), LastSuccess: now.Add(-10 * time.Minute),
					LastFetchedSHA: "9f8e7d6c5b4a", LastFetchError: "dial tcp 10.0.0.1:443: connect: connection refused"},
				Objects: map[string]int{"Pod": 3, "Deployment": 1, "Secret": 0, "Namespace": 1},
				Pods:    map[string]int{"Pending": 1, "Running": 2},
			},
			want: `Repository:   https://git.example.com/acme/cluster.git (branch main)
Applied:      1a2b3c4 Add web deployment
              by Alice <alice@example.com>, applied 2026-03-01 11:55:00 UTC (5m ago)
Rejected:     9f8e7d6 Scale web
              by Bob <bob@example.com>, rejected 2026-03-01 11:58:00 UTC (2m ago); the applied commit stays in force
                apps/web.yaml:12: Deployment web: spec.replicas: must be ≥ 0
                apps/web.yaml:20: unknown field "spec.foo"
Fetch:        last fetch 30s ago, head 9f8e7d6
Fetch error:  dial tcp 10.0.0.1:443: connect: connection refused (last success 10m ago)
Objects:      Deployment 1, Namespace 1, Pod 3
Pods:         Running 2, Pending 1
`,
		},
		{
			name: "fresh server",
			st:   api.Status{Objects: map[string]int{}, Pods: map[string]int{}},
			want: `Repository:  <unknown>
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

func TestPrintHistory(t *testing.T) {
	recs := []manifest.SyncRecord{
		{SHA: "9f8e7d6c5b4a", Outcome: manifest.OutcomeRejected, Trigger: "webhook", Finished: now.Add(-2 * time.Minute), Message: "Scale web\n\nbody"},
		{SHA: "1a2b3c4d5e6f", Outcome: manifest.OutcomeApplied, Trigger: "poll", Finished: now.Add(-5 * time.Hour), Message: "Add web\tdeployment"},
		{SHA: "0000000aaaa", Outcome: manifest.OutcomeApplied, Started: now.Add(-72 * time.Hour)},
		{SHA: "5e5e5e5e5e5e", Outcome: manifest.OutcomeApplied, Trigger: "poll", Rewrite: true, Previous: "0000000aaaa", Finished: now.Add(-time.Minute), Message: "Force"},
		{SHA: "6f6f6f6f6f6f", Outcome: manifest.OutcomeSuperseded, Trigger: "webhook", Finished: now.Add(-time.Minute)},
	}
	var buf bytes.Buffer
	if err := PrintHistory(&buf, recs, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := "SHA       OUTCOME                        TRIGGER   AGE   MESSAGE\n" +
		"9f8e7d6   Rejected                       webhook   2m    Scale web\n" +
		"1a2b3c4   Applied                        poll      5h    Add web deployment\n" +
		"0000000   Applied                        <none>    3d    \n" +
		"5e5e5e5   Applied (rewrite of 0000000)   poll      60s   Force\n" +
		"6f6f6f6   Superseded                     webhook   60s   \n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {59 * time.Second, "59s"}, {2*time.Minute + 5*time.Second, "2m5s"}, {90 * time.Minute, "90m"},
		{4*time.Hour + 10*time.Minute, "4h10m"}, {30 * time.Hour, "30h"}, {49 * time.Hour, "2d1h"}, {-time.Hour, "<invalid>"},
	}
	for _, tt := range tests {
		if got := Age(now.Add(-tt.d), now); got != tt.want {
			t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := Age(time.Time{}, now); got != "<unknown>" {
		t.Errorf("Age(zero) = %q, want <unknown>", got)
	}
}
