package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// newWatchServer serves the read-only API with watches over a real store;
// the cache keeps history changes.
func newWatchServer(t *testing.T, history int, modify ...func(*api.Config)) (*state.Store, string) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watches := api.NewWatchCache(st, history, nil)
	done := make(chan error, 1)
	go func() { done <- watches.Run(ctx) }()
	<-watches.Ready()
	cfg := api.Config{
		Store: st, Watch: watches, IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
	}
	for _, m := range modify {
		m(&cfg)
	}
	srv := httptest.NewServer(api.NewHandler(cfg))
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
		st.Close()
	})
	return st, srv.URL
}

func configMap(ns, name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"v": v}}
}

// watchLines opens url and returns "TYPE ns/name v" for the first n events.
func watchLines(t *testing.T, url string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch %s: %s", url, resp.Status)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		var ev struct {
			Type   string            `json:"type"`
			Object *corev1.ConfigMap `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("watch line %q: %v", sc.Text(), err)
		}
		out = append(out, fmt.Sprintf("%s %s/%s %s", ev.Type, ev.Object.Namespace, ev.Object.Name, ev.Object.Data["v"]))
	}
	if len(out) < n {
		t.Fatalf("watch %s: got %d events %q, want %d (err %v)", url, len(out), out, n, sc.Err())
	}
	return out
}

func TestWatchResumes(t *testing.T) {
	st, base := newWatchServer(t, 0)
	if _, err := st.Apply([]manifest.Object{configMap("a", "one", "1")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	from, _ := st.ResourceVersion()
	steps := []func() error{
		func() error { _, err := st.Apply([]manifest.Object{configMap("a", "two", "1")}, nil, nil); return err },
		func() error {
			_, err := st.Apply([]manifest.Object{configMap("b", "other", "1")}, nil, nil)
			return err
		},
		func() error { _, err := st.Apply([]manifest.Object{configMap("a", "one", "2")}, nil, nil); return err },
		func() error {
			_, err := st.Apply([]manifest.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}}}, nil, nil)
			return err
		},
		func() error {
			return st.Delete(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "a", Name: "two"}, "")
		},
	}
	var mid uint64
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			mid, _ = st.ResourceVersion()
		}
	}
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"namespace a from the first list", fmt.Sprintf("/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=%d", from),
			[]string{"ADDED a/two 1", "MODIFIED a/one 2", "DELETED a/two 1"}},
		{"all namespaces from the first list", fmt.Sprintf("/api/v1/configmaps?watch=true&resourceVersion=%d", from),
			[]string{"ADDED a/two 1", "ADDED b/other 1", "MODIFIED a/one 2", "DELETED a/two 1"}},
		{"resumed in the middle", fmt.Sprintf("/api/v1/configmaps?watch=1&resourceVersion=%d", mid),
			[]string{"MODIFIED a/one 2", "DELETED a/two 1"}},
		{"label and field selectors", fmt.Sprintf("/api/v1/configmaps?watch=1&resourceVersion=%d&fieldSelector=metadata.name%%3Done", from),
			[]string{"MODIFIED a/one 2"}},
		{"from zero: the current objects first", "/api/v1/configmaps?watch=1&resourceVersion=0",
			[]string{"ADDED a/one 2", "ADDED b/other 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := watchLines(t, base+tt.url, len(tt.want))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}

	// A live change reaches an open watch.
	now, _ := st.ResourceVersion()
	done := make(chan []string, 1)
	go func() {
		done <- watchLines(t, fmt.Sprintf("%s/api/v1/configmaps?watch=1&resourceVersion=%d", base, now), 1)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := st.Apply([]manifest.Object{configMap("a", "three", "9")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !cmp.Equal(got, []string{"ADDED a/three 9"}) {
		t.Errorf("live event = %q", got)
	}
}

func TestWatchTooOldIsGone(t *testing.T) {
	st, base := newWatchServer(t, 2)
	if _, err := st.Apply([]manifest.Object{configMap("a", "first", "1")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	from, _ := st.ResourceVersion()
	for i := range 4 {
		if _, err := st.Apply([]manifest.Object{configMap("a", fmt.Sprint("cm", i), "1")}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/configmaps?watch=1&resourceVersion=%d", base, from))
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode == http.StatusGone {
			if st.Reason != metav1.StatusReasonExpired {
				t.Errorf("410 reason = %q, want Expired", st.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch from %d with a history of 2 after 4 changes: %s, want 410 Gone", from, resp.Status)
		}
		time.Sleep(20 * time.Millisecond) // the cache may not have seen the changes yet
	}
}

func TestWatchRedactsSecrets(t *testing.T) {
	st, base := newWatchServer(t, 0)
	from, _ := st.ResourceVersion()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}, Data: map[string][]byte{"k": []byte("hunter2")}}
	if _, err := st.Apply([]manifest.Object{sec}, nil, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/secrets?watch=1&resourceVersion=%d&timeoutSeconds=1", base, from))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ev struct {
		Object corev1.Secret `json:"object"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if string(ev.Object.Data["k"]) != "" || ev.Object.Annotations[api.AnnotationRedacted] != "true" {
		t.Errorf("secret in a read-only watch = %v %v, want redacted", ev.Object.Data, ev.Object.Annotations)
	}
}

