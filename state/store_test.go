package state

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	bolt "go.etcd.io/bbolt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func cm(name, msg string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string]string{"m": msg}}
}

func TestPutGetListDelete(t *testing.T) {
	s, _ := openTest(t)
	a := cm("a", "1")
	if _, err := s.Apply([]manifest.Object{a, cm("b", "2")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if a.UID == "" || a.ResourceVersion != "1" || !a.CreationTimestamp.Time.Equal(t0) {
		t.Errorf("put did not stamp the object: uid %q rv %q created %v", a.UID, a.ResourceVersion, a.CreationTimestamp)
	}
	got, err := s.Get(manifest.Key{Kind: manifest.KindConfigMap, Namespace: "default", Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Data, got.(*corev1.ConfigMap).Data); diff != "" {
		t.Error(diff)
	}
	objs, err := s.List(manifest.KindConfigMap, "default")
	if err != nil || len(objs) != 2 {
		t.Fatalf("list: %d objects, err %v", len(objs), err)
	}
	if objs, _ := s.List(manifest.KindConfigMap, "other"); len(objs) != 0 {
		t.Errorf("namespace filter leaked %d objects", len(objs))
	}
	if err := s.Delete(manifest.KeyOf(a), "some-other-uid"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(manifest.KeyOf(a)); err != nil {
		t.Errorf("delete with a foreign UID removed the object: %v", err)
	}
	if err := s.Delete(manifest.KeyOf(a), a.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(manifest.KeyOf(a)); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
}

func TestOptimisticConcurrency(t *testing.T) {
	s, _ := openTest(t)
	a := cm("a", "1")
	if _, err := s.Apply([]manifest.Object{a}, nil, nil); err != nil {
		t.Fatal(err)
	}
	stale := a.DeepCopy()
	a.Data["m"] = "2"
	if _, err := s.Apply([]manifest.Object{a}, nil, nil); err != nil {
		t.Fatal(err)
	}
	stale.Data["m"] = "3"
	other := cm("b", "x")
	_, err := s.Apply([]manifest.Object{other, stale}, nil, nil)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	if _, err := s.Get(manifest.KeyOf(other)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed batch wrote part of itself: %v", err)
	}
}

func TestWatchAndNotify(t *testing.T) {
	s, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := s.Watch(ctx, manifest.KindConfigMap)
	n := s.Notify(ctx, manifest.KindPod)
	a := cm("a", "1")
	s.Apply([]manifest.Object{a}, nil, nil)
	s.Delete(manifest.KeyOf(a), "")
	var got []EventType
	for len(got) < 2 {
		select {
		case ev := <-w:
			got = append(got, ev.Type)
		case <-time.After(2 * time.Second):
			t.Fatalf("watch got %v, want ADDED, DELETED", got)
		}
	}
	if diff := cmp.Diff([]EventType{Added, Deleted}, got); diff != "" {
		t.Error(diff)
	}
	select {
	case <-n:
		t.Error("pod notifier woke for a ConfigMap change")
	case <-time.After(50 * time.Millisecond):
	}
	s.Apply([]manifest.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}}, nil, nil)
	select {
	case <-n:
	case <-time.After(2 * time.Second):
		t.Error("pod notifier did not wake for a pod change")
	}
}

func TestSyncHistoryAndReopen(t *testing.T) {
	s, path := openTest(t)
	for i, outcome := range []string{manifest.OutcomeApplied, manifest.OutcomeRejected} {
		if _, err := s.RecordSync(manifest.SyncRecord{SHA: string(rune('a' + i)), Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
	}
	s.Apply([]manifest.Object{cm("a", "1")}, nil, nil)
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs, _ := s2.Syncs(0)
	if len(recs) != 2 || recs[0].SHA != "b" {
		t.Fatalf("syncs after reopen: %+v", recs)
	}
	last, ok, _ := s2.LastApplied()
	if !ok || last.SHA != "a" {
		t.Errorf("last applied %+v %v, want sha a", last, ok)
	}
	if rv, _ := s2.ResourceVersion(); rv != 1 {
		t.Errorf("resource version after reopen %d, want 1", rv)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An empty file (version 0) migrates to the current version.
	db.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != SchemaVersion {
			t.Errorf("schema version %d, want %d", v, SchemaVersion)
		}
		return nil
	})
	// A file from a newer build is refused, not damaged.
	s.db.Update(func(tx *bolt.Tx) error {
		return putUint(tx.Bucket(bucketRoot).Bucket(bucketMeta), keySchema, SchemaVersion+1)
	})
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Error("opening a newer schema succeeded")
	}
}

// TestMutateAll: several read-modify-writes commit in one transaction
// (one resource version step per written object, none for unchanged or
// missing ones), and an error from fn writes nothing.
func TestMutateAll(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.Apply([]manifest.Object{cm("a", "1"), cm("b", "1")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	key := func(name string) manifest.Key {
		return manifest.Key{Kind: manifest.KindConfigMap, Namespace: "default", Name: name}
	}
	keys := []manifest.Key{key("a"), key("missing"), key("b")}
	var seen []string
	err := s.MutateAll(keys, func(i int, cur manifest.Object) (manifest.Object, error) {
		if cur == nil {
			seen = append(seen, keys[i].Name+":nil")
			return nil, nil
		}
		seen = append(seen, keys[i].Name)
		if keys[i].Name == "b" {
			return nil, nil // unchanged
		}
		next := cur.(*corev1.ConfigMap).DeepCopy()
		next.Data["m"] = "2"
		return next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "missing:nil", "b"}, seen); diff != "" {
		t.Errorf("fn calls (-want +got):\n%s", diff)
	}
	a, _ := s.Get(key("a"))
	if got := a.(*corev1.ConfigMap); got.Data["m"] != "2" || got.ResourceVersion != "3" {
		t.Errorf("a after MutateAll: m=%q rv=%s, want m=2 rv=3", got.Data["m"], got.ResourceVersion)
	}

	boom := errors.New("boom")
	err = s.MutateAll([]manifest.Key{key("a"), key("b")}, func(i int, cur manifest.Object) (manifest.Object, error) {
		if i == 1 {
			return nil, boom
		}
		next := cur.(*corev1.ConfigMap).DeepCopy()
		next.Data["m"] = "3"
		return next, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("MutateAll error = %v, want %v", err, boom)
	}
	if a, _ := s.Get(key("a")); a.(*corev1.ConfigMap).Data["m"] != "2" {
		t.Errorf("a written although the transaction failed: m=%q", a.(*corev1.ConfigMap).Data["m"])
	}
}
