package backoff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestWait(t *testing.T) {
	p := Default
	tests := []struct {
		name     string
		st       State
		finished time.Time
		now      time.Time
		want     time.Duration
	}{
		{"first exit restarts at once", State{}, at(0), at(0), 0},
		{"second exit waits initial", State{Delay: 10 * time.Second, Last: at(0)}, at(2 * time.Second), at(3 * time.Second), 9 * time.Second},
		{"wait is over", State{Delay: 10 * time.Second, Last: at(0)}, at(2 * time.Second), at(12 * time.Second), 0},
		{"long delay", State{Delay: 80 * time.Second, Last: at(0)}, at(time.Second), at(time.Second), 80 * time.Second},
		{"ran longer than reset", State{Delay: 5 * time.Minute, Last: at(0)}, at(10*time.Minute + time.Second), at(10*time.Minute + time.Second), 0},
		{"ran exactly reset still backs off", State{Delay: 5 * time.Minute, Last: at(0)}, at(10 * time.Minute), at(10 * time.Minute), 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Wait(tt.st, tt.finished, tt.now); got != tt.want {
				t.Errorf("Wait = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCrashLoop replays a container that exits one second after each start
// and checks the kubelet's delays: 0, 10s, 20s, 40s, ... capped at 5 min.
func TestCrashLoop(t *testing.T) {
	p := Default
	var st State
	now := t0
	var waits []time.Duration
	for range 8 {
		finished := now.Add(time.Second) // ran for one second
		wait := p.Wait(st, finished, finished)
		waits = append(waits, wait)
		now = finished.Add(wait)
		if p.Wait(st, finished, now) != 0 {
			t.Fatalf("still waiting at %v", now)
		}
		st = p.Next(st, finished, now)
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	// A run longer than Reset starts over.
	finished := now.Add(11 * time.Minute)
	if got := p.Wait(st, finished, finished); got != 0 {
		t.Errorf("after a long run Wait = %v, want 0", got)
	}
	if got := p.Next(st, finished, finished); got != (State{Delay: 10 * time.Second, Last: finished}) {
		t.Errorf("after a long run Next = %+v", got)
	}
}
