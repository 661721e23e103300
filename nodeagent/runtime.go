package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errRuntime marks a failure to reach containerd: the pass that hits it
// plans nothing (so deletes nothing) and the node reports Ready=False.
var errRuntime = errors.New("container runtime is down")

// runtimeErr wraps err, a failed containerd call, as errRuntime.
func runtimeErr(err error) error {
	return fmt.Errorf("%w: %w", errRuntime, err)
}

// Back-off of the passes while containerd does not answer, and of the
// re-subscription to its events.
const (
	runtimeRetryInitial = 500 * time.Millisecond
	runtimeRetryMax     = 10 * time.Second
)

// runtimeState follows whether containerd answers; used by Run's loop
// goroutine only.
type runtimeState struct {
	down  bool
	delay time.Duration
	since time.Time
}

// observed records the outcome of a pass and returns how soon the next
// pass should retry (0: no need). On a change it logs and re-registers the
// node at once, so that Ready turns False (ContainerRuntimeNotReady) or
// True again without waiting for the heartbeat.
func (a *Agent) observed(ctx context.Context, rs *runtimeState, err error) time.Duration {
	if errors.Is(err, errRuntime) && ctx.Err() == nil {
		if !rs.down {
			rs.down, rs.delay, rs.since = true, runtimeRetryInitial, a.clock()
			a.log.Warn("container runtime is down; nothing is stopped or removed while it is; retrying with back-off", "err", err)
			if err := a.registerNode(ctx); err != nil {
				a.log.Warn("node status update failed", "err", err)
			}
		} else {
			rs.delay = min(2*rs.delay, runtimeRetryMax)
		}
		return rs.delay
	}
	if rs.down && ctx.Err() == nil { // containerd answered this pass
		a.log.Info("container runtime is back; adopting what runs", "down", a.clock().Sub(rs.since).Round(time.Millisecond).String())
		*rs = runtimeState{}
		if err := a.registerNode(ctx); err != nil {
			a.log.Warn("node status update failed", "err", err)
		}
	}
	return 0
}
