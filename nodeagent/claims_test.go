package nodeagent

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

func TestHoldPods(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	held := map[types.UID]error{
		"new":     errors.New(`volume "data": persistentvolumeclaim "data" is not bound yet`),
		"running": errors.New(`volume "data": persistentvolumeclaim "data" not found`),
	}
	busy := map[types.UID]bool{"other": true}
	failures := map[types.UID]Failure{}
	holdPods(held, []Container{{PodUID: "running", Name: "app"}}, busy, failures, now)
	if diff := cmp.Diff(map[types.UID]bool{"other": true, "new": true, "running": true}, busy); diff != "" {
		t.Errorf("busy (-want +got):\n%s", diff)
	}
	want := map[types.UID]Failure{"new": {Reason: "FailedMount", Message: `volume "data": persistentvolumeclaim "data" is not bound yet`, At: now, Attempts: 1}}
	if diff := cmp.Diff(want, failures); diff != "" {
		t.Errorf("failures (-want +got):\n%s (a pod that already runs keeps its status)", diff)
	}
}
