package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
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
// pass should retry (0: no need). On a change it logs, re-registers the
// node at once, so that Ready turns False (ContainerRuntimeNotReady) or
// True again without waiting for the heartbeat, and records a Node event
// (runtimeEvent), as the kubelet records NodeNotReady and NodeReady.
func (a *Agent) observed(ctx context.Context, rs *runtimeState, err error) time.Duration {
	if errors.Is(err, errRuntime) && ctx.Err() == nil {
		if !rs.down {
			rs.down, rs.delay, rs.since = true, runtimeRetryInitial, a.clock()
			a.log.Warn("container runtime is down; nothing is stopped or removed while it is; retrying with back-off", "err", err)
			if err := a.registerNode(ctx); err != nil {
				a.log.Warn("node status update failed", "err", err)
			}
			a.recordNodeEvent(true)
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
		a.recordNodeEvent(false)
	}
	return 0
}

// Reasons of the Node events recorded when the container runtime goes down
// and comes back.
const (
	reasonRuntimeUnhealthy = "ContainerRuntimeUnhealthy"
	reasonNodeReady        = "NodeReady"
)

// runtimeEvent is the event about node when the container runtime goes
// down (a Warning, ContainerRuntimeUnhealthy) or answers again (Normal,
// NodeReady, the kubelet's "Node <name> status is now: NodeReady"). The
// messages are fixed, so repeated outages aggregate into one event with a
// count; the cause is in the node's Ready condition and the agent's log.
func runtimeEvent(node *corev1.Node, down bool, now time.Time) *corev1.Event {
	if down {
		return manifest.NewEvent(node, corev1.EventTypeWarning, reasonRuntimeUnhealthy,
			fmt.Sprintf("Container runtime is down: node %s is NotReady; nothing is stopped or removed until it answers again", node.Name),
			eventComponent, node.Name, now)
	}
	return manifest.NewEvent(node, corev1.EventTypeNormal, reasonNodeReady,
		fmt.Sprintf("Node %s status is now: NodeReady", node.Name), eventComponent, node.Name, now)
}

// recordNodeEvent records runtimeEvent about this agent's Node (as stored,
// for its UID; by name alone if it cannot be read) and logs a failure to
// record it; it never fails the caller.
func (a *Agent) recordNodeEvent(down bool) {
	node := &corev1.Node{}
	node.Name = a.cfg.NodeName
	if obj, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindNode, Name: a.cfg.NodeName}); err == nil {
		if n, ok := obj.(*corev1.Node); ok {
			node = n
		}
	}
	ev := runtimeEvent(node, down, a.clock())
	if err := a.cfg.Store.RecordEvent(ev); err != nil {
		a.log.Warn("record event", "node", a.cfg.NodeName, "reason", ev.Reason, "err", err)
	}
}
