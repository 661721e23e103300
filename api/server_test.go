package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/health"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func runtimeObject(o manifest.Object) runtime.RawExtension { return runtime.RawExtension{Object: o} }

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pod(ns, name string, lbls map[string]string, phase corev1.PodPhase, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Status: corev1.PodStatus{Phase: phase}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "example/" + c})
	}
	return p
}

const secretValue = "hunter2-very-secret"

func testObjects() []manifest.Object {
	return []manifest.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
		pod("default", "web-1", map[string]string{"app": "web"}, corev1.PodRunning, "app"),
		pod("default", "web-2", map[string]string{"app": "web"}, corev1.PodPending, "app", "sidecar"),
		pod("shop", "api-1", map[string]string{"app": "api"}, corev1.PodRunning, "api"),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-config"}, Data: map[string]string{"k": "v"}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db", Annotations: map[string]string{
				"team": "data",
				"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"password":"` + secretValue + `"}}`,
			}},
			Data:       map[string][]byte{"password": []byte(secretValue)},
			StringData: map[string]string{"user": secretValue},
		},
	}
}

type testServer struct {
	*httptest.Server
	store  *fakeStore
	logs   *fakeLogs
	logBuf *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestServer(t *testing.T, modify func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{store: newFakeStore(testObjects()...), logs: &fakeLogs{}, logBuf: newSyncBuffer()}
	cfg := Config{
		Store:      ts.store,
		Logs:       ts.logs,
		IsNotFound: func(err error) bool { return errors.Is(err, errNotFound) },
		Repo:       "https://deploy:s3cr3t-token@git.example.com/acme/cluster.git",
		Branch:     "main",
		Logger:     slog.New(slog.NewJSONHandler(ts.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:      func() time.Time { return now },
	}
	if modify != nil {
		modify(&cfg)
	}
	ts.Server = httptest.NewServer(NewHandler(cfg))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) do(t *testing.T, method, path string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(`{"kind":"Pod"}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// listSummary is the part of a list answer the tests compare.
type listSummary struct {
	APIVersion, Kind, ResourceVersion string
	Items                             []string // kind apiVersion ns/name
}

func summarizeList(t *testing.T, body []byte) listSummary {
	t.Helper()
	var l struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("decode list %s: %v", body, err)
	}
	s := listSummary{APIVersion: l.APIVersion, Kind: l.Kind, ResourceVersion: l.Metadata.ResourceVersion, Items: []string{}}
	for _, it := range l.Items {
		s.Items = append(s.Items, it.Kind+" "+it.APIVersion+" "+it.Metadata.Namespace+"/"+it.Metadata.Name)
	}
	return s
}

func TestLists(t *testing.T) {
	ts := newTestServer(t, nil)
	rv := "9" // nine objects were stored
	tests := []struct {
		path string
		want listSummary
	}{
		{"/api/v1/namespaces/default/pods", listSummary{"v1", "PodList", rv, []string{"Pod v1 default/web-1", "Pod v1 default/web-2"}}},
		{"/api/v1/pods", listSummary{"v1", "PodList", rv, []string{"Pod v1 default/web-1", "Pod v1 default/web-2", "Pod v1 shop/api-1"}}},
		{"/api/v1/pods?labelSelector=app%3Dapi", listSummary{"v1", "PodList", rv, []string{"Pod v1 shop/api-1"}}},
		{"/api/v1/pods?labelSelector=app+in+(web),app!%3Dapi", listSummary{"v1", "PodList", rv, []string{"Pod v1 default/web-1", "Pod v1 default/web-2"}}},
		{"/api/v1/pods?fieldSelector=status.phase%3DPending", listSummary{"v1", "PodList", rv, []string{"Pod v1 default/web-2"}}},
		{"/api/v1/namespaces/shop/pods", listSummary{"v1", "PodList", rv, []string{"Pod v1 shop/api-1"}}},
		{"/api/v1/namespaces/nowhere/pods", listSummary{"v1", "PodList", rv, []string{}}},
		{"/api/v1/namespaces", listSummary{"v1", "NamespaceList", rv, []string{"Namespace v1 /default", "Namespace v1 /shop"}}},
		{"/api/v1/nodes", listSummary{"v1", "NodeList", rv, []string{"Node v1 /node-1"}}},
		{"/api/v1/namespaces/default/configmaps", listSummary{"v1", "ConfigMapList", rv, []string{"ConfigMap v1 default/web-config"}}},
		{"/api/v1/namespaces/default/services", listSummary{"v1", "ServiceList", rv, []string{}}},
		{"/apis/apps/v1/namespaces/default/deployments", listSummary{"apps/v1", "DeploymentList", rv, []string{"Deployment apps/v1 default/web"}}},
		{"/apis/apps/v1/deployments", listSummary{"apps/v1", "DeploymentList", rv, []string{"Deployment apps/v1 default/web"}}},
		{"/apis/apps/v1/replicasets", listSummary{"apps/v1", "ReplicaSetList", rv, []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, hdr, body := ts.do(t, http.MethodGet, tt.path, nil)
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tt.path, code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if diff := cmp.Diff(tt.want, summarizeList(t, body)); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func decodeStatus(t *testing.T, body []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("decode Status %s: %v", body, err)
	}
	return st
}

func TestGetAndErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := []struct {
		path       string
		wantCode   int
		wantName   string // for 200
		wantReason metav1.StatusReason
		wantMsg    string
	}{
		{path: "/api/v1/namespaces/default/pods/web-1", wantCode: 200, wantName: "web-1"},
		{path: "/api/v1/namespaces/shop", wantCode: 200, wantName: "shop"},
		{path: "/api/v1/nodes/node-1", wantCode: 200, wantName: "node-1"},
		{path: "/apis/apps/v1/namespaces/default/deployments/web", wantCode: 200, wantName: "web"},
		{path: "/api/v1/namespaces/default/pods/nope", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: `pods "nope" not found`},
		{path: "/apis/apps/v1/namespaces/default/deployments/nope", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: `deployments.apps "nope" not found`},
		{path: "/api/v1/nodes/nope", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: `nodes "nope" not found`},
		{path: "/api/v1/namespaces/default/widgets", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/api/v1/deployments", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/apis/apps/v1/pods", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/api/v1/pod", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/api/v1/namespaces/default/nodes", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/api/v1/pods/web-1", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/nothing/here", wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantMsg: "the server could not find the requested resource"},
		{path: "/api/v1/pods?labelSelector=a%3D%3D%3Db", wantCode: 400, wantReason: metav1.StatusReasonBadRequest, wantMsg: `invalid labelSelector "a===b"`},
		{path: "/api/v1/pods?fieldSelector=spec.hostname%3Dx", wantCode: 400, wantReason: metav1.StatusReasonBadRequest, wantMsg: "field label not supported: spec.hostname"},
		{path: "/api/v1/configmaps?fieldSelector=status.phase%3DRunning", wantCode: 400, wantReason: metav1.StatusReasonBadRequest, wantMsg: "field label not supported: status.phase"},
		{path: "/api/v1/pods?watch=true", wantCode: 400, wantReason: metav1.StatusReasonBadRequest, wantMsg: "tug does not serve watches"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, _, body := ts.do(t, http.MethodGet, tt.path, nil)
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, code, body, tt.wantCode)
			}
			if code == http.StatusOK {
				var m metav1.PartialObjectMetadata
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				if m.Name != tt.wantName || m.Kind == "" || m.APIVersion == "" {
					t.Errorf("GET %s: got %s %s %q", tt.path, m.APIVersion, m.Kind, m.Name)
				}
				return
			}
			st := decodeStatus(t, body)
			if st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Code != int32(tt.wantCode) || st.Reason != tt.wantReason {
				t.Errorf("Status = %+v", st)
			}
			if !strings.HasPrefix(st.Message, tt.wantMsg) {
				t.Errorf("message = %q, want prefix %q", st.Message, tt.wantMsg)
			}
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Table = fakeTable })
	paths := []struct {
		path   string
		accept string
	}{
		{"/api/v1/namespaces/default/secrets/db", ""},
		{"/api/v1/namespaces/default/secrets", ""},
		{"/api/v1/secrets", ""},
		{"/api/v1/secrets?includeObject=Object", tableAccept},
		{"/api/v1/namespaces/default/secrets/db", tableAccept},
	}
	for _, p := range paths {
		t.Run(p.path+" "+p.accept, func(t *testing.T) {
			hdr := http.Header{}
			if p.accept != "" {
				hdr.Set("Accept", p.accept)
			}
			code, _, body := ts.do(t, http.MethodGet, p.path, hdr)
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %s", p.path, code, body)
			}
			if bytes.Contains(body, []byte(secretValue)) || bytes.Contains(body, []byte("aHVudGVy")) { // plain or base64
				t.Fatalf("GET %s leaks the secret value: %s", p.path, body)
			}
			if !bytes.Contains(body, []byte(`"tug.dev/redacted":"true"`)) {
				t.Errorf("GET %s: no redacted annotation in %s", p.path, body)
			}
		})
	}

	// The whole object, decoded: keys kept, values empty, other annotations kept.
	_, _, body := ts.do(t, http.MethodGet, "/api/v1/namespaces/default/secrets/db", nil)
	var got corev1.Secret
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db", ResourceVersion: "9", Annotations: map[string]string{"team": "data", AnnotationRedacted: "true"}},
		Data:       map[string][]byte{"password": {}},
		StringData: map[string]string{"user": ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redacted secret (-want +got):\n%s", diff)
	}
	// The store's copy is untouched.
	stored, _ := ts.store.Get(manifest.Key{Kind: manifest.KindSecret, Namespace: "default", Name: "db"})
	if string(stored.(*corev1.Secret).Data["password"]) != secretValue {
		t.Errorf("redaction changed the stored secret")
	}
}

func TestWritesAreRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		for _, path := range []string{"/api/v1/namespaces/default/pods", "/apis/apps/v1/namespaces/default/deployments/web", "/tug/v1/status", "/whatever"} {
			code, hdr, body := ts.do(t, method, path, nil)
			if code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, code)
				continue
			}
			if hdr.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q", method, path, hdr.Get("Allow"))
			}
			st := decodeStatus(t, body)
			want := "tug is read-only: " + method + " " + path + " is refused; change the cluster by committing to https://git.example.com/acme/cluster.git (branch main)"
			if st.Message != want || st.Reason != metav1.StatusReasonMethodNotAllowed || st.Code != 405 {
				t.Errorf("%s %s: Status = %+v\nwant message %q", method, path, st, want)
			}
			if bytes.Contains(body, []byte("s3cr3t")) || bytes.Contains(body, []byte("deploy:")) {
				t.Errorf("refusal leaks repository credentials: %s", body)
			}
		}
	}
	// Nothing was written.
	if objs, _ := ts.store.List(manifest.KindPod, ""); len(objs) != 3 {
		t.Errorf("store has %d pods after refused writes, want 3", len(objs))
	}
	// HEAD is a read.
	if code, _, _ := ts.do(t, http.MethodHead, "/api/v1/pods", nil); code != http.StatusOK {
		t.Errorf("HEAD = %d, want 200", code)
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://git.example.com/acme/cluster.git":            "https://git.example.com/acme/cluster.git",
		"https://user:token@git.example.com/acme/cluster.git": "https://git.example.com/acme/cluster.git",
		"https://ghp_TOKEN@github.com/acme/cluster":           "https://github.com/acme/cluster",
		"ssh://git:pw@git.example.com:2222/acme/cluster.git":  "ssh://git@git.example.com:2222/acme/cluster.git",
		"ssh://git@git.example.com/acme/cluster.git":          "ssh://git@git.example.com/acme/cluster.git",
		"git@github.com:acme/cluster.git":                     "git@github.com:acme/cluster.git",
		"file:///srv/git/cluster":                             "file:///srv/git/cluster",
		"/srv/git/cluster":                                    "/srv/git/cluster",
		"https://us%er:p%zz@host/x":                           "https://host/x",
		"":                                                    "",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatus(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.SyncStatus = func() SyncStatus {
			return SyncStatus{LastFetch: now.Add(-time.Minute), LastFetchError: "fetch: connection refused"}
		}
	})
	ts.store.record(manifest.SyncRecord{SHA: "aaa", Outcome: manifest.OutcomeApplied})
	ts.store.record(manifest.SyncRecord{SHA: "bbb", Outcome: manifest.OutcomeRejected, Errors: []string{"a.yaml:1: bad"}})
	ts.store.record(manifest.SyncRecord{SHA: "ccc", Outcome: manifest.OutcomeApplied})
	ts.store.record(manifest.SyncRecord{SHA: "ddd", Outcome: manifest.OutcomeRejected, Errors: []string{"b.yaml:2: worse"}})
	ts.store.record(manifest.SyncRecord{SHA: "eee", Outcome: manifest.OutcomeRejected, Errors: []string{"b.yaml:3: worst"}})

	code, _, body := ts.do(t, http.MethodGet, "/tug/v1/status", nil)
	if code != http.StatusOK {
		t.Fatalf("status = %d %s", code, body)
	}
	var got Status
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := Status{
		Repo: "https://git.example.com/acme/cluster.git", Branch: "main",
		Applied:  &manifest.SyncRecord{Seq: 3, SHA: "ccc", Outcome: manifest.OutcomeApplied},
		Rejected: &manifest.SyncRecord{Seq: 5, SHA: "eee", Outcome: manifest.OutcomeRejected, Errors: []string{"b.yaml:3: worst"}},
		Sync:     &SyncStatus{LastFetch: now.Add(-time.Minute), LastFetchError: "fetch: connection refused"},
		Objects: map[string]int{"ConfigMap": 1, "Deployment": 1, "Endpoints": 0, "Namespace": 2, "Node": 1, "Pod": 3,
			"ReplicaSet": 0, "Secret": 1, "Service": 0, "Job": 0, "CronJob": 0, "DaemonSet": 0, "StatefulSet": 0,
			"Event": 0, "EndpointSlice": 0, "Lease": 0, "LimitRange": 0, "NetworkPolicy": 0, "PersistentVolume": 0, "PersistentVolumeClaim": 0,
			"PodDisruptionBudget": 0, "ResourceQuota": 0, "StorageClass": 0},
		Pods:            map[string]int{"Running": 2, "Pending": 1},
		ResourceVersion: 9,
		Health:          &Health{Status: health.Healthy, Counts: map[health.Status]int{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestRejectedAfter(t *testing.T) {
	recs := func(outcomes ...string) []manifest.SyncRecord { // given oldest first, returned newest first
		var out []manifest.SyncRecord
		for i := len(outcomes) - 1; i >= 0; i-- {
			out = append(out, manifest.SyncRecord{Seq: uint64(i + 1), Outcome: outcomes[i]})
		}
		return out
	}
	A, R := manifest.OutcomeApplied, manifest.OutcomeRejected
	tests := []struct {
		name    string
		recs    []manifest.SyncRecord
		applied uint64 // 0: none
		want    uint64 // 0: nil
	}{
		{"no history", nil, 0, 0},
		{"only applied", recs(A, A), 2, 0},
		{"rejected then fixed", recs(A, R, A), 3, 0},
		{"rejected after applied", recs(A, R, R), 1, 3},
		{"nothing ever applied", recs(R, R), 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var applied *manifest.SyncRecord
			if tt.applied != 0 {
				applied = &manifest.SyncRecord{Seq: tt.applied, Outcome: A}
			}
			got := rejectedAfter(tt.recs, applied)
			var gotSeq uint64
			if got != nil {
				gotSeq = got.Seq
			}
			if gotSeq != tt.want {
				t.Errorf("rejectedAfter = seq %d, want %d", gotSeq, tt.want)
			}
		})
	}
}

func TestSyncs(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, sha := range []string{"a", "b", "c"} {
		ts.store.record(manifest.SyncRecord{SHA: sha, Outcome: manifest.OutcomeApplied})
	}
	tests := []struct {
		query    string
		wantCode int
		wantSHAs []string
	}{
		{"", 200, []string{"c", "b", "a"}},
		{"?limit=2", 200, []string{"c", "b"}},
		{"?limit=0", 200, []string{"c", "b", "a"}},
		{"?limit=x", 400, nil},
		{"?limit=-1", 400, nil},
	}
	for _, tt := range tests {
		code, _, body := ts.do(t, http.MethodGet, "/tug/v1/syncs"+tt.query, nil)
		if code != tt.wantCode {
			t.Errorf("syncs%s = %d %s, want %d", tt.query, code, body, tt.wantCode)
			continue
		}
		if code != 200 {
			continue
		}
		var l SyncList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		var shas []string
		for _, r := range l.Items {
			shas = append(shas, r.SHA)
		}
		if diff := cmp.Diff(tt.wantSHAs, shas); diff != "" {
			t.Errorf("syncs%s (-want +got):\n%s", tt.query, diff)
		}
	}
}

func TestLogs(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.logs.open = func(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		if pod == "web-2" && opts.Container == "sidecar" {
			return nil, errors.New(`container "sidecar" in pod "web-2" is waiting to start: ContainerCreating`)
		}
		return io.NopCloser(strings.NewReader("log of " + ns + "/" + pod + "/" + opts.Container + "\n")), nil
	}
	tail := int64(10)
	tests := []struct {
		path     string
		wantCode int
		wantBody string // log text, or the Status message
		wantOpts *corev1.PodLogOptions
	}{
		{"/api/v1/namespaces/default/pods/web-1/log", 200, "log of default/web-1/app\n", &corev1.PodLogOptions{Container: "app"}},
		{"/api/v1/namespaces/default/pods/web-2/log?container=app&previous=true&tailLines=10", 200, "log of default/web-2/app\n",
			&corev1.PodLogOptions{Container: "app", Previous: true, TailLines: &tail}},
		{"/api/v1/namespaces/default/pods/web-2/log", 400, "a container name must be specified for pod web-2, choose one of: [app sidecar]", nil},
		{"/api/v1/namespaces/default/pods/web-2/log?container=db", 400, "container db is not valid for pod web-2", nil},
		{"/api/v1/namespaces/default/pods/web-2/log?container=sidecar", 400, `container "sidecar" in pod "web-2" is waiting to start: ContainerCreating`, nil},
		{"/api/v1/namespaces/default/pods/nope/log", 404, `pods "nope" not found`, nil},
		{"/api/v1/namespaces/default/pods/web-1/log?tailLines=-3", 400, `invalid tailLines "-3": want a whole number ≥ 0`, nil},
		{"/api/v1/namespaces/default/pods/web-1/log?follow=maybe", 400, `invalid follow "maybe": want true or false`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ts.logs.mu.Lock()
			ts.logs.last = nil
			ts.logs.mu.Unlock()
			code, hdr, body := ts.do(t, http.MethodGet, tt.path, nil)
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, code, body, tt.wantCode)
			}
			got := string(body)
			if code != http.StatusOK {
				got = decodeStatus(t, body).Message
			} else if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q", ct)
			}
			if got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantOpts != nil {
				if diff := cmp.Diff(tt.wantOpts, ts.logs.lastOpts()); diff != "" {
					t.Errorf("options passed to Logs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestLogsFollowStreams(t *testing.T) {
	ts := newTestServer(t, nil)
	pr, pw := io.Pipe()
	ctxDone := make(chan struct{})
	ts.logs.open = func(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		go func() { <-ctx.Done(); close(ctxDone); pw.CloseWithError(ctx.Err()) }()
		return pr, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/namespaces/default/pods/web-1/log?follow=true", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	for _, want := range []string{"first\n", "second\n"} {
		if _, err := io.WriteString(pw, want); err != nil {
			t.Fatal(err)
		}
		// The line arrives while the stream is still open: the server flushed it.
		got, err := lines.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if !ts.logs.lastOpts().Follow {
		t.Error("Logs was not asked to follow")
	}
	cancel() // the client goes away: the server's request context ends
	select {
	case <-ctxDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the Logs context was not cancelled after the client left")
	}
}

func TestLogsWithoutAgent(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Logs = nil })
	code, _, body := ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/web-1/log", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(decodeStatus(t, body).Message, "no node agent") {
		t.Errorf("logs without agent = %d %s", code, body)
	}
}

func TestPanicsAndStoreErrorsBecomeStatus(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.store.panics = true
	code, _, body := ts.do(t, http.MethodGet, "/api/v1/pods", nil)
	if code != http.StatusInternalServerError || decodeStatus(t, body).Reason != metav1.StatusReasonInternalError {
		t.Errorf("panicking handler = %d %s, want 500 InternalError", code, body)
	}
	if !strings.Contains(ts.logBuf.String(), `"msg":"panic in API handler"`) {
		t.Errorf("panic not logged: %s", ts.logBuf.String())
	}
	// The server still serves.
	ts.store.panics = false
	if code, _, _ := ts.do(t, http.MethodGet, "/healthz", nil); code != http.StatusOK {
		t.Errorf("healthz after panic = %d", code)
	}

	ts.store.failAll = errors.New("disk on fire")
	code, _, body = ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/web-1", nil)
	if code != http.StatusInternalServerError || !strings.Contains(decodeStatus(t, body).Message, "disk on fire") {
		t.Errorf("store error = %d %s, want 500 naming the cause", code, body)
	}
}

func TestAccessLog(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/nope", nil)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(ts.logBuf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "http request" && rec["path"] == "/api/v1/namespaces/default/pods/nope" {
			found = true
			if rec["level"] != "DEBUG" || rec["method"] != "GET" || rec["status"] != float64(404) {
				t.Errorf("access log = %v", rec)
			}
		}
	}
	if !found {
		t.Errorf("no access log line in %s", ts.logBuf.String())
	}
}

func TestDiscovery(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Version = "0.1.0" })
	get := func(path string, v any) {
		t.Helper()
		code, _, body := ts.do(t, http.MethodGet, path, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	var core metav1.APIResourceList
	get("/api/v1", &core)
	var names []string
	for _, r := range core.APIResources {
		names = append(names, r.Name+":"+strings.Join(r.ShortNames, ","))
		if r.Name == "pods" && (!r.Namespaced || r.Kind != "Pod" || !cmp.Equal(r.Verbs, metav1.Verbs{"get", "list"})) {
			t.Errorf("pods resource = %+v", r)
		}
	}
	want := []string{"configmaps:cm", "endpoints:ep", "events:ev", "limitranges:limits", "namespaces:ns", "nodes:no",
		"persistentvolumes:pv", "persistentvolumeclaims:pvc", "pods:po", "pods/log:", "resourcequotas:quota", "secrets:", "services:svc"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("/api/v1 resources (-want +got):\n%s", diff)
	}
	var apps metav1.APIResourceList
	get("/apis/apps/v1", &apps)
	if apps.GroupVersion != "apps/v1" || len(apps.APIResources) != 4 {
		t.Errorf("/apis/apps/v1 = %+v", apps)
	}
	var batch metav1.APIResourceList
	get("/apis/batch/v1", &batch)
	names = nil
	for _, r := range batch.APIResources {
		names = append(names, r.Name+":"+strings.Join(r.ShortNames, ","))
	}
	if diff := cmp.Diff([]string{"cronjobs:cj", "jobs:"}, names); batch.GroupVersion != "batch/v1" || diff != "" {
		t.Errorf("/apis/batch/v1 = %s, resources (-want +got):\n%s", batch.GroupVersion, diff)
	}
	var groups metav1.APIGroupList
	get("/apis", &groups)
	var gvs []string
	for _, g := range groups.Groups {
		gvs = append(gvs, g.PreferredVersion.GroupVersion)
	}
	wantGroups := []string{"apps/v1", "batch/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "networking.k8s.io/v1", "policy/v1", "storage.k8s.io/v1"}
	if diff := cmp.Diff(wantGroups, gvs); diff != "" {
		t.Errorf("/apis groups (-want +got):\n%s", diff)
	}
	var versions metav1.APIVersions
	get("/api", &versions)
	if !cmp.Equal(versions.Versions, []string{"v1"}) {
		t.Errorf("/api = %+v", versions)
	}
	var v struct{ Major, Minor, GitVersion string }
	get("/version", &v)
	if v.Major != "1" || !strings.HasSuffix(v.GitVersion, "+0.1.0") {
		t.Errorf("/version = %+v", v)
	}
}

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// fakeTable renders a NAME column, as printers.Table would with more.
func fakeTable(kind string, objs []manifest.Object, now time.Time) (*metav1.Table, error) {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}}}
	for _, o := range objs {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{o.GetName()}, Object: runtimeObject(o)})
	}
	return t, nil
}

func TestTable(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Table = fakeTable })
	hdr := http.Header{"Accept": {tableAccept}}
	code, rh, body := ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
	if code != http.StatusOK || !strings.Contains(rh.Get("Content-Type"), "as=Table") {
		t.Fatalf("table = %d %s %s", code, rh.Get("Content-Type"), body)
	}
	var tab metav1.Table
	if err := json.Unmarshal(body, &tab); err != nil {
		t.Fatal(err)
	}
	if tab.Kind != "Table" || tab.APIVersion != "meta.k8s.io/v1" || tab.ResourceVersion != "9" || len(tab.Rows) != 2 {
		t.Fatalf("table = %+v", tab)
	}
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(tab.Rows[1].Object.Raw, &m); err != nil {
		t.Fatal(err)
	}
	if tab.Rows[1].Cells[0] != "web-2" || m.Kind != "PartialObjectMetadata" || m.Namespace != "default" || m.Name != "web-2" {
		t.Errorf("row 1 = %v, object %+v", tab.Rows[1].Cells, m)
	}

	// Without a Table function, the same request gets the plain list.
	plain := newTestServer(t, nil)
	_, _, body = plain.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
	if s := summarizeList(t, body); s.Kind != "PodList" {
		t.Errorf("without Table: kind %q", s.Kind)
	}
}
