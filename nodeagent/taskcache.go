package nodeagent

import (
	"context"
	"maps"
	"sync"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
)

// taskCache is the agent's view of the containerd tasks between full
// lists. containerd's task List asks every shim for its task's state and
// waits behind whatever runc operation that shim is in: with 100
// containers starting at once one List takes seconds, and a pass waiting
// for it reports nothing meanwhile. So passes read this cache: the last
// full List (taken by a pass when the cache is not valid, and in the
// background every resync period), updated as the agent's own task
// operations return (created, started, deleted) and by task exit events.
// Updates made while a List is under way are replayed on its result, so
// a List never undoes a newer change; each update checks the task's pid,
// so a late one about an earlier run of a container changes nothing.
// Losing the event stream invalidates the cache: the next pass lists.
type taskCache struct {
	listMu sync.Mutex // one List at a time

	mu        sync.Mutex
	tasks     map[string]taskInfo // by container ID
	valid     bool
	epoch     int  // bumped by invalidate
	capturing bool // a List is under way: record updates in replay
	replay    []func(map[string]taskInfo)
}

// taskInfo is what a pass needs of a task: its init process.
type taskInfo struct {
	state    TaskState
	pid      uint32
	exitCode uint32
	exitedAt time.Time
}

func taskInfoOf(p *tasktypes.Process) taskInfo {
	t := taskInfo{state: taskState(p.Status), pid: p.Pid}
	if t.state == TaskStopped {
		t.exitCode = p.ExitStatus
		if p.ExitedAt != nil {
			t.exitedAt = p.ExitedAt.AsTime()
		}
	}
	return t
}

// view returns a copy of the cached tasks, false if the cache is not
// valid.
func (c *taskCache) view() (map[string]taskInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid {
		return nil, false
	}
	return maps.Clone(c.tasks), true
}

// ensure returns the cached tasks, listing first if the cache is not
// valid.
func (c *taskCache) ensure(ctx context.Context, list func(context.Context) ([]*tasktypes.Process, error)) (map[string]taskInfo, error) {
	if m, ok := c.view(); ok {
		return m, nil
	}
	if err := c.refresh(ctx, list); err != nil {
		return nil, err
	}
	if m, ok := c.view(); ok {
		return m, nil
	}
	// Invalidated while listing: list again, now that the events are back.
	if err := c.refresh(ctx, list); err != nil {
		return nil, err
	}
	m, _ := c.view()
	return m, nil
}

// refresh replaces the cache with a full List, replaying on it the
// updates made while the List ran. The cache is valid afterwards unless
// it was invalidated meanwhile.
func (c *taskCache) refresh(ctx context.Context, list func(context.Context) ([]*tasktypes.Process, error)) error {
	c.listMu.Lock()
	defer c.listMu.Unlock()
	return c.listLocked(ctx, list)
}

// tryRefresh is refresh unless a List runs already (then it reports
// false and does nothing).
func (c *taskCache) tryRefresh(ctx context.Context, list func(context.Context) ([]*tasktypes.Process, error)) (bool, error) {
	if !c.listMu.TryLock() {
		return false, nil
	}
	defer c.listMu.Unlock()
	return true, c.listLocked(ctx, list)
}

// listLocked is refresh with listMu held.
func (c *taskCache) listLocked(ctx context.Context, list func(context.Context) ([]*tasktypes.Process, error)) error {
	c.mu.Lock()
	c.capturing, c.replay = true, nil
	epoch := c.epoch
	c.mu.Unlock()

	procs, err := list(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	replay := c.replay
	c.capturing, c.replay = false, nil
	if err != nil {
		c.valid = false
		return err
	}
	m := make(map[string]taskInfo, len(procs))
	for _, p := range procs {
		m[p.ID] = taskInfoOf(p) // ID: the container's (one entry per task)
	}
	for _, f := range replay {
		f(m)
	}
	c.tasks = m
	c.valid = c.epoch == epoch
	return nil
}

// invalidate makes the next pass list: the event stream was lost.
func (c *taskCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid = false
	c.epoch++
}

func (c *taskCache) update(f func(map[string]taskInfo)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tasks == nil {
		c.tasks = map[string]taskInfo{}
	}
	f(c.tasks)
	if c.capturing {
		c.replay = append(c.replay, f)
	}
}

// created records a task the agent created.
func (c *taskCache) created(id string, pid uint32) {
	c.update(func(m map[string]taskInfo) {
		if cur, ok := m[id]; ok && cur.pid == pid {
			return // known already, maybe further along
		}
		m[id] = taskInfo{state: TaskCreated, pid: pid}
	})
}

// started records a task the agent started.
func (c *taskCache) started(id string, pid uint32) {
	c.update(func(m map[string]taskInfo) {
		if cur, ok := m[id]; ok && cur.pid == pid && cur.state == TaskStopped {
			return // exited already
		}
		m[id] = taskInfo{state: TaskRunning, pid: pid}
	})
}

// exited records a task exit event: only for the run it is about.
func (c *taskCache) exited(id string, pid, code uint32, at time.Time) {
	c.update(func(m map[string]taskInfo) {
		if cur, ok := m[id]; ok && cur.pid == pid {
			m[id] = taskInfo{state: TaskStopped, pid: pid, exitCode: code, exitedAt: at}
		}
	})
}

// deleted records a task the agent deleted (pid 0: whichever run).
func (c *taskCache) deleted(id string, pid uint32) {
	c.update(func(m map[string]taskInfo) {
		if cur, ok := m[id]; ok && (pid == 0 || cur.pid == pid) {
			delete(m, id)
		}
	})
}