// TestWatchAsTable is kubectl get -w: each event carries a one-row Table.
func TestWatchAsTable(t *testing.T) {
	nameTable := func(kind string, objs []manifest.Object, now time.Time) (*metav1.Table, error) {
		tab := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}}}
		for _, o := range objs {
			tab.Rows = append(tab.Rows, metav1.TableRow{Cells: []any{o.GetName()}, Object: runtime.RawExtension{Object: o}})
		}
		return tab, nil
	}
	st, base := newWatchServer(t, 0, func(c *api.Config) { c.Table = nameTable })
	from, _ := st.ResourceVersion()
	if _, err := st.Apply([]manifest.Object{configMap("a", "one", "1")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/configmaps?watch=1&resourceVersion=%d&timeoutSeconds=1", base, from), nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ev struct {
		Type   string       `json:"type"`
		Object metav1.Table `json:"object"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ADDED" || ev.Object.Kind != "Table" || len(ev.Object.Rows) != 1 || ev.Object.Rows[0].Cells[0] != "one" {
		t.Errorf("event = %s %+v, want ADDED with a Table row for one", ev.Type, ev.Object)
	}
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(ev.Object.Rows[0].Object.Raw, &m); err != nil || m.Name != "one" || m.ResourceVersion == "" {
		t.Errorf("row object = %+v (%v), want the object's metadata", m, err)
	}
}

// TestWatchSelectorTransitions: an object that stops matching a watch's
// selectors is sent as DELETED and one that starts matching as ADDED, as
// the Kubernetes API server does; objects that never match are not sent.
func TestWatchSelectorTransitions(t *testing.T) {
	st, base := newWatchServer(t, 0)
	labelled := func(name, v, app string) *corev1.ConfigMap {
		cm := configMap("a", name, v)
		if app != "" {
			cm.Labels = map[string]string{"app": app}
		}
		return cm
	}
	apply := func(objs ...manifest.Object) {
		t.Helper()
		if _, err := st.Apply(objs, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	apply(labelled("x", "1", "web"), labelled("y", "1", "db"))
	from, _ := st.ResourceVersion()
	changes := func() {
		apply(labelled("x", "2", "db"))  // stops matching
		apply(labelled("y", "2", "db"))  // never matched
		apply(labelled("x", "3", "web")) // matches again
		apply(labelled("x", "4", "web")) // still matches
		apply(labelled("z", "1", ""))    // created, not matching
		if err := st.Delete(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "a", Name: "z"}, ""); err != nil {
			t.Error(err)
		}
		if err := st.Delete(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "a", Name: "x"}, ""); err != nil {
			t.Error(err)
		}
	}
	want := []string{"DELETED a/x 2", "ADDED a/x 3", "MODIFIED a/x 4", "DELETED a/x 4"}

	// Live: the watch lists first, then follows.
	done := make(chan []string, 1)
	go func() { done <- watchLines(t, base+"/api/v1/configmaps?watch=1&labelSelector=app%3Dweb", 1+len(want)) }()
	time.Sleep(100 * time.Millisecond)
	changes()
	if diff := cmp.Diff(append([]string{"ADDED a/x 1"}, want...), <-done); diff != "" {
		t.Errorf("live watch (-want +got):\n%s", diff)
	}
	// Resumed from before the changes: the same transitions are replayed.
	// The server does not know what a resumed client holds, so a replayed
	// change of an object that does not match (y) is sent as DELETED too:
	// one DELETED too many, never one too few.
	got := watchLines(t, fmt.Sprintf("%s/api/v1/configmaps?watch=1&resourceVersion=%d&labelSelector=app%%3Dweb", base, from), len(want)+1)
	resumed := []string{want[0], "DELETED a/y 2", want[1], want[2], want[3]}
	if diff := cmp.Diff(resumed, got); diff != "" {
		t.Errorf("resumed watch (-want +got):\n%s", diff)
	}
}
