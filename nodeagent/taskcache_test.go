package nodeagent

import (
	"context"
	"errors"
	"testing"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestTaskCacheUpdates(t *testing.T) {
	exitAt := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	type op func(c *taskCache)
	for _, tc := range []struct {
		name string
		ops  []op
		want map[string]taskInfo
	}{
		{"created then started", []op{
			func(c *taskCache) { c.created("a", 10) },
			func(c *taskCache) { c.started("a", 10) },
		}, map[string]taskInfo{"a": {state: TaskRunning, pid: 10}}},
		{"exit before the start returned stays an exit", []op{
			func(c *taskCache) { c.created("a", 10) },
			func(c *taskCache) { c.exited("a", 10, 1, exitAt) },
			func(c *taskCache) { c.started("a", 10) },
		}, map[string]taskInfo{"a": {state: TaskStopped, pid: 10, exitCode: 1, exitedAt: exitAt}}},
		{"a late exit of an earlier run changes nothing", []op{
			func(c *taskCache) { c.started("a", 10) },
			func(c *taskCache) { c.deleted("a", 10) },
			func(c *taskCache) { c.created("a", 11) },
			func(c *taskCache) { c.started("a", 11) },
			func(c *taskCache) { c.exited("a", 10, 137, exitAt) },
			func(c *taskCache) { c.deleted("a", 10) },
		}, map[string]taskInfo{"a": {state: TaskRunning, pid: 11}}},
		{"an exit of an unknown task is not invented", []op{
			func(c *taskCache) { c.exited("b", 12, 0, exitAt) },
		}, map[string]taskInfo{}},
		{"created again for the same run does not go back", []op{
			func(c *taskCache) { c.started("a", 10) },
			func(c *taskCache) { c.created("a", 10) },
		}, map[string]taskInfo{"a": {state: TaskRunning, pid: 10}}},
		{"deleted whichever run", []op{
			func(c *taskCache) { c.started("a", 10) },
			func(c *taskCache) { c.deleted("a", 0) },
		}, map[string]taskInfo{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &taskCache{}
			for _, o := range tc.ops {
				o(c)
			}
			if diff := cmp.Diff(tc.want, c.tasks, cmp.AllowUnexported(taskInfo{})); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTaskCacheRefresh: a List replaces the cache, updates made while it
// ran are replayed on its result, and an invalidation during the List
// leaves the cache invalid.
func TestTaskCacheRefresh(t *testing.T) {
	exitAt := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	c := &taskCache{}
	if _, ok := c.view(); ok {
		t.Fatal("a new cache is valid before any List")
	}
	c.started("gone", 5) // not in the List: dropped
	list := func(during func()) func(context.Context) ([]*tasktypes.Process, error) {
		return func(context.Context) ([]*tasktypes.Process, error) {
			during()
			return []*tasktypes.Process{
				{ID: "a", Pid: 10, Status: tasktypes.Status_CREATED}, // started meanwhile
				{ID: "b", Pid: 11, Status: tasktypes.Status_RUNNING}, // exits meanwhile
				{ID: "c", Pid: 12, Status: tasktypes.Status_STOPPED, ExitStatus: 2, ExitedAt: timestamppb.New(exitAt)},
			}, nil
		}
	}
	got, err := c.ensure(ctx, list(func() {
		c.started("a", 10)
		c.exited("b", 11, 0, exitAt)
		c.created("d", 13) // created after the List passed it
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]taskInfo{
		"a": {state: TaskRunning, pid: 10},
		"b": {state: TaskStopped, pid: 11, exitedAt: exitAt},
		"c": {state: TaskStopped, pid: 12, exitCode: 2, exitedAt: exitAt},
		"d": {state: TaskCreated, pid: 13},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(taskInfo{})); diff != "" {
		t.Errorf("after the List (-want +got):\n%s", diff)
	}

	// The event stream is lost during a List: not valid afterwards.
	if err := c.refresh(ctx, list(c.invalidate)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.view(); ok {
		t.Error("cache valid after an invalidation during its List")
	}
	// A failed List leaves it invalid and reports the error.
	boom := errors.New("containerd down")
	if err := c.refresh(ctx, func(context.Context) ([]*tasktypes.Process, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("refresh error = %v, want %v", err, boom)
	}
	if _, ok := c.view(); ok {
		t.Error("cache valid after a failed List")
	}
}

// TestTaskCacheTryRefresh: a background refresh does nothing while another
// List runs, and lists otherwise.
func TestTaskCacheTryRefresh(t *testing.T) {
	c := &taskCache{}
	list := func(context.Context) ([]*tasktypes.Process, error) {
		return []*tasktypes.Process{{ID: "a", Pid: 1, Status: tasktypes.Status_RUNNING}}, nil
	}
	c.listMu.Lock() // a List under way
	if listed, err := c.tryRefresh(context.Background(), list); listed || err != nil {
		t.Errorf("tryRefresh during a List: listed %v, err %v; want neither", listed, err)
	}
	c.listMu.Unlock()
	if listed, err := c.tryRefresh(context.Background(), list); !listed || err != nil {
		t.Fatalf("tryRefresh: listed %v, err %v", listed, err)
	}
	if m, ok := c.view(); !ok || m["a"].state != TaskRunning {
		t.Errorf("after tryRefresh: %v valid %v", m, ok)
	}
}
