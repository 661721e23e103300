package reconciler

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	corev1 "k8s.io/api/core/v1"
)

// TestApplyAndReject drives Apply and Reject against the real store: a
// revision commits with its record, the same revision again records
// nothing, a rejection changes nothing but the history, and a later
// revision prunes what it no longer holds.
func TestApplyAndReject(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := New(Config{Store: st, Clock: func() time.Time { return t0 }})
	ctx := context.Background()
	d := deployment("web", 1, "img:1")
	d.UID = ""
	rev1 := &manifest.Revision{SHA: "aaa", Objects: []manifest.Object{configMap("one"), d}}

	if err := r.Apply(ctx, rev1, manifest.SyncRecord{SHA: "aaa"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, rev1, manifest.SyncRecord{SHA: "aaa"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Reject(ctx, manifest.SyncRecord{SHA: "bbb", Errors: []string{"x.yaml:3: bad"}}); err != nil {
		t.Fatal(err)
	}
	recs, _ := st.Syncs(0)
	if len(recs) != 2 || recs[0].Outcome != manifest.OutcomeRejected || recs[1].Outcome != manifest.OutcomeApplied || recs[1].Added != 2 {
		t.Fatalf("history %+v; want Applied aaa (2 added), then Rejected bbb", recs)
	}
	if objs, _ := st.List(manifest.KindDeployment, ""); len(objs) != 1 {
		t.Fatalf("the rejection changed the deployments: %d", len(objs))
	}

	rev2 := &manifest.Revision{SHA: "ccc", Objects: []manifest.Object{configMap("two")}}
	if err := r.Apply(ctx, rev2, manifest.SyncRecord{SHA: "ccc"}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := st.List(manifest.KindDeployment, ""); len(objs) != 0 {
		t.Errorf("deployment not pruned: %d left", len(objs))
	}
	cms, _ := st.List(manifest.KindConfigMap, "default")
	if len(cms) != 1 || cms[0].(*corev1.ConfigMap).Data["message"] != "two" {
		t.Errorf("configmap after rev2: %+v", cms)
	}
	last, _, _ := st.LastApplied()
	if last.SHA != "ccc" || last.Changed != 1 || last.Removed != 1 {
		t.Errorf("last applied %+v; want ccc with 1 changed, 1 removed", last)
	}
}

// TestApplyServiceAllocations drives cluster IP allocation through the real
// store: the address survives a new Reconciler (a restart) and later
// commits, and a commit asking for a held address is recorded as rejected.
func TestApplyServiceAllocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := New(Config{Store: st, Clock: func() time.Time { return t0 }})
	if err := r.Apply(ctx, &manifest.Revision{SHA: "a1", Objects: []manifest.Object{service("web", "")}}, manifest.SyncRecord{SHA: "a1"}); err != nil {
		t.Fatal(err)
	}
	ip := func() string {
		objs, err := st.List(manifest.KindService, "default")
		if err != nil || len(objs) != 1 {
			t.Fatalf("services %v, %v", objs, err)
		}
		return objs[0].(*corev1.Service).Spec.ClusterIP
	}
	first := ip()
	if first == "" {
		t.Fatal("no cluster IP allocated")
	}
	st.Close()
	if st, err = state.Open(path, state.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r = New(Config{Store: st, Clock: func() time.Time { return t0 }})
	web2 := service("web", "")
	web2.Labels = map[string]string{"tier": "front"}
	if err := r.Apply(ctx, &manifest.Revision{SHA: "a2", Objects: []manifest.Object{web2}}, manifest.SyncRecord{SHA: "a2"}); err != nil {
		t.Fatal(err)
	}
	if got := ip(); got != first {
		t.Fatalf("cluster IP moved from %s to %s after a restart and a commit", first, got)
	}
	if err := r.Apply(ctx, &manifest.Revision{SHA: "a3", Objects: []manifest.Object{web2, service("api", first)}}, manifest.SyncRecord{SHA: "a3"}); !errors.Is(err, manifest.ErrRevisionRejected) {
		t.Fatalf("apply of a conflicting address: %v, want ErrRevisionRejected", err)
	}
	recs, _ := st.Syncs(0)
	if len(recs) != 3 || recs[0].Outcome != manifest.OutcomeRejected || len(recs[0].Errors) != 1 {
		t.Fatalf("history %+v; want a3 rejected", recs)
	}
	if objs, _ := st.List(manifest.KindService, "default"); len(objs) != 1 {
		t.Errorf("rejected commit changed the services: %d", len(objs))
	}
}
