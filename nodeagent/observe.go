package nodeagent

import (
	"context"
	"fmt"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// observation is what the agent finds on the node in one pass.
type observation struct {
	containers []Container
	sandboxes  map[types.UID]string // pod UID → pod IP
	leftovers  []types.UID          // UIDs with a netns, CNI state, pod dir or idle pod cgroup
}

// observe lists tug's containers and their tasks (two containerd calls) and
// the pods' network and directory state.
func (a *Agent) observe(ctx context.Context, pods []*corev1.Pod) (observation, error) {
	var obs observation
	// Only this node's containers: agents of several nodes may share one
	// containerd namespace (tests do).
	recs, err := a.cfg.Client.ContainerService().List(ctx,
		fmt.Sprintf("labels.%q,labels.%q==%q", LabelPodUID, LabelNode, a.cfg.NodeName))
	if err != nil {
		return obs, runtimeErr(fmt.Errorf("list containers: %w", err))
	}
	resp, err := a.cfg.Client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return obs, runtimeErr(fmt.Errorf("list tasks: %w", err))
	}
	tasks := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, t := range resp.Tasks {
		tasks[t.ID] = t // one entry per task, its init process; ID is the container's
	}
	for _, r := range recs {
		c, ok := containerFromLabels(r.ID, r.Labels)
		if !ok {
			continue
		}
		if t := tasks[r.ID]; t != nil {
			c.Task = taskState(t.Status)
			c.Pid = t.Pid
			if c.Task == TaskStopped {
				c.ExitCode = int32(t.ExitStatus)
				if t.ExitedAt != nil {
					c.ExitedAt = t.ExitedAt.AsTime()
				}
			}
		}
		obs.containers = append(obs.containers, c)
	}

	leftovers, err := a.net.Pods()
	if err != nil {
		return obs, fmt.Errorf("list pod networks: %w", err)
	}
	dirs, err := a.podDirUIDs()
	if err != nil {
		return obs, fmt.Errorf("list pod directories: %w", err)
	}
	obs.leftovers = append(leftovers, dirs...)
	obs.leftovers = append(obs.leftovers, hostCgroups().idlePods(a.clock(), idlePodCgroupAge)...)

	obs.sandboxes = map[types.UID]string{}
	for _, p := range pods {
		if ip, ok := a.sandboxIP(p); ok {
			obs.sandboxes[p.UID] = ip
		}
	}
	return obs, nil
}

func taskState(s tasktypes.Status) TaskState {
	switch s {
	case tasktypes.Status_CREATED:
		return TaskCreated
	case tasktypes.Status_RUNNING:
		return TaskRunning
	case tasktypes.Status_STOPPED:
		return TaskStopped
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return TaskPaused
	}
	return TaskUnknown
}
