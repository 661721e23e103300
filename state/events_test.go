package state

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRecordEventAggregatesAndExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1"}}
	for i := 0; i < 3; i++ {
		now = now.Add(time.Second)
		if err := s.RecordEvent(manifest.NewEvent(pod, corev1.EventTypeWarning, "FailedScheduling", "0/1 nodes are available", "tug-scheduler", "", now)); err != nil {
			t.Fatal(err)
		}
	}
	other := manifest.NewEvent(pod, corev1.EventTypeNormal, "Scheduled", "assigned shop/web-1 to n1", "tug-scheduler", "", now)
	if err := s.RecordEvent(other); err != nil {
		t.Fatal(err)
	}
	evs, err := ListAs[corev1.Event](s, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2 (one aggregated)", len(evs))
	}
	for _, ev := range evs {
		want := int32(1)
		if ev.Reason == "FailedScheduling" {
			want = 3
			if ev.LastTimestamp.Sub(ev.FirstTimestamp.Time) != 2*time.Second {
				t.Errorf("first %v last %v, want 2s apart", ev.FirstTimestamp, ev.LastTimestamp)
			}
		}
		if ev.Count != want || ev.InvolvedObject.Name != "web-1" || ev.InvolvedObject.Kind != "Pod" {
			t.Errorf("event %s: count %d (want %d), involved %+v", ev.Name, ev.Count, want, ev.InvolvedObject)
		}
	}
	// Two hours later a new event prunes the expired ones.
	now = now.Add(2 * time.Hour)
	fresh := manifest.NewEvent(pod, corev1.EventTypeNormal, "Pulled", "image present", "tug-agent", "n1", now)
	if err := s.RecordEvent(fresh); err != nil {
		t.Fatal(err)
	}
	evs, _ = ListAs[corev1.Event](s, "")
	if len(evs) != 1 || evs[0].Reason != "Pulled" {
		t.Errorf("after TTL: %d events %+v, want only Pulled", len(evs), evs)
	}
}
